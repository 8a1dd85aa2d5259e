"""Charts an analyst can trust, without a browser: downsampling keeps the peaks, time axes carry dates in the
language's CLDR formats, tooltips round and localise values, alert counts are whole numbers, box selections parse
to a page range (property-tested: never an exception, only in-range minutes come out), sensor names are translated,
and a map legend has the colours its layers draw."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components import charts, formatting, i18n, inputs, names
from components import map_legend as mg
from data_access.queries import MAX_POINTS

NOW = datetime(2026, 11, 22, 14, 7, 13, tzinfo=UTC)


def series(n: int, spike_at: int, *, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values = 20 + rng.normal(0, 0.5, n)
    values[spike_at] = 95.0  # one reading far above the rest: what an operator looks for
    times = pd.date_range("2026-11-22", periods=n, freq="s", tz="UTC")
    return pd.DataFrame({"time": times, "value": values})


@pytest.mark.parametrize("spike_at", [0, 1, 12_345, 54_321, 99_998, 99_999])
def test_downsampling_keeps_a_single_spike(spike_at):
    frame = series(100_000, spike_at)
    kept = charts.cap_points(frame)
    assert len(kept) <= MAX_POINTS
    assert kept["value"].max() == 95.0 and spike_at in kept.index
    assert kept["time"].is_monotonic_increasing  # still a time series, in order
    # Every k-th row (the former guard) loses it unless the spike happens to fall on a kept row.
    step = int(np.ceil(len(frame) / MAX_POINTS))
    assert (spike_at % step == 0) == (95.0 in frame.iloc[::step]["value"].to_numpy())


def test_downsampling_keeps_the_minimum_too_and_leaves_short_series_alone():
    frame = series(30_000, 100)
    frame.loc[20_000, "value"] = -40.0
    kept = charts.cap_points(frame, max_points=1_000)
    assert len(kept) <= 1_000 and kept["value"].min() == -40.0 and kept["value"].max() == 95.0
    short = series(500, 10)
    assert charts.cap_points(short) is short


def test_downsampling_other_columns_and_missing_values():
    frame = series(20_000, 7).rename(columns={"value": "rows"})
    frame.loc[3, "rows"] = np.nan
    kept = charts.cap_points(frame, max_points=500)
    assert len(kept) <= 500 and kept["rows"].max() == 95.0


@pytest.mark.parametrize(
    ("lang", "day", "full", "hover"),
    [
        ("fr", "%-d %b", "%-d %b %Y", "%-d %b %Y %H:%M:%S"),
        ("en", "%-d %b", "%-d %b %Y", "%-d %b %Y %H:%M:%S"),
    ],
)
def test_time_axes_carry_dates_in_cldr_formats(lang, day, full, hover):
    stops = charts.time_ticks(lang)
    by_range = {tuple(s["dtickrange"]): s["value"] for s in stops}
    # Within a day the date follows the time on a second line (Plotly shows it where the day changes).
    assert by_range[(60_000, 86_400_000)] == f"%H:%M\n{full}"
    assert by_range[(None, 60_000)] == f"%H:%M:%S\n{full}"
    assert by_range[(86_400_000, "M1")] == f"{day}\n%Y"
    assert charts.hover_time(lang) == hover


def test_plotly_locale_names_months_and_separators_from_cldr():
    fr, en = formatting.plotly_locale("fr"), formatting.plotly_locale("en")
    fr_format = fr["locales"][fr["locale"]]["format"]
    assert fr_format["shortMonths"][10] == "nov." and fr_format["months"][0] == "janvier"
    assert fr_format["shortDays"][0] == "dim." and fr_format["decimal"] == "," and fr_format["thousands"] == "\u202f"
    en_format = en["locales"][en["locale"]]["format"]
    assert en_format["shortMonths"][10] == "Nov" and en_format["decimal"] == "." and en_format["thousands"] == ","


def test_tooltips_round_values_and_name_the_trace_without_templating_it():
    template = charts.value_hover(pd.Series([26.11467, 25.5, 27.2]), "°C")
    assert template == "%{y:,.1f} °C<extra>%{fullData.name}</extra>"
    assert charts.value_hover(pd.Series([0.0031, 0.0042])).startswith("%{y:,.4f}")
    assert charts.value_hover(pd.Series([1013.2, 1012.9]), "<b>hPa</b>") == (
        "%{y:,.1f} &lt;b&gt;hPa&lt;/b&gt;<extra>%{fullData.name}</extra>"
    )


def test_line_charts_are_dated_and_localised():
    frame = pd.DataFrame(
        {
            "time": pd.date_range("2026-11-15", periods=7 * 24, freq="h", tz="UTC"),
            "value": np.linspace(20, 30, 7 * 24),
            "sensor_id": "s1",
        }
    )
    fig = charts.lines(frame, group="sensor_id", y_label="°C", names={"s1": "Bishop"}, unit="°C")
    layout = fig.layout
    assert layout.separators == ",\u202f"
    assert layout.xaxis.hoverformat == "%-d %b %Y %H:%M:%S"
    assert any("\n%-d %b %Y" in stop.value for stop in layout.xaxis.tickformatstops)
    assert fig.data[0].hovertemplate.startswith("%{y:,.1f} °C")
    assert layout.selectdirection == "h"


def test_alert_counts_are_whole_numbers():
    frame = pd.DataFrame({"key": ["a", "a", "b"], "severity": ["critical", "warning", "info"], "alerts": [1, 2, 1]})
    fig = charts.severity_bars(frame, title="x")
    assert fig.layout.yaxis.tickformat == ",d" and fig.layout.yaxis.dtick == 1
    wide = charts.severity_bars(frame.assign(alerts=[40, 30, 5]), title="x", horizontal=True)
    assert wide.layout.xaxis.tickformat == ",d" and wide.layout.xaxis.dtick is None  # Plotly's integer steps
    assert wide.data[0].orientation == "h" and list(wide.data[0].y) == ["b", "a"]  # first key on top


def test_numbers_from_babel():
    assert formatting.fmt_int(4753, "fr") == "4\u202f753" and formatting.fmt_int(4753, "en") == "4,753"
    assert formatting.fmt_signed(-2.34, "fr") == "−2,3" and formatting.fmt_signed(2.34, "en") == "+2.3"
    assert formatting.fmt_signed(-0.04, "fr") == "±0,0"  # never "−0,0"
    assert formatting.fmt_compact(4513.4, "fr") == "4,5\u00a0k" and formatting.fmt_compact(4513.4, "en") == "4.5k"
    assert formatting.fmt_compact(26.11467, "fr") == "26,1" and formatting.fmt_compact(0.0031, "fr") == "0,0031"
    assert formatting.fmt_duration(183_600, "fr") == "2\u202fj 3\u202fh"
    assert formatting.fmt_duration(920, "en") == "15 mins 20 secs"
    assert formatting.fmt_duration(None, "fr") == "—"
    assert formatting.fmt_percent(0.125, "fr") == "12,5\u00a0%" and formatting.fmt_percent(0.125, "en") == "12.5%"


def test_sensor_names_take_the_kind_from_the_catalogue(monkeypatch):
    stored = "Qualité de l'air – Fort-de-France Bishop"
    with_lang = {}
    for lang in ("fr", "en"):
        # The language through i18n.lang, not st.session_state: outside a script run that is one process-wide
        # state, and a language left there would leak into later AppTests (their format_func runs in the test).
        monkeypatch.setattr(i18n, "lang", lambda lang=lang: lang)
        with_lang[lang] = names.display_name(stored, "air_quality", "mq-fdf-aq-01")
    assert with_lang == {
        "fr": "Qualité de l'air – Fort-de-France Bishop",
        "en": "Air quality – Fort-de-France Bishop",
    }
    assert names.place(stored) == "Fort-de-France Bishop"
    assert names.place("Capteur du port") == "Capteur du port" and names.place(None, "mq-x") == "mq-x"


# -- box selection -> page range ------------------------------------------------------------------------------------
def test_a_box_on_a_time_axis_gives_whole_minutes():
    box = [{"xref": "x", "yref": "y", "x": ["2026-11-22 08:15:30.123", "2026-11-21 23:02:00"], "y": [0, 1]}]
    assert inputs.parse_box_range(box, NOW) == (datetime(2026, 11, 21, 23, 2), datetime(2026, 11, 22, 8, 16))
    assert inputs.parse_box_range([], NOW) is None
    assert inputs.parse_box_range([{"x": [1, 2]}], NOW) is None  # not a time axis
    assert inputs.parse_box_range([{"x": ["2026-11-22 08:15:10", "2026-11-22 08:15:40"]}], NOW) == (
        datetime(2026, 11, 22, 8, 15),
        datetime(2026, 11, 22, 8, 16),
    )
    assert inputs.parse_box_range([{"x": ["1990-01-01 00:00", "2026-11-22 08:00"]}], NOW) is None
    assert inputs.parse_box_range([{"x": ["2026-11-22T08:00+00:00", "2026-11-22 09:00"]}], NOW) is None


CHART_VALUES = st.one_of(st.text(max_size=30), st.floats(), st.integers(), st.datetimes().map(str), st.none())
BOXES = st.one_of(
    st.none(),
    st.text(max_size=20),
    st.lists(
        st.dictionaries(
            st.sampled_from(["x", "y", "xref", "other"]), st.one_of(CHART_VALUES, st.lists(CHART_VALUES, max_size=3))
        ),
        max_size=2,
    ),
)


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)  # 2 cores shared by many test runs
@given(BOXES)
def test_box_parsing_never_raises_and_stays_in_range(box):
    span = inputs.parse_box_range(box, NOW)
    if span is not None:
        start, end = span
        assert inputs.DATE_MIN <= start < end <= inputs.date_max(NOW)
        assert start.second == end.second == 0 and start.microsecond == end.microsecond == 0


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2026, 11, 22)), st.integers(1, 10**7))
def test_any_box_inside_the_range_is_kept_to_the_minute(start, seconds):
    end = min(start + timedelta(seconds=seconds), inputs.date_max(NOW))
    span = inputs.parse_box_range([{"x": [str(start), str(end)]}], NOW)
    if end.replace(second=0, microsecond=0) <= start.replace(second=0, microsecond=0) and end == start:
        assert span is None
        return
    assert span is not None
    assert span[0] <= start and span[1] >= min(end, inputs.date_max(NOW))
    assert span[0] > start - timedelta(minutes=1) and span[1] < end + timedelta(minutes=1)


# -- map legends ----------------------------------------------------------------------------------------------------
PM10 = {"warn_high": 50.0, "crit_high": 80.0}


def test_binned_scale_is_the_layer_colour_range_and_the_legend():
    values = pd.Series([12.0, 30.0, 55.0, 90.0, np.nan])
    scale = mg.value_scale(values, PM10, binned=True)
    layer = scale.layer_colors()
    assert layer["color_domain"] == [12.0, 90.0] and len(layer["color_range"]) == mg.BINS
    html = mg.legend(scale, str, "PM10")
    legend = html.split('data-colors="')[1].split('"')[0].split()
    assert legend == [mg.hex_color(c) for c in layer["color_range"]]
    discs = mg.value_colors(values, scale)
    assert discs[-1] == mg.GREY  # no value: grey, not a colour of the scale
    for value, color in zip(values[:-1], discs[:-1], strict=True):  # each disc in its class, as deck.gl bins
        k = min(int((value - 12.0) / (90.0 - 12.0) * mg.BINS), mg.BINS - 1)
        assert mg.hex_color(color) == legend[k]


def test_continuous_scale_legend_spans_the_disc_colours():
    values = pd.Series([20.0, 45.0, 85.0])
    scale = mg.value_scale(values, PM10)
    html = mg.legend(scale, str, "PM10")
    assert "linear-gradient" in html
    legend = html.split('data-colors="')[1].split('"')[0].split()
    discs = [mg.hex_color(c) for c in mg.value_colors(values, scale)]
    assert discs[0] == legend[0] and discs[-1] == legend[-1]  # the bar's ends are the lowest and highest discs
    assert mg.hex_color(mg.RGB["yellow"]) in legend  # the warning threshold is a stop of the bar
