"""PySpark 4.3 warns that it does not fully support pandas 3 (the pinned 3.1.1). The job silences that one message
(ingestion/spark/session.py) because it uses none of PySpark's pandas features; these tests keep both true."""

from __future__ import annotations

import ast
import os
import warnings
from pathlib import Path

from ingestion.spark import session

SPARK_CODE = sorted((Path(session.__file__).parent).glob("*.py")) + [
    Path(session.__file__).parents[2] / "bench" / "spark.py"
]
# PySpark's pandas features: conversions to/from pandas, pandas UDFs and the pandas-on-Spark API.
PANDAS_FEATURES = {"toPandas", "mapInPandas", "applyInPandas", "pandas_udf", "PandasUDFType", "pandas_api"}


def pandas_features(path: Path) -> list[str]:
    """The PySpark pandas features a module's code uses (names, attributes, imports; comments do not count)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else None
        if name in PANDAS_FEATURES:
            found.append(name)
        if isinstance(node, ast.ImportFrom | ast.Import):
            modules = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            names = [a.name for a in node.names] if isinstance(node, ast.ImportFrom) else []
            found += [m for m in modules if m.startswith("pyspark.pandas") or m == "pyspark.sql.pandas"]
            found += [n for n in names if n in PANDAS_FEATURES]
    return found


def test_the_job_uses_no_pyspark_pandas_feature(tmp_path):
    used = {path.name: pandas_features(path) for path in SPARK_CODE}
    assert len(used) >= 7 and not any(used.values()), used
    probe = tmp_path / "probe.py"  # the check finds a feature when there is one
    probe.write_text("from pyspark.sql.functions import pandas_udf\n\ndef f(df):\n    return df.toPandas()\n")
    assert sorted(pandas_features(probe)) == ["pandas_udf", "toPandas"]


def test_only_that_warning_is_silenced_in_the_driver_and_the_workers(monkeypatch):
    monkeypatch.setenv("PYTHONWARNINGS", "default::DeprecationWarning")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        session.quiet_pandas_warning()
        session.quiet_pandas_warning()
        warnings.warn(
            "PySpark does not yet fully support pandas >= 3.0.0. Some features ...", FutureWarning, stacklevel=1
        )
        warnings.warn("something else about pandas", FutureWarning, stacklevel=1)
        warnings.warn("PySpark does not yet fully support pandas", DeprecationWarning, stacklevel=1)
    assert [str(w.message) for w in seen] == [
        "something else about pandas",
        "PySpark does not yet fully support pandas",
    ]
    entries = os.environ["PYTHONWARNINGS"].split(",")
    assert entries == ["default::DeprecationWarning", "ignore:PySpark does not yet fully support pandas:FutureWarning"]
