"""Plot a week of simulated history (what `python -m ingestion backfill 7d` writes) to docs/img/simulated-week.png:
daily cycles of temperature, humidity and A1 traffic, a Saharan-dust PM10 episode and a sargassum H2S episode.

Usage: .venv/bin/python docs/plot_week.py [--start 2026-06-01] [--seed 42]
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from ingestion.catalogue import METRICS, SENSORS  # noqa: E402
from ingestion.simulator import Simulator  # noqa: E402

PANELS = (
    ("weather", "temperature", None),
    ("weather", "humidity", None),
    ("traffic", "traffic_flow", "A1"),
    ("air_quality", "pm10", None),
    ("sargassum", "h2s", None),
)


def pick(kind: str, tag: str | None):
    return next(s for s in SENSORS if s.kind == kind and (tag is None or tag in s.tags))


def main() -> Path:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--start", default="2026-06-01")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", default=str(ROOT / "docs" / "img" / "simulated-week.png"))
    args = parser.parse_args()
    start = datetime.fromisoformat(args.start).replace(tzinfo=UTC).timestamp()
    frame = pd.concat(Simulator(seed=args.seed).history(start, start + 7 * 86400, step_s=300), ignore_index=True)
    frame["local"] = frame["time"].dt.tz_convert("America/Martinique").dt.tz_localize(None)
    fig, axes = plt.subplots(len(PANELS), 1, figsize=(12, 13), sharex=True)
    for ax, (kind, metric, tag) in zip(axes, PANELS, strict=True):
        sensor = pick(kind, tag)
        series = frame[(frame["sensor_id"] == sensor.sensor_id) & (frame["metric"] == metric)]
        m = METRICS[metric]
        ax.plot(series["local"], series["value"], lw=0.9, color="#0B7A75")
        for level, value, color in (
            ("seuil d'information", m.warn_high, "#E69F00"),
            ("seuil d'alerte", m.crit_high, "#D55E00"),
        ):
            if value is not None and series["value"].max() > value * 0.6:
                ax.axhline(value, ls="--", lw=0.8, color=color, label=f"{level} {value:g} {m.unit}")
        ax.set_ylabel(f"{m.label_fr}\n({m.unit})")
        ax.set_title(f"{sensor.name} — {sensor.commune}", fontsize=9, loc="left")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="upper right")
    axes[-1].xaxis.set_major_formatter(mdates.DateFormatter("%d/%m\n%Hh"))
    fig.suptitle(f"Une semaine simulée (graine {args.seed}), heure de Martinique", fontsize=12)
    fig.tight_layout()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    print(out)
    return out


if __name__ == "__main__":
    main()
