"""Pure DataFrame -> DataFrame transforms of the Spark job (no I/O, no state outside the plan).

    source rows (value, payload_bytes, received_at, source)
      -> parse_messages      from_json with the explicit contract schema (ingestion/spark/schema.py)
      -> classify_messages   shape (single / multi-metric / NGSI-LD), envelope checks, list of (metric, value, unit)
      -> normalise           one row per candidate reading, or one row per message rejected as a whole
      -> validate            metric, number, unit alias, valid range, status from thresholds
      -> readings_of         the valid rows, input of the windows
      -> windowed_aggregates 1-min tumbling under the event-time watermark (the sink derives 5-min, 1-h)
      -> output_frame        one stream for one foreachBatch sink, rows told apart by `kind`

The rules and their order are those of ingestion/validation.py (the lite path) so that both processors give the
same verdict with the same reason (REASONS) for the same message; tests/integration/test_spark_transforms.py
checks it message by message against the Python Validator. Catalogue data (metrics with thresholds, unit
aliases, known sensors) reaches the plan as small broadcast DataFrames built from ingestion.catalogue.

Known differences, all on inputs no producer of the project sends (docs/spark.md lists them): JSON text after
a complete object ({"a":1}{"b":2}) is accepted by Spark's parser; ISO-8601 week dates and whitespace before the
UTC offset are accepted by Python 3.11 only; non-ASCII digits in numeric strings are accepted by Python only.
"""

from __future__ import annotations

import functools

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from ingestion import catalogue as cat
from ingestion.spark.schema import CORRUPT_COLUMN, JSON_OPTIONS, message_schema
from ingestion.validation import MAX_FUTURE_S, MAX_PAYLOAD_BYTES, NGSI_PROPERTIES, Catalogue
from ingestion.writer import WINDOWS

DEFAULT_WATERMARK = "2 minutes"

# str.strip() strips every character for which str.isspace() is true; Spark's trim() only strips spaces.
_PY_SPACE = "".join(chr(c) for c in range(0x110000) if chr(c).isspace())
_WS = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in _PY_SPACE) + "]"
_STRIP_RE = f"^{_WS}+|{_WS}+$"

# Python float() syntax (ASCII digits): digit groups may use single underscores; inf/infinity/nan any case.
_DIGITS = r"[0-9](?:_?[0-9])*"
_PY_FLOAT_RE = rf"^[+-]?(?:(?:{_DIGITS}(?:\.(?:{_DIGITS})?)?|\.{_DIGITS})(?:[eE][+-]?{_DIGITS})?)$"
_PY_NONFINITE_RE = r"^[+-]?(?i:inf|infinity|nan)$"

# datetime.fromisoformat (Python 3.11) for the forms producers use: extended or basic date, any one-character
# separator, hh[:mm[:ss]] or hhmm[ss], fraction (first 6 digits kept), Z or +hh[:mm[:ss[.ffffff]]] offsets.
_TIME_RE = (
    r"^([0-9]{2})(?::([0-9]{2})(?::([0-9]{2}))?|([0-9]{2})([0-9]{2})?)?(?:[.,]([0-9]*))?"
    r"(Z|[+-][0-9]{2}(?::[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?|[0-9]{2}(?:[0-9]{2}(?:[.,][0-9]+)?)?)?)?$"
)
_CANONICAL_TIME_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:Z|\+00:00)$"
_TZ_RE = r"^([+-])([0-9]{2}):?([0-9]{2})?:?([0-9]{2})?(?:[.,]([0-9]+))?$"

_NUMERIC_TYPES = ("BIGINT", "INT", "SMALLINT", "TINYINT", "DOUBLE", "FLOAT")
_DEVICE_STATUS = {"ok": "ok", "warning": "warning", "critical": "critical", "fault": "fault", "error": "fault"}
_SEVERITY = {"ok": 0, "warning": 1, "critical": 2, "fault": 3}


# -- small column helpers ------------------------------------------------------------------------------------


def py_strip(col: Column) -> Column:
    """str.strip() (Unicode whitespace). The regular expression runs only on the rare text that starts or ends
    with whitespace: two one-character set lookups are much cheaper than a match per row."""
    edge = F.substring(col, 1, 1).isin(*_PY_SPACE) | F.substring(col, -1, 1).isin(*_PY_SPACE)
    return F.when(edge, F.regexp_replace(col, _STRIP_RE, "")).otherwise(col)


def vtype(v: Column) -> Column:
    """JSON type of a VARIANT: BIGINT, DECIMAL(p,s), DOUBLE, STRING, BOOLEAN, VOID (JSON null), OBJECT<…>, ARRAY<…>."""
    return F.schema_of_variant(v)


