"""The Pipeline page's quarantine CSV: the samples shown, under components/csv_export's rules. Payloads are untrusted
text: whatever a device sends, no cell of the file can start a spreadsheet formula, every row and cell survives the
round trip (one CSV row per sample, nothing split or merged), and the text is the escaped text shown on the page."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from components import quarantine_panels as qp
from components.csv_export import DANGEROUS_PREFIXES, read_export
from data_access.pipeline import escape_payload

T = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
HEADER = {"Madinina Monitor": "Pipeline quarantine samples (as shown)", "reason": "all, a, b"}
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=80)
FORMULAS = st.sampled_from(["=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", '  =HYPERLINK("x")', "\t=1", "\r=1"])


def samples(payloads, sources=None, details=None) -> pd.DataFrame:
    n = len(payloads)
    return pd.DataFrame(
        {
            "received_at": pd.to_datetime([T - timedelta(seconds=k) for k in range(n)], utc=True),
            "source": sources or ["mqtt"] * n,
            "reason": ["invalid_json"] * n,
            "detail": details or ["d"] * n,
            "payload": payloads,
            "payload_chars": [len(p) for p in payloads],
        }
    )


def cells(payload: bytes) -> list[list[str]]:
    lines = [line for line in payload.decode("utf-8").split("\n") if line and not line.startswith(('"# ', "# "))]
    return list(csv.reader(io.StringIO("\n".join(lines))))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(TEXT, FORMULAS), min_size=1, max_size=5), st.one_of(TEXT, FORMULAS))
def test_no_cell_can_start_a_formula_and_rows_round_trip(payloads, source):
    frame = samples(payloads, sources=[source] * len(payloads), details=payloads)
    data = qp.quarantine_csv(frame, HEADER)
    rows = cells(data)
    assert rows[0] == ["received_at", "source", "reason", "detail", "payload", "payload_chars"]
    assert len(rows) == len(payloads) + 1  # one row per sample: an embedded newline never splits a row
    for row, payload in zip(rows[1:], payloads, strict=True):
        for cell in row:
            assert not cell.lstrip(" ").startswith(DANGEROUS_PREFIXES) or cell.startswith("'"), cell
        shown = escape_payload(payload, len(payload))
        assert row[4] in (shown, "'" + shown)  # the text shown on the page, neutralised when needed
        assert row[5] == str(len(payload))
        assert row[0].endswith("-04:00")


def test_known_formulas_are_neutralised_and_the_header_names_the_view():
    data = qp.quarantine_csv(samples(["=1+1", "+1", "-1", "@A1", ' {"ok": 1}']), HEADER)
    header, frame = read_export(data)
    assert header == {"Madinina Monitor": "Pipeline quarantine samples (as shown)", "reason": "all, a, b"}
    assert frame["payload"].tolist() == ["'=1+1", "'+1", "'-1", "'@A1", ' {"ok": 1}']
    assert frame["received_at"].tolist()[0] == "2026-12-02T08:00:00-04:00"
    assert frame["payload_chars"].tolist() == [4, 2, 2, 3, 10]
