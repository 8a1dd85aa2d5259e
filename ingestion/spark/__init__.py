"""The scale-out processor: Spark Structured Streaming from Kafka (or JSON-lines files) to PostgreSQL.

Modules: `schema` (what every source hands on), `validate` (the validation stage: ingestion.validation.Validator
on Arrow batches, run by mapInArrow), `transforms` (pure DataFrame -> DataFrame functions: validated rows,
windows, the sink's frame), `sources` (kafka, files, rate),
`sinks` (foreachBatch sinks reusing ingestion.writer.Writer), `job` (build, start and stop the query, checkpoint
checks), `__main__` (CLI: `python -m ingestion.spark --help`). See docs/spark.md.

Nothing here is imported by the lite path: pyspark is only needed when this package is used.
"""
