"""From untrusted bytes to JSON values and finite numbers, without ever raising anything but `Defect`.

The level-1 checks of DESIGN §3 (size, encoding, JSON syntax, duplicate keys) and the conversions that
ingestion/validation.py applies to fields (times, numbers). Python's own conversions have edges that a hostile
device reaches: int() refuses more than 4,300 digits, float(int) overflows past 1e308, repr() of a deep list
recurses, json.loads accepts lone surrogates and keeps the last of duplicate keys. Each is handled here.
"""

from __future__ import annotations

import json
import math
import re
import threading
from datetime import UTC, datetime

MAX_PAYLOAD_BYTES = 64 * 1024

_NUMERIC = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_NON_FINITE = re.compile(r"[+-]?(?:nan|inf|infinity)", re.ASCII | re.IGNORECASE)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_LONG_DIGITS = re.compile(r"\d{19}", re.ASCII)


class Defect(ValueError):
    """A defect of a message: its reason (one of ingestion.validation.REASONS) and a human detail."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class NonFiniteLiteral(float):
    """NaN, Infinity or -Infinity written as such in the JSON: a non-finite value. A number literal too large for
    a double (a 401-digit integer, 1e400) decodes to a plain ±inf instead: a real number outside every valid
    range, which the validation reports as out_of_range."""

    __slots__ = ()

    def __repr__(self) -> str:
        return {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}[float.__repr__(self)]


_CONSTANTS = {name: NonFiniteLiteral(name.lower().replace("infinity", "inf")) for name in ("NaN", "Infinity")}
_CONSTANTS["-Infinity"] = NonFiniteLiteral("-inf")


def _json_int(literal: str) -> int | float:
    # int() refuses more than 4,300 digits (a ValueError inside json.loads): long literals are read as floats,
    # which round to ±inf past 1e308 and never raise. Only used when the text has such a digit run.
    return int(literal) if len(literal) <= 18 else float(literal)


_seen = threading.local()  # the duplicate keys of the text being decoded (a decoder is shared by threads)


def _object(pairs: list[tuple[str, object]]) -> dict:
    obj = dict(pairs)
    if len(obj) != len(pairs):  # rare: find which keys repeat
        keys = [key for key, _ in pairs]
        _seen.duplicates.extend(key for key in obj if keys.count(key) > 1)
    return obj


# Built once: json.loads(text, **hooks) would build a decoder and its scanner for every message.
_DECODER = json.JSONDecoder(object_pairs_hook=_object, parse_constant=_CONSTANTS.__getitem__)
_LONG_INT_DECODER = json.JSONDecoder(
    object_pairs_hook=_object, parse_constant=_CONSTANTS.__getitem__, parse_int=_json_int
)


def show(value: object) -> str:
    """A short description of any JSON value for a detail: never the repr of a container (it may be deep or
    huge), strings cut to 40 characters."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else f"{value[:40]!r}…({len(value)} chars)"
    if isinstance(value, int | float):
        text = repr(value)
        return text if len(text) <= 24 else f"{text[:12]}…({len(text)} digits)"
    return {"list": "a list", "dict": "an object"}.get(type(value).__name__, type(value).__name__)


