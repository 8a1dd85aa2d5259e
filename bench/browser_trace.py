"""Where a page's time to content goes, measured in the browser: one timeline per visit.

Same set-up as bench/browser.py (fresh database `bench_browser_trace` with 6 h of history, live `ingestion run`, the
dashboard, Debian's headless Chromium). Each visit opens the page in a new browser context (cold) and records, on
the page's own clock (performance.now(), 0 = navigation start):
  html / js     the HTML document's arrival and the last of Streamlit's JavaScript bundles loaded
  ws            the websocket opened; every frame sent (BackMsg) and received (ForwardMsg), decoded with
                Streamlit's own protobuf classes: which script runs the browser asked for (rerun_script: the first
                run, st.rerun, widget or fragment reruns) and when each run finished (script_finished), so the
                server's share and the number of runs before content are counted, not guessed
  elements      when the sidebar, the first KPI card, each Plotly chart (drawn: its SVG axes) and the deck.gl
                canvas first appeared on screen (checked once per animation frame), and the page's content marker
                (tests/support/browser.CONTENT, what bench/browser.py waits for)
  cpu           Chromium's main-thread time split (CDP Performance.getMetrics): script, layout, style, all tasks
--flags runs the same visits with each set of Chromium flags given (';'-separated sets, ',' between flags) on top of
the harness's ("!flag" drops one of the harness's), e.g.
--flags "!--disable-gpu,--use-angle=swiftshader,--enable-unsafe-swiftshader".

--compare DIR serves another checkout (e.g. `git archive main | tar -x -C DIR`, .venv linked) beside this one on the
same database; visits alternate between the two, so both see the same machine load.

Usage: .venv/bin/python -m bench.browser_trace [--pages map,pipeline] [--visits 3] [--flags "..."] [--compare DIR]
       [--frames]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from bench import load_average
from tests.support.app import dashboard, ingestion
from tests.support.browser import CHROMIUM_ARGS, CONTENT, SHELL, chromium_path, new_context, page_url
from tests.support.services import free_port

from .browser import history_database
from .freshness import ROOT

# Checked once per animation frame; the time each first reached a new count is kept.
WATCH = {
    "shell": SHELL,
    "kpi": '[data-testid="stMetricValue"]',
    "plotly": ".js-plotly-plot .main-svg",
    "deck": '[data-testid="stDeckGlJsonChart"] canvas',
    "table": '[data-testid="stDataFrame"] canvas',
}
INIT = """
(() => {
  const mm = window.__mm = {frames: [], seen: {}, wsOpen: null};
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('open', () => { mm.wsOpen = performance.now(); });
      this.addEventListener('message', e => mm.frames.push(['in', performance.now()]));
    }
    send(data) { mm.frames.push(['out', performance.now()]); return super.send(data); }
  };
  const watch = %s;
  const tick = () => {
    for (const [name, selector] of Object.entries(watch)) {
      // Counted as Playwright's "visible": a non-empty box (what bench/browser.py's wait_for waits for).
      const n = [...document.querySelectorAll(selector)].filter(e => {
        const box = e.getBoundingClientRect();
        return box.width > 0 && box.height > 0 && getComputedStyle(e).visibility !== 'hidden';
      }).length;
      const seen = mm.seen[name] || (mm.seen[name] = []);
      if (n > (seen.length ? seen[seen.length - 1][1] : 0)) seen.push([performance.now(), n]);
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})();
"""


def _decode(direction: str, payload: bytes) -> str:
    """A short name for one websocket frame: its message type, and for runs what kind of run."""
    if direction == "in":
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        msg = ForwardMsg()
        msg.ParseFromString(payload)
        kind = msg.WhichOneof("type")
        if kind == "script_finished":
            return f"finished:{ForwardMsg.ScriptFinishedStatus.Name(msg.script_finished)}"
        if kind == "delta":
            return "delta:" + ("fragment" if msg.delta.fragment_id else "")
        return kind or "?"
    from streamlit.proto.BackMsg_pb2 import BackMsg

    msg = BackMsg()
    msg.ParseFromString(payload)
    kind = msg.WhichOneof("type")
    if kind == "rerun_script":
        r = msg.rerun_script
        what = "fragment" if r.fragment_id else ("widget" if r.widget_states.widgets else "page")
        return f"rerun:{what}:{r.page_name or r.page_script_hash[:6]}"
    return kind or "?"


def visit(browser, url: str, name: str) -> dict:
    context = new_context(browser)
    page = context.new_page()
    page.add_init_script(INIT % json.dumps(WATCH))
    frames: list[tuple[str, str]] = []

    def on_ws(ws):
        ws.on("framereceived", lambda p: frames.append(("in", _decode("in", p) if isinstance(p, bytes) else "text")))
        ws.on("framesent", lambda p: frames.append(("out", _decode("out", p) if isinstance(p, bytes) else "text")))

    page.on("websocket", on_ws)
    cdp = context.new_cdp_session(page)
    cdp.send("Performance.enable")
    started = time.perf_counter()
    page.goto(url, wait_until="commit")
    for selector in CONTENT[name]:
        page.locator(selector).first.wait_for(timeout=60_000)
    content_wall = time.perf_counter() - started
    marker = page.evaluate("() => performance.now()")
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    # Let the page finish its run (and draw what is below the marker) to see the whole run, not only its start.
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(timeout=60_000)
    page.wait_for_timeout(1500)  # a picture of the page's settling: later frames and charts, not a synchronisation
    mm = page.evaluate("() => window.__mm")
    timing = page.evaluate(
        """() => {
            const nav = performance.getEntriesByType('navigation')[0];
            const js = performance.getEntriesByType('resource').filter(r => r.name.endsWith('.js'));
            const big = [...js].sort((a, b) => b.decodedBodySize - a.decodedBodySize).slice(0, 8)
                .map(r => [r.name.split('/').pop(), r.decodedBodySize / 1024, r.startTime, r.responseEnd]);
            return {html: nav.responseEnd, js_end: Math.max(0, ...js.map(r => r.responseEnd)), js_n: js.length,
                    js_kb: js.reduce((a, r) => a + (r.encodedBodySize || 0), 0) / 1024, big};
        }"""
    )
    context.close()
    # The page's clock for each frame, Playwright's decoding of it: matched in order, per direction.
    decoded = {d: [what for dd, what in frames if dd == d] for d in ("in", "out")}
    counts = {"in": 0, "out": 0}
    stamped = []
    for d, t in mm["frames"]:
        i = counts[d]
        counts[d] += 1
        stamped.append((t, d, decoded[d][i] if i < len(decoded[d]) else "?"))
    return {
        "content_wall": content_wall,
        "marker": marker,
        "timing": timing,
        "ws_open": mm["wsOpen"],
        "frames": stamped,
        "seen": mm["seen"],
        "cpu": {
            k: metrics.get(k, 0.0) for k in ("TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration")
        },
    }


def med(values) -> float:
    values = [v for v in values if v is not None]
    return statistics.median(values) / 1000 if values else float("nan")


def first(run, key):
    seen = run["seen"].get(key)
    return seen[0][0] if seen else None


def last(run, key):
    seen = run["seen"].get(key)
    return seen[-1][0] if seen else None


def frame_at(run, label, nth=0):
    hits = [t for t, _, what in run["frames"] if what.startswith(label)]
    return hits[nth] if len(hits) > nth else None


def summarise(name: str, runs: list[dict], frames: bool) -> None:
    print(f"\n{name}: median of {len(runs)} cold visits, seconds from navigation start", flush=True)
    rows = [
        ("html received", med([r["timing"]["html"] for r in runs])),
        ("js bundles loaded (last)", med([r["timing"]["js_end"] for r in runs])),
        ("websocket open", med([r["ws_open"] for r in runs])),
        ("first run asked (rerun_script)", med([frame_at(r, "rerun") for r in runs])),
        ("new_session received", med([frame_at(r, "new_session") for r in runs])),
        ("sidebar shown", med([first(r, "shell") for r in runs])),
        ("first run finished", med([frame_at(r, "finished") for r in runs])),
        ("first KPI card", med([first(r, "kpi") for r in runs])),
        ("first Plotly chart drawn", med([first(r, "plotly") for r in runs])),
        ("deck.gl canvas", med([first(r, "deck") for r in runs])),
        ("CONTENT marker (bench.browser)", med([r["marker"] for r in runs])),
        ("last Plotly chart drawn", med([last(r, "plotly") for r in runs])),
    ]
    for label, value in rows:
        if value == value:
            print(f"  {label:34s} {value:6.2f}", flush=True)
    r0 = runs[0]
    charts = r0["seen"].get("plotly") or [[0, 0]]
    print(
        f"  js: {r0['timing']['js_n']} files, {r0['timing']['js_kb']:.0f} kB over the wire; charts drawn at the end: "
        f"{charts[-1][1]}",
        flush=True,
    )
    print(
        "  largest scripts (kB, asked -> loaded at s): "
        + ", ".join(
            f"{n.split('.')[0]} {kb:.0f} {a / 1000:.1f}->{t / 1000:.1f}" for n, kb, a, t in r0["timing"]["big"]
        ),
        flush=True,
    )
    cpu = {k: statistics.median(r["cpu"][k] for r in runs) for k in runs[0]["cpu"]}
    print(
        "  Chromium main thread up to the marker: "
        + ", ".join(f"{k.removesuffix('Duration').lower()} {v:.2f}s" for k, v in cpu.items()),
        flush=True,
    )
    sent = Counter(what for r in runs for t, d, what in r["frames"] if d == "out" and t <= r["marker"])
    finished = Counter(
        what
        for r in runs
        for t, d, what in r["frames"]
        if d == "in" and t <= r["marker"] and what.startswith("finished")
    )
    print(f"  before the marker, per visit: sent {dict((k, v / len(runs)) for k, v in sent.items())}", flush=True)
    print(f"  runs finished {dict((k, v / len(runs)) for k, v in finished.items())}", flush=True)
    if not frames:
        return
    print("  first visit's frames (s, direction, message; deltas grouped):", flush=True)
    grouped: list[list] = []
    for t, d, what in r0["frames"]:
        if grouped and grouped[-1][1] == d and grouped[-1][2] == what and what.startswith("delta"):
            grouped[-1][3] += 1
            grouped[-1][4] = t
            continue
        grouped.append([t, d, what, 1, t])
    for t, d, what, n, end in grouped:
        span = f" x{n} until {end / 1000:.2f}" if n > 1 else ""
        print(f"    {t / 1000:6.2f} {d:3s} {what}{span}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", default="map,pipeline")
    parser.add_argument("--visits", type=int, default=3)
    parser.add_argument("--flags", default="", help="';'-separated sets of extra Chromium flags to compare")
    parser.add_argument(
        "--compare", type=Path, help="another checkout (e.g. main's) served beside this one, visits alternating"
    )
    parser.add_argument("--frames", action="store_true", help="list the first visit's websocket frames")
    args = parser.parse_args()
    url, out = history_database("bench_browser_trace")
    flag_sets = [[]] + [[f for f in s.split(",") if f] for s in args.flags.split(";") if s]
    from playwright.sync_api import sync_playwright

    roots = {"this": ROOT, **({"compare": args.compare.resolve()} if args.compare else {})}
    with ExitStack() as stack:
        stack.enter_context(ingestion(url, out / "ingestion.log", "run", "--alerts-every", "5"))
        bases = {
            label: stack.enter_context(dashboard(url, free_port(), out / f"dashboard-{label}.log", root=root))
            for label, root in roots.items()
        }
        pw = stack.enter_context(sync_playwright())
        print(f"load average: {load_average()}; checkouts: {roots}", flush=True)
        table = []
        for extra in flag_sets:
            dropped = {f[1:] for f in extra if f.startswith("!")}
            flags = [f for f in CHROMIUM_ARGS if f not in dropped] + [f for f in extra if not f.startswith("!")]
            browser = pw.chromium.launch(executable_path=chromium_path(), headless=True, args=flags)
            setting = " ".join(extra) or "harness's flags"
            try:
                print(f"\n=== Chromium flags: harness's {' '.join(extra) or '(only)'}", flush=True)
                for base in bases.values():
                    visit(browser, page_url(base, "live"), "live")  # the server's first run of each module
                for name in args.pages.split(","):
                    runs: dict[str, list[dict]] = {label: [] for label in bases}
                    for _ in range(args.visits):  # alternating: both checkouts see the same load
                        for label, base in bases.items():
                            runs[label].append(visit(browser, page_url(base, name), name))
                    for label, visits in runs.items():
                        summarise(f"{name} [{label}]", visits, args.frames)
                        table.append((name, label, setting, visits))
            finally:
                browser.close()
        print(
            f"\n{'page':9s} {'checkout':8s} {'run done':>8s} {'1st KPI':>8s} {'1st chart':>9s} {'marker':>7s} "
            f"{'main thr.':>9s} {'of it JS':>8s}  flags",
            flush=True,
        )
        for name, label, setting, visits in table:
            print(
                f"{name:9s} {label:8s} {med([frame_at(r, 'finished') for r in visits]):7.2f}s "
                f"{med([first(r, 'kpi') for r in visits]):7.2f}s {med([first(r, 'plotly') for r in visits]):8.2f}s "
                f"{med([r['marker'] for r in visits]):6.2f}s "
                f"{statistics.median(r['cpu']['TaskDuration'] for r in visits):8.2f}s "
                f"{statistics.median(r['cpu']['ScriptDuration'] for r in visits):7.2f}s  {setting}",
                flush=True,
            )
    print(f"\nload average: {load_average()}", flush=True)


if __name__ == "__main__":
    main()
