"""The Spark session of the job (and of the tests and benchmarks): Java, the Python workers, the settings."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

JAVA_HOME_CANDIDATES = ("/usr/lib/jvm/java-17-openjdk-amd64", "/usr/lib/jvm/java-17-openjdk-arm64")


def ensure_java() -> None:
    if os.environ.get("JAVA_HOME"):
        return
    for candidate in JAVA_HOME_CANDIDATES:
        if Path(candidate, "bin", "java").exists():
            os.environ["JAVA_HOME"] = candidate
            return


PROJECT_ROOT = str(Path(__file__).resolve().parents[2])


def ensure_python_workers() -> None:
    """The executors run the project's validator and writer in Spark's Python workers: they must be this
    interpreter (its pinned packages) and find this project. Both are read from the environment when the JVM starts,
    so this runs before the session is created; spark-submit and cluster settings (PYSPARK_PYTHON, --py-files)
    take precedence."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if PROJECT_ROOT not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([PROJECT_ROOT, *paths])


# PySpark 4.3 warns (FutureWarning) that it "does not yet fully support pandas >= 3.0.0" whenever a Python function
# over Arrow is declared: mapInArrow and the Python data sources go through pandas_udf's version check. The job uses
# none of PySpark's pandas features (no toPandas, no pandas UDF, no mapInPandas, no pyspark.pandas): the executors
# get pyarrow record batches, and the pandas they use is the project's own (pinned 3.1.1 for the dashboard, and the
# lite processor's, tested there and through every Spark test). So this one message is silenced, in the driver and
# in the Python workers; tests/unit/test_spark_pandas.py keeps "no PySpark pandas feature" true.
PANDAS_WARNING = "PySpark does not yet fully support pandas"


def quiet_pandas_warning() -> None:
    warnings.filterwarnings("ignore", message=PANDAS_WARNING, category=FutureWarning)
    entry = f"ignore:{PANDAS_WARNING}:FutureWarning"  # the workers' filter, read when they start
    entries = [e for e in os.environ.get("PYTHONWARNINGS", "").split(",") if e]
    if entry not in entries:
        os.environ["PYTHONWARNINGS"] = ",".join([*entries, entry])


def session(
    master: str | None = None, *, app_name: str = "madinina-spark", conf: dict[str, str] | None = None, ui: bool = True
):
    """A SparkSession with the job's settings. Under spark-submit the master comes from spark-submit."""
    ensure_java()
    ensure_python_workers()
    quiet_pandas_warning()
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    settings = {
        "spark.sql.session.timeZone": "UTC",
        # A stateless query runs a micro-batch only when there is new data; said explicitly.
        "spark.sql.streaming.noDataMicroBatches.enabled": "false",
        "spark.ui.enabled": "true" if ui else "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.streaming.stopTimeout": "60s",
        **(conf or {}),
    }
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(os.environ.get("SPARK_LOG_LEVEL", "WARN"))
    return spark


def local_session(cores: int = 2):
    """The session of the tests and the benchmark: local[cores], no UI. The files source splits a micro-batch's
    files into about `cores` partitions (spark.default.parallelism), one task each."""
    return session(
        f"local[{cores}]",
        app_name="madinina-spark-local",
        ui=False,
        conf={"spark.sql.shuffle.partitions": str(cores), "spark.default.parallelism": str(cores)},
    )
