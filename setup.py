"""The packages only; every other piece of metadata is in setup.cfg.

setup.cfg cannot say this: `packages = find:` finds folders, and etl.sql is the folder sql/ (the one
owner of the DDL, at the top of the repository), mapped into the package; a hand-kept list of the
others drifts as modules are added.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["etl", "etl.*"]), "etl.sql"],
    package_dir={"etl.sql": "sql"},
)
