"""jdp-etl: carry Taobao/Tmall trades from Jushita's jdp_tb_trade push table into normalized OMS tables.

The library API, which the `etl` command is a thin layer over:
    etl.config.load_config(path)          jobs.yaml -> validated, frozen job settings
    etl.schema.init_target(engine)        create or upgrade the target tables (sql/)
    etl.pipeline.run_job(job)             incremental run up to the newest push
    etl.pipeline.retranslate_job(job, since, until)
    etl.pipeline.retry_rejects(job)       translate the open rejects' pushes again
    etl.status.job_status(job), etl.status.open_rejects(job, limit)
"""

__version__ = "0.1.0"
