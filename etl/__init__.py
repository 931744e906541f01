"""jdp-etl: carry Taobao/Tmall trades from Jushita's jdp_tb_trade push table into normalized OMS tables.

The library API, which the `etl` command is a thin layer over:
    load_config(path)          jobs.yaml -> validated, frozen job settings
    init_target(engine)        create or upgrade the target tables (sql/)
    run_job(job)               incremental run up to the newest push
    retranslate_job(job, since, until)
    job_status(job)            watermark, lag, last run, open rejects
"""

__version__ = "0.1.0"
