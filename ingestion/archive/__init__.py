"""Archives of the database (DESIGN §8): an InfluxDB 2.x bucket (`influx.py`) and a Delta Lake medallion (`lake.py`),
both incremental from watermarks kept in the database (`source.py`, table archive_watermarks). The command line is
`python -m ingestion archive influx|delta ...` (`cli.py`)."""