def _has_lone_surrogate(value: object) -> bool:
    """Whether a decoded JSON value holds a string with a lone surrogate (walked without recursion)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def decode(payload: bytes | str) -> object:
    """The JSON value of a payload, or Defect for a level-1 defect (size, encoding, syntax, duplicate key)."""
    # A character is at least one byte: a text longer than the limit in characters need not be encoded.
    if isinstance(payload, bytes | bytearray | memoryview) or len(payload) > MAX_PAYLOAD_BYTES:
        size = len(payload)
    else:
        size = len(payload.encode("utf-8", errors="surrogatepass"))
    if size > MAX_PAYLOAD_BYTES:
        raise Defect("payload_too_large", f"{size} bytes > {MAX_PAYLOAD_BYTES}")
    if isinstance(payload, str):
        text = payload
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise Defect("invalid_encoding", f"text holds a lone surrogate at character {exc.start}") from None
    else:
        try:
            text = bytes(payload).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Defect("invalid_encoding", f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    _seen.duplicates = []
    # The parse_int hook costs a Python call per integer: only texts with a long digit run need it.
    decoder = _LONG_INT_DECODER if _LONG_DIGITS.search(text) else _DECODER
    try:
        value = decoder.decode(text)
    except RecursionError:
        raise Defect("invalid_json", "nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, and anything else the decoder refuses
        raise Defect("invalid_json", str(exc)[:200]) from None
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(value):
        raise Defect("invalid_encoding", "a JSON string escapes a lone surrogate (\\ud800-\\udfff alone)")
    if _seen.duplicates:
        keys = ", ".join(show(k) for k in dict.fromkeys(_seen.duplicates))
        raise Defect("duplicate_key", f"duplicate key(s) {keys[:300]}: which value counts is ambiguous")
    return value


def parse_time(raw: object) -> float:
    """Epoch seconds from an ISO-8601 string or an epoch number (seconds, or milliseconds when > 1e11); raises
    ValueError (a Defect, reason invalid_timestamp) for anything that is not a finite time."""
    if isinstance(raw, bool) or raw is None:
        raise Defect("invalid_timestamp", f"timestamp {show(raw)} is not a time")
    if isinstance(raw, int | float):
        value = float(raw) if not isinstance(raw, int) or abs(raw) < 1e18 else math.inf
        if not math.isfinite(value):
            raise Defect("invalid_timestamp", f"timestamp {show(raw)} is not a finite time")
        return value / 1000.0 if value > 1e11 else value
    if isinstance(raw, str):
        if len(raw) > 64:
            raise Defect("invalid_timestamp", f"timestamp {show(raw)} is not ISO-8601")
        try:
            parsed = datetime.fromisoformat(raw.strip())
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            return parsed.timestamp()
        except (ValueError, OverflowError):
            raise Defect("invalid_timestamp", f"timestamp {show(raw)} is not ISO-8601") from None
    raise Defect("invalid_timestamp", f"timestamp {show(raw)} is not a time")


def number(raw: object, metric: str) -> float:
    """A float from a JSON value: ±inf for a number beyond a double (a 401-digit integer, 1e400, which the
    caller reports as out of range once the unit is checked), else finite; or Defect (missing_field,
    non_numeric_value, non_finite_value for NaN / Infinity written as such)."""
    if type(raw) is float and raw == raw:  # the common case first (NaN is the one float unequal to itself)
        return raw  # ±inf: a number literal beyond a double (a NaN comes as a NonFiniteLiteral)
    if raw is None:
        raise Defect("missing_field", f"{metric}: value is null")
    if isinstance(raw, bool):
        raise Defect("non_numeric_value", f"{metric}: value {show(raw)} is not a number")
    if isinstance(raw, NonFiniteLiteral):
        raise Defect("non_finite_value", f"{metric}: value {raw!r} is not finite")
    if isinstance(raw, int):
        try:
            return float(raw)
        except OverflowError:  # json input keeps ints to 18 digits; this is for any other caller
            return math.copysign(math.inf, raw)
    if isinstance(raw, float):
        if math.isnan(raw):  # only a NaN literal gives one, and that is a NonFiniteLiteral: kept for any caller
            raise Defect("non_finite_value", f"{metric}: value {raw!r} is not finite")
        return raw  # ±inf: a number literal beyond a double
    if isinstance(raw, str):
        text = raw.strip()
        if _NON_FINITE.fullmatch(text):
            raise Defect("non_finite_value", f"{metric}: value {show(raw)} is not finite")
        if not _NUMERIC.fullmatch(text):
            raise Defect("non_numeric_value", f"{metric}: value {show(raw)} is not a number")
        return float(text)  # ±inf past 1e308, like an overflowing literal
    raise Defect("non_numeric_value", f"{metric}: value {show(raw)} is not a number")