def is_number(t: Column) -> Column:
    return t.isin(*_NUMERIC_TYPES) | t.startswith("DECIMAL")


def vtext(v: Column) -> Column:
    """The text of a VARIANT: a string's content, a number's exact digits, JSON for objects."""
    return v.cast("string")


def py_str(v: Column, t: Column) -> Column:
    """str() of a JSON value as Python would print the identifiers that matter (True/False/None)."""
    return F.when(t == "BOOLEAN", F.initcap(vtext(v))).when(t == "VOID", F.lit("None")).otherwise(vtext(v))


def _sql_str(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _repr(col: Column, limit: int) -> Column:
    """Python's repr() of a short string, for details: 'text'."""
    return F.concat(F.lit("'"), F.substring(col, 1, limit), F.lit("'"))


def _fmt_g(col: Column) -> Column:
    """An approximation of Python's :g format, for details only."""
    return F.regexp_replace(F.format_string("%.6g", col), r"\.?0+(e|$)", "$1")


# -- catalogue as broadcast DataFrames -----------------------------------------------------------------------


def _conversion(fn) -> tuple[str, float | None]:
    """The arithmetic of a unit alias of ingestion.catalogue, as (kind, factor) the plan can evaluate."""
    if fn is cat._identity:
        return "identity", None
    if fn is cat._percent:
        return "scale", 100.0
    if fn is cat._f_to_c:
        return "f_to_c", None
    if fn is cat._k_to_c:
        return "k_to_c", None
    if getattr(fn, "__name__", "") == "convert" and fn.__closure__:
        (cell,) = fn.__closure__
        return "scale", float(cell.cell_contents)
    raise ValueError(f"unit conversion {fn!r} is not known to ingestion/spark/transforms.py; add it there")


def convert_value(kind: Column, factor: Column, v: Column) -> Column:
    """Evaluate a conversion with the same floating-point operations as the Python functions."""
    return (
        F.when(kind == "scale", v * factor)
        .when(kind == "f_to_c", (v - F.lit(32.0)) * F.lit(5.0) / F.lit(9.0))
        .when(kind == "k_to_c", v - F.lit(273.15))
        .otherwise(v)
    )


def unit_alias_rows() -> tuple[list[tuple], list[tuple]]:
    """(exact, folded) alias rows: (metric, unit key, kind, factor). Folded keys: Python's casefold() and, where
    it differs, lower() (what Spark's lower() gives), first alias wins as in catalogue._ALIASES_FOLDED."""
    exact = [(m, u, *_conversion(fn)) for (m, u), fn in cat.UNIT_ALIASES.items()]
    folded: dict[tuple[str, str], tuple] = {}
    for (m, u), fn in cat.UNIT_ALIASES.items():
        for key in (u.casefold(), u.lower()):
            folded.setdefault((m, key), (m, key, *_conversion(fn)))
    return exact, list(folded.values())


def catalogue_frames(spark: SparkSession, catalogue: Catalogue) -> dict[str, DataFrame]:
    """Small DataFrames of the catalogue, broadcast into the plan."""
    metrics = [
        (
            m.metric,
            float(m.valid_min),
            float(m.valid_max),
            m.warn_low,
            m.warn_high,
            m.crit_low,
            m.crit_high,
            cat.METRICS[m.metric].unit if m.metric in cat.METRICS else None,
        )
        for m in catalogue.metrics.values()
    ]
    metric_schema = (
        "c_metric string, valid_min double, valid_max double, warn_low double, warn_high double, "
        "crit_low double, crit_high double, c_unit string"
    )
    exact, folded = unit_alias_rows()
    alias_schema = "{p}_metric string, {p}_unit string, {p}_kind string, {p}_factor double"
    return {
        "metrics": F.broadcast(spark.createDataFrame(metrics, metric_schema)),
        "sensors": F.broadcast(
            spark.createDataFrame([(s, True) for s in sorted(catalogue.sensor_ids)], "k_sensor string, known boolean")
        ),
        "alias_exact": F.broadcast(spark.createDataFrame(exact, alias_schema.format(p="ae"))),
        "alias_folded": F.broadcast(spark.createDataFrame(folded, alias_schema.format(p="af"))),
    }


# -- 1. parse --------------------------------------------------------------------------------------------------


def parse_messages(source: DataFrame, catalogue: Catalogue) -> DataFrame:
    """Source rows -> one row per message with `m`, the message parsed with the explicit contract schema."""
    schema = message_schema(catalogue.metrics.keys())
    return source.select(
        F.col("value").alias("payload"),
        F.coalesce(F.col("payload_bytes"), F.octet_length("value")).alias("payload_bytes"),
        F.col("received_at"),
        F.col("source"),
        F.from_json(F.col("value"), schema, JSON_OPTIONS).alias("m"),
    )


# -- 2. classify -------------------------------------------------------------------------------------------


_DATE_RE = r"^([0-9]{4})(-?)([0-9]{2})\2([0-9]{2})"  # 2026-11-22 or 20261122, not a mix


def with_event_time(df: DataFrame, raw: str, out: str) -> DataFrame:
    """Add `out`: parse_time() of ingestion/validation.py applied to the VARIANT column `raw` (epoch seconds as
    a double), NULL where Python raises invalid_timestamp. Numbers are epoch seconds (milliseconds above 1e11);
    strings are ISO-8601 as datetime.fromisoformat reads them, naive = UTC.

    Built in stages of named columns so that Spark does not inline one huge expression many times over."""
    us = 1_000_000
    tmp = ["_tt", "_tx", "_ts", "_tn", "_y", "_mo", "_d", "_dlen", "_rest", "_tok", "_hh", "_mi", "_ss", "_fr", "_tz"]
    tmp += ["_zs", "_zh", "_zm", "_zx", "_zf", "_tzus", "_days", "_dim"]
    tmp.append("_tf")
    df = df.withColumns({"_tt": vtype(F.col(raw)), "_tx": vtext(F.col(raw))})
    # Fast path for the form every producer of the project sends (2026-10-26T07:33:20.000Z): one match and a
    # cast, where both readings agree. Anything else, or a cast that fails (30 February), takes the general path.
    df = df.withColumn(
        "_tf",
        F.when(
            (F.col("_tt") == "STRING") & F.col("_tx").rlike(_CANONICAL_TIME_RE),
            F.unix_micros(F.col("_tx").try_cast("timestamp")),
        ),
    )
    df = df.withColumns(
        {
            "_ts": F.when((F.col("_tt") == "STRING") & F.col("_tf").isNull(), py_strip(F.col("_tx"))),
            "_tn": F.when(is_number(F.col("_tt")), F.col("_tx").try_cast("double")),
        }
    )
    df = df.withColumns(
        {
            "_y": F.regexp_extract("_ts", _DATE_RE, 1).try_cast("long"),
            "_mo": F.regexp_extract("_ts", _DATE_RE, 3).try_cast("long"),
            "_d": F.regexp_extract("_ts", _DATE_RE, 4).try_cast("long"),
            "_dlen": F.when(F.col("_ts").rlike(_DATE_RE), 8 + 2 * F.length(F.regexp_extract("_ts", _DATE_RE, 2))),
        }
    )
    df = df.withColumn("_rest", F.when(F.length("_ts") > F.col("_dlen"), F.expr("substring(_ts, _dlen + 2)")))
    group = functools.partial(F.regexp_extract, "_rest", _TIME_RE)

    def number_or_zero(*cols: Column) -> Column:
        return F.coalesce(*(F.nullif(c, F.lit("")) for c in cols), F.lit("0")).cast("long")

    df = df.withColumns(
        {
            "_tok": F.col("_rest").rlike(_TIME_RE),
            "_hh": number_or_zero(group(1)),
            "_mi": number_or_zero(group(2), group(4)),
            "_ss": number_or_zero(group(3), group(5)),
            "_fr": F.rpad(F.substring(group(6), 1, 6), 6, "0").cast("long"),
            "_tz": group(7),
        }
    )
    tz_group = functools.partial(F.regexp_extract, "_tz", _TZ_RE)
    df = df.withColumns(
        {
            "_zs": F.when(tz_group(1) == "-", F.lit(-1)).otherwise(F.lit(1)),
            "_zh": number_or_zero(tz_group(2)),
            "_zm": number_or_zero(tz_group(3)),
            "_zx": number_or_zero(tz_group(4)),
            "_zf": F.rpad(F.substring(tz_group(5), 1, 6), 6, "0").cast("long"),
        }
    )
    y, mo, d = F.col("_y"), F.col("_mo"), F.col("_d")
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    # days_from_civil (H. Hinnant), integer arithmetic only: no date function that could raise under ANSI mode.
    y2 = y - F.when(mo <= 2, 1).otherwise(0)
    era = F.floor(y2 / 400)
    yoe = y2 - era * 400
    doy = F.floor((((mo + 9) % 12) * 153 + 2) / 5) + d - 1
    doe = yoe * 365 + F.floor(yoe / 4) - F.floor(yoe / 100) + doy
    df = df.withColumns(
        {
            "_tzus": F.when(F.col("_tz").isin("", "Z"), F.lit(0)).otherwise(
                F.col("_zs") * (F.col("_zh") * 3600 * us + F.col("_zm") * 60 * us + F.col("_zx") * us + F.col("_zf"))
            ),
            "_days": era * 146097 + doe - 719468,
            "_dim": F.when(mo == 2, F.when(leap, 29).otherwise(28)).when(mo.isin(4, 6, 9, 11), 30).otherwise(31),
        }
    )
    valid_date = F.col("_dlen").isNotNull() & (y >= 1) & (mo >= 1) & (mo <= 12) & (d >= 1) & (d <= F.col("_dim"))
    has_time = F.col("_rest").isNotNull()
    valid_time = ~has_time | (
        F.col("_tok")
        & (F.col("_hh") <= 23)
        & (F.col("_mi") <= 59)
        & (F.col("_ss") <= 59)
        & (F.abs(F.col("_tzus")) < F.lit(86_400 * us))
    )
    clock = F.when(
        has_time,
        F.col("_hh") * 3600 * us + F.col("_mi") * 60 * us + F.col("_ss") * us + F.col("_fr") - F.col("_tzus"),
    ).otherwise(F.lit(0))
    from_string = F.when(valid_date & valid_time, (F.col("_days") * 86_400 * us + clock).cast("double") / F.lit(1e6))
    num = F.col("_tn")
    finite = ~F.isnan(num) & (F.abs(num) != F.lit(float("inf")))
    from_number = F.when(finite, F.when(num > F.lit(1e11), num / F.lit(1000.0)).otherwise(num))
    epoch = (
        F.when(is_number(F.col("_tt")), from_number)
        .when(F.col("_tf").isNotNull(), F.col("_tf").cast("double") / F.lit(1e6))
        .when(F.col("_tt") == "STRING", from_string)
    )
    return df.withColumn(out, epoch).drop(*tmp)


def _time_detail(raw: Column) -> Column:
    t = vtype(raw)
    text = vtext(raw)
    return (
        F.when(t == "BOOLEAN", F.format_string("timestamp %s is not a time", F.initcap(text)))
        .when(is_number(t), F.format_string("timestamp %s is not finite", text))
        .when(t == "STRING", F.concat(F.lit("timestamp "), _repr(text, 64), F.lit(" is not ISO-8601")))
        .otherwise(F.lit("timestamp of this JSON type is not a time"))
    )


def classify_messages(parsed: DataFrame, catalogue: Catalogue, frames: dict[str, DataFrame]) -> DataFrame:
    """Envelope checks of every message, in the order of Validator.parse, and its items to validate.

    Adds: msg_reason/msg_detail (a rejection of the whole message, else NULL), sensor_id, event_time (epoch s),
    device_status, sent_at, items: array<struct<metric string, raw variant, unit variant, unit_text string>>."""
    m = F.col("m")

    def field(name: str) -> Column:
        return m.getField(name)

    # Stage 1: JSON types and texts of the envelope fields (computed once, used several times below).
    envelope = ("id", "dateObserved", "sensor_id", "device_id", "metric", "type", "status", "sent_at")
    corrupt = field(CORRUPT_COLUMN).isNotNull() | m.isNull()
    df = parsed.withColumns(
        {
            **{f"_t_{k}": vtype(field(k)) for k in envelope},
            "_corrupt": corrupt,
            # Jackson stops after the first complete value; Python refuses trailing text. Catch the common case.
            "_trailing": ~F.col("payload").rlike(r"\}[ \t\n\r]*$"),
            "_valid_json": F.when(
                corrupt,
                F.expr("try_parse_json(payload)").isNotNull() | (py_strip(F.col("payload")) == "null"),
            ),
        }
    )

    def typed(name: str) -> Column:
        return F.col(f"_t_{name}")

    # Stage 2: shape and envelope values.
    id_text = F.when(field("id").isNull(), F.lit("")).otherwise(py_str(field("id"), typed("id")))
    observed = field("dateObserved")

    def candidate(name: str) -> Column:
        v, t = field(name), typed(name)
        ok = v.isNotNull() & (t != "VOID") & ~((t == "STRING") & (vtext(v) == ""))
        return F.when(ok, py_strip(py_str(v, t)))

    status_text = F.lower(py_strip(py_str(field("status"), typed("status"))))
    statuses = F.create_map(*[F.lit(x) for kv in _DEVICE_STATUS.items() for x in kv])
    df = df.withColumns(
        {
            "_id_text": id_text,
            "_observed": F.when(
                typed("dateObserved").startswith("OBJECT"),
                F.coalesce(
                    F.try_variant_get(observed, "$.value", "variant"),
                    F.try_variant_get(observed, '$["@value"]', "variant"),
                ),
            ).otherwise(observed),
            "_plain_sensor": F.coalesce(candidate("sensor_id"), candidate("device_id")),
            "_metric_name": F.coalesce(*(F.when(typed(k) == "STRING", vtext(field(k))) for k in ("metric", "type"))),
            "_status": F.coalesce(statuses[status_text], F.lit("ok")),
            "_sent_at": F.when(is_number(typed("sent_at")), vtext(field("sent_at")).try_cast("double")).when(
                typed("sent_at") == "BOOLEAN", F.when(vtext(field("sent_at")) == "true", 1.0).otherwise(0.0)
            ),
        }
    )
    is_ngsi = field("@context").isNotNull() | (
        field("id").isNotNull() & field("type").isNotNull() & F.col("_id_text").startswith("urn:")
    )
    ngsi_sensor = F.when(F.col("_id_text") == "", F.lit("")).otherwise(F.substring_index("_id_text", ":", -1))
    ngsi_items = F.filter(
        F.array(
            *[
                F.struct(
                    F.lit(metric).alias("metric"),
                    F.try_variant_get(field(prop), "$.value", "variant").alias("raw"),
                    F.lit(None).cast("variant").alias("unit"),
                    F.lit(unit).cast("string").alias("unit_text"),
                )
                for prop, (metric, unit) in NGSI_PROPERTIES.items()
            ]
        ),
        lambda item: item["raw"].isNotNull(),
    )
    single_item = F.array(
        F.struct(
            F.col("_metric_name").alias("metric"),
            field("value").alias("raw"),
            field("unit").alias("unit"),
            F.lit(None).cast("string").alias("unit_text"),
        )
    )
    multi_items = F.filter(
        F.array(
            *[
                F.struct(
                    F.lit(name).alias("metric"),
                    field(name).alias("raw"),
                    F.lit(None).cast("variant").alias("unit"),
                    F.lit(None).cast("string").alias("unit_text"),
                )
                for name in catalogue.metrics
            ]
        ),
        lambda item: item["raw"].isNotNull(),
    )
    time_raw = F.coalesce(*(field(k) for k in ("timestamp", "time", "ts", "dateObserved")))
    df = df.withColumn("_ngsi", is_ngsi)
    ngsi = F.col("_ngsi")
    df = df.select(
        "payload",
        "payload_bytes",
        "received_at",
        "source",
        "_ngsi",
        "_corrupt",
        "_trailing",
        "_valid_json",
        F.when(ngsi, ngsi_sensor).otherwise(F.col("_plain_sensor")).alias("sensor_id"),
        F.when(ngsi, F.col("_observed")).otherwise(time_raw).alias("_time_raw"),
        F.when(ngsi, F.lit("ok")).otherwise(F.col("_status")).alias("device_status"),
        F.when(ngsi, F.lit(None).cast("double")).otherwise(F.col("_sent_at")).alias("sent_at"),
        F.when(ngsi, ngsi_items).when(field("value").isNotNull(), single_item).otherwise(multi_items).alias("items"),
        (~ngsi & field("value").isNotNull()).alias("_single"),
        F.col("_metric_name").alias("_single_metric"),
    )
    sensors = frames["sensors"]
    df = df.join(sensors, df["sensor_id"] == sensors["k_sensor"], "left").drop("k_sensor")

    df = with_event_time(df, "_time_raw", "event_time")
    epoch = F.col("event_time")
    received_s = F.unix_micros(F.col("received_at")).cast("double") / F.lit(1e6)
    time_missing = F.col("_time_raw").isNull() | F.is_variant_null(F.col("_time_raw"))
    no_sensor = F.col("sensor_id").isNull() | (F.col("_ngsi") & (F.col("sensor_id") == ""))
    reason_detail = [
        (F.col("payload_bytes") > MAX_PAYLOAD_BYTES, "payload_too_large",
         F.format_string(f"%d bytes > {MAX_PAYLOAD_BYTES}", F.col("payload_bytes"))),
        (F.col("_corrupt") & ~F.col("_valid_json"), "invalid_json", F.lit("not valid JSON")),
        (F.col("_corrupt"), "not_an_object", F.lit("top-level JSON is not an object")),
        (F.col("_trailing"), "invalid_json", F.lit("extra data after the JSON object")),
        (no_sensor & F.col("_ngsi"), "missing_field", F.lit("NGSI-LD entity without 'id'")),
        (no_sensor, "missing_field", F.lit("no 'sensor_id' or 'device_id'")),
        (F.col("known").isNull(), "unknown_sensor",
         F.concat(F.lit("sensor "), _repr(F.col("sensor_id"), 80), F.lit(" is not in the catalogue"))),
        (time_missing & F.col("_ngsi"), "missing_field", F.lit("NGSI-LD entity without 'dateObserved'")),
        (time_missing, "missing_field", F.lit("no 'timestamp', 'time' or 'ts'")),
        (epoch.isNull(), "invalid_timestamp", _time_detail(F.col("_time_raw"))),
        (epoch > received_s + F.lit(MAX_FUTURE_S), "future_timestamp",
         F.format_string("event time is %.0fs in the future", epoch - received_s)),
        (epoch < 0, "invalid_timestamp", F.lit("event time before 1970")),
        (F.col("_ngsi") & (F.size("items") == 0), "missing_field", F.lit("NGSI-LD entity without a known property")),
        (F.col("_single") & F.col("_single_metric").isNull(), "missing_field",
         F.lit("single reading without 'metric' or 'type'")),
        (F.size("items") == 0, "missing_field", F.lit("no 'value' and no known metric field in the record")),
    ]  # fmt: skip
    reason = F.lit(None).cast("string")
    for cond, why, _ in reversed(reason_detail):
        reason = F.when(cond, F.lit(why)).otherwise(reason)
    df = df.withColumn("msg_reason", reason)
    detail = F.lit(None).cast("string")
    for cond, why, text in reversed(reason_detail):
        detail = F.when((F.col("msg_reason") == why) & cond, text).otherwise(detail)
    return df.withColumn("msg_detail", detail)


# -- 3. normalise -------------------------------------------------------------------------------------------


def normalise(classified: DataFrame) -> DataFrame:
    """One row per candidate reading (long form), or one row for a message rejected as a whole."""
    carried = ["payload", "received_at", "source", "sensor_id", "event_time", "device_status", "sent_at"]
    carried += ["msg_reason", "msg_detail"]
    rows = classified.select(
        *carried, F.explode_outer(F.when(F.col("msg_reason").isNull(), F.col("items"))).alias("item")
    )
    return rows.select(
        *carried,
        F.col("item.metric").alias("metric"),
        F.col("item.raw").alias("raw"),
        F.col("item.unit").alias("unit_raw"),
        F.col("item.unit_text").alias("unit_fixed"),
    )


# -- 4. validate ------------------------------------------------------------------------------------------


def status_of(value: Column) -> Column:
    """catalogue.Metric.status_of with the threshold columns of the metrics frame (strict bounds)."""
    crit = (F.col("crit_low").isNotNull() & (value < F.col("crit_low"))) | (
        F.col("crit_high").isNotNull() & (value > F.col("crit_high"))
    )
    warn = (F.col("warn_low").isNotNull() & (value < F.col("warn_low"))) | (
        F.col("warn_high").isNotNull() & (value > F.col("warn_high"))
    )
    return F.when(crit, "critical").when(warn, "warning").otherwise("ok")


def _max_severity(a: Column, b: Column) -> Column:
    sev = F.create_map(*[F.lit(x) for kv in _SEVERITY.items() for x in kv])
    return F.when(sev[b] > sev[a], b).otherwise(a)


def validate(long_rows: DataFrame, frames: dict[str, DataFrame]) -> DataFrame:
    """Per-reading checks of Validator._reading: metric, number, unit, range; then the status.

    Output: the normalised columns + value (double), status, time (timestamp), reason, detail."""
    metrics, exact, folded = frames["metrics"], frames["alias_exact"], frames["alias_folded"]
    raw, unit_raw = F.col("raw"), F.col("unit_raw")
    df = long_rows.withColumns({"_vt": vtype(raw), "_vx": vtext(raw), "_ut": vtype(unit_raw)})
    t, text = F.col("_vt"), F.col("_vx")
    df = df.withColumns(
        {
            "_vs": F.when(t == "STRING", py_strip(text)),
            "unit_s": F.coalesce(
                F.col("unit_fixed"), F.when(F.col("_ut") != "VOID", py_strip(py_str(unit_raw, F.col("_ut"))))
            ),
        }
    )
    stripped = F.col("_vs")
    string_number = F.when(stripped.rlike(_PY_FLOAT_RE), F.regexp_replace(stripped, "_", "").try_cast("double")).when(
        stripped.rlike(_PY_NONFINITE_RE), F.lit(float("nan"))
    )
    df = df.withColumn("number", F.when(is_number(t), text.try_cast("double")).when(t == "STRING", string_number))
    df = df.join(metrics, df["metric"] == metrics["c_metric"], "left")
    df = df.join(exact, (df["metric"] == exact["ae_metric"]) & (df["unit_s"] == exact["ae_unit"]), "left")
    df = df.join(folded, (df["metric"] == folded["af_metric"]) & (F.lower(df["unit_s"]) == folded["af_unit"]), "left")
    unit = F.col("unit_s")
    same_unit = unit.isNull() | (unit == "") | (F.coalesce(unit == F.col("c_unit"), F.lit(False)))
    same_folded = F.coalesce(F.lower(unit) == F.lower(F.col("c_unit")), F.lit(False))
    df = df.withColumns(
        {
            "_kind": F.when(same_unit, F.lit("identity"))
            .when(F.col("ae_kind").isNotNull(), F.col("ae_kind"))
            .when(F.col("af_kind").isNotNull(), F.col("af_kind"))
            .when(same_folded, F.lit("identity")),
            "_factor": F.coalesce(F.col("ae_factor"), F.col("af_factor")),
        }
    )
    df = df.withColumn("_value", convert_value(F.col("_kind"), F.col("_factor"), F.col("number")))
    value = F.col("_value")
    number = F.col("number")
    finite = ~F.isnan(number) & (F.abs(number) != F.lit(float("inf")))
    metric_repr = _repr(F.col("metric"), 64)
    checks = [
        (F.col("msg_reason").isNotNull(), F.col("msg_reason"), F.col("msg_detail")),
        (F.col("c_metric").isNull(), F.lit("unknown_metric"),
         F.concat(F.lit("metric "), metric_repr, F.lit(" is not in the catalogue"))),
        (number.isNull(), F.lit("non_numeric_value"),
         F.concat(F.col("metric"), F.lit(": value "), F.when(t == "STRING", _repr(text, 64))
                  .otherwise(F.coalesce(py_str(raw, t), F.lit("None"))), F.lit(" is not a number"))),
        (~finite, F.lit("non_finite_value"), F.concat(F.col("metric"), F.lit(": value "), text,
                                                        F.lit(" is not finite"))),
        (F.col("_kind").isNull(), F.lit("unknown_unit"),
         F.concat(F.lit("unknown unit "), _repr(unit, 32), F.lit(" for "), F.col("metric"),
                  F.lit(" (expected "), F.coalesce(F.col("c_unit"), F.lit("?")), F.lit(")"))),
        (~((F.col("valid_min") <= value) & (value <= F.col("valid_max"))), F.lit("out_of_range"),
         F.concat(F.col("metric"), F.lit("="), _fmt_g(value), F.lit(" outside the valid range ["),
                  _fmt_g(F.col("valid_min")), F.lit(", "), _fmt_g(F.col("valid_max")), F.lit("]"))),
    ]  # fmt: skip
    reason = F.lit(None).cast("string")
    for cond, why, _ in reversed(checks):
        reason = F.when(cond, why).otherwise(reason)
    df = df.withColumn("reason", reason)
    detail = F.lit(None).cast("string")
    for _, why, text_col in reversed(checks):
        detail = F.when(F.col("reason") == why, text_col).otherwise(detail)
    status = _max_severity(status_of(value), F.col("device_status"))
    time_us = F.bround(F.col("event_time") * F.lit(1e6), 0).cast("long")
    valid = F.col("reason").isNull()
    return df.select(
        "payload",
        "received_at",
        "source",
        "sensor_id",
        "metric",
        "sent_at",
        "reason",
        F.when(~valid, detail).alias("detail"),
        F.when(valid, value).alias("value"),
        F.when(valid, status).alias("status"),
        F.when(valid, F.timestamp_micros(time_us)).alias("time"),
    )


def readings_of(validated: DataFrame) -> DataFrame:
    """The sensor_data rows among the validated rows (those without a rejection reason)."""
    return validated.where(F.col("reason").isNull()).select("time", "sensor_id", "metric", "value", "status", "sent_at")


def validated_rows(
    source: DataFrame, catalogue: Catalogue | None = None, spark: SparkSession | None = None
) -> DataFrame:
    """parse -> classify -> normalise -> validate, for any source frame of SOURCE_SCHEMA."""
    catalogue = catalogue or Catalogue.default()
    spark = spark or source.sparkSession
    frames = catalogue_frames(spark, catalogue)
    parsed = parse_messages(source, catalogue)
    return validate(normalise(classify_messages(parsed, catalogue, frames)), frames)


# -- 5. windows ---------------------------------------------------------------------------------------------


def sample_stddev(n: Column, s: Column, ss: Column) -> Column:
    """The sample standard deviation from count, sum and sum of squares, with the formula of the writer's SQL
    (ingestion/writer.py), so that sensor_data_agg.stddev means the same whichever processor wrote the window
    (and a window merged later by the lite writer stays consistent)."""
    return F.when(n > 1, F.sqrt(F.greatest(F.lit(0.0), (ss - F.pow(s, 2) / n) / (n - 1))))


def windowed_aggregates(readings: DataFrame, *, watermark: str = DEFAULT_WATERMARK) -> DataFrame:
    """1-minute tumbling windows of the deduplicated readings (sensor_data_agg rows), under the event-time
    watermark.

    Only the 1-minute windows are kept in Spark's state; the sink derives the 5-minute sliding and 1-hour windows
    from them in the database (Writer.upsert_windows), as the lite writer builds every window from per-minute
    partials. One aggregation instead of three: each branch of a streaming plan re-reads and re-parses the source
    and keeps its own deduplication state, so three aggregations cost three times the parsing and the state.

    A reading older than the watermark is left out of the 1-minute window Spark has already finalised (its row
    never changes again), hence out of the larger windows too. It is stored raw all the same and counted as late
    by the sink. Duplicates (same sensor, metric, time) are counted once, as the lite writer does."""
    size_s, slide_s = WINDOWS[0]
    deduplicated = readings.withWatermark("time", watermark).dropDuplicates(["sensor_id", "metric", "time"])
    window = F.window("time", f"{size_s} seconds", f"{slide_s} seconds")
    grouped = deduplicated.groupBy(window.alias("w"), "sensor_id", "metric").agg(
        F.count(F.lit(1)).alias("count"),
        F.sum("value").alias("sum_value"),
        F.sum(F.col("value") * F.col("value")).alias("sum_sq"),
        F.min("value").alias("min"),
        F.max("value").alias("max"),
        F.count_if(F.col("status") == "warning").alias("n_warning"),
        F.count_if(F.col("status") == "critical").alias("n_critical"),
        F.count_if(F.col("status") == "fault").alias("n_fault"),
    )
    return grouped.select(
        F.col("w.start").alias("window_start"),
        F.col("w.end").alias("window_end"),
        "sensor_id",
        "metric",
        (F.col("sum_value") / F.col("count")).alias("avg"),
        "min",
        "max",
        "count",
        sample_stddev(F.col("count"), F.col("sum_value"), F.col("sum_sq")).alias("stddev"),
        "n_warning",
        "n_critical",
        "n_fault",
        "sum_value",
        "sum_sq",
    )


# -- 6. one stream for the sink ---------------------------------------------------------------------------------


def output_frame(validated: DataFrame, windows: DataFrame) -> DataFrame:
    """Readings, rejections and updated windows of a micro-batch in one frame (`kind` tells them apart), so that
    one query, one checkpoint and one foreachBatch call see the three outputs of the same input.

    Readings and rejections come from one branch (the validated rows, told apart by `reason`) rather than from
    two filtered frames: each branch of a streaming union re-reads and re-parses the source, and parsing is the costly part."""
    rejected = F.col("reason").isNotNull()
    records = validated.select(
        F.when(rejected, F.lit("rejection")).otherwise(F.lit("reading")).alias("kind"),
        "time",
        "sensor_id",
        "metric",
        "value",
        "status",
        "sent_at",
        "received_at",
        "source",
        F.when(rejected, F.col("payload")).alias("payload"),  # the message text only where it is quarantined
        "reason",
        "detail",
    )
    return records.unionByName(windows.withColumn("kind", F.lit("window")), allowMissingColumns=True)


def build(source: DataFrame, *, catalogue: Catalogue | None = None, watermark: str = DEFAULT_WATERMARK) -> DataFrame:
    """The whole job's plan from a source frame: the frame the foreachBatch sink receives."""
    validated = validated_rows(source, catalogue)
    return output_frame(validated, windowed_aggregates(readings_of(validated), watermark=watermark))


__all__ = [
    "DEFAULT_WATERMARK",
    "build",
    "catalogue_frames",
    "classify_messages",
    "normalise",
    "output_frame",
    "parse_messages",
    "readings_of",
    "status_of",
    "unit_alias_rows",
    "validate",
    "validated_rows",
    "windowed_aggregates",
]
