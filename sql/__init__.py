"""The DDL, shipped inside the package as etl.sql (see setup.cfg); not Python."""
