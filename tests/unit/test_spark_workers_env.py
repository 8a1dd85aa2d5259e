"""The Spark job's Python workers run the project's validator: session.ensure_python_workers points them at this
interpreter and this project before the JVM starts, without overriding what the operator set."""

from __future__ import annotations

import os
import sys

from ingestion.spark.session import PROJECT_ROOT, ensure_python_workers


def test_sets_this_interpreter_and_prepends_the_project_once(monkeypatch):
    monkeypatch.delenv("PYSPARK_PYTHON", raising=False)
    monkeypatch.setenv("PYTHONPATH", "/opt/other")
    ensure_python_workers()
    ensure_python_workers()
    assert os.environ["PYSPARK_PYTHON"] == sys.executable
    assert os.environ["PYTHONPATH"] == os.pathsep.join([PROJECT_ROOT, "/opt/other"])
    assert os.path.isfile(os.path.join(PROJECT_ROOT, "ingestion", "validation.py"))


def test_keeps_the_operators_interpreter(monkeypatch):
    monkeypatch.setenv("PYSPARK_PYTHON", "/usr/bin/python3")
    monkeypatch.delenv("PYTHONPATH", raising=False)
    ensure_python_workers()
    assert os.environ["PYSPARK_PYTHON"] == "/usr/bin/python3" and os.environ["PYTHONPATH"] == PROJECT_ROOT
