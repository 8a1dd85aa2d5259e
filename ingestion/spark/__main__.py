"""python -m ingestion.spark — run the Spark job, check a checkpoint, prepare the database (see job.py)."""

import sys

from ingestion.spark.job import main

if __name__ == "__main__":
    sys.exit(main())
