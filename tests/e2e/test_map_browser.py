"""The Map page of the real app in headless Chromium, on a database seeded with the simulator's history (no internet:
the map must draw the shipped commune outline by itself): a shared URL restores the view, the KPIs show real numbers,
the language switch translates the page, clicking a sensor disc opens its Sensor page, and the list below the map
opens another one."""

import math
import re
import time
from urllib.parse import urlencode

import psycopg2
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from components import formatting
from components.map_legend import RADIUS_M
from ingestion.catalogue import SENSORS
from tests.support.app import dashboard
from tests.support.browser import full_screenshot, metric_value, no_raw_labels, no_traceback, unclipped_at, widget
from tests.support.legend import gradient_at, parse_stops
from tests.support.page_seed import FDF_AQ, seed_alerts, seed_history, shown_name
from tests.support.services import free_port, wait_for

pytestmark = pytest.mark.e2e
SENSOR = {s.sensor_id: s for s in SENSORS}
CENTER = {"latitude": 14.64, "longitude": -61.02, "zoom": 9.5}  # components/map_layers.CENTER
NUMBER = re.compile(r"^-?[\d\u202f]+,\d$")
ISOLATED = "mq-slu-aq-01"  # Sainte-Luce: 5 km from any other sensor, a click cannot hit a neighbour


def canvas_point(box: dict, lon: float, lat: float) -> tuple[float, float]:
    """Where deck.gl draws (lon, lat) in a canvas box at the page's initial view (Web Mercator, 512-px world)."""
    scale = 512 * 2 ** CENTER["zoom"]

    def project(lon_, lat_):
        x = (lon_ + 180) / 360 * scale
        y = (1 - math.log(math.tan(math.pi / 4 + math.radians(lat_) / 2)) / math.pi) / 2 * scale
        return x, y

    cx, cy = project(CENTER["longitude"], CENTER["latitude"])
    x, y = project(lon, lat)
    return box["x"] + box["width"] / 2 + (x - cx), box["y"] + box["height"] / 2 + (y - cy)


# A fingerprint of the map canvas after two animation frames: its shares of sea, land and other pixels and a checksum
# of a sample of them. deck.gl draws its layers over later frames (and redraws after a rerun), so the map is ready
# when the base map is there and two fingerprints in a row are equal.
CANVAS_PRINT = """() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => {
    const canvas = document.querySelector('[data-testid="stDeckGlJsonChart"] canvas');
    if (!canvas || !canvas.width) { done(null); return; }
    const copy = document.createElement('canvas');
    copy.width = canvas.width; copy.height = canvas.height;
    const ctx = copy.getContext('2d');
    ctx.drawImage(canvas, 0, 0);
    const data = ctx.getImageData(0, 0, copy.width, copy.height).data;
    let sea = 0, land = 0, other = 0, n = 0, sum = 0;
    for (let i = 0; i < data.length; i += 4 * 7) {
        const [r, g, b] = [data[i], data[i + 1], data[i + 2]];
        n++; sum = (sum * 31 + r * 65536 + g * 256 + b) % 2147483647;
        if (Math.abs(r - 214) < 8 && Math.abs(g - 230) < 8 && Math.abs(b - 244) < 8) sea++;
        else if (r > 232 && g > 228 && b > 215 && r >= b) land++;
        else other++;
    }
    done({sea: sea / n, land: land / n, other: other / n, sum: sum, width: canvas.width, height: canvas.height});
})))"""


def wait_for_map(page) -> None:
    """Wait until deck.gl has drawn the base map and stopped changing the canvas (a condition, not a pause)."""
    page.locator('[data-testid="stDeckGlJsonChart"] canvas').first.wait_for(timeout=60_000)
    previous = {}

    def settled():
        now = page.evaluate(CANVAS_PRINT)
        same = now is not None and now == previous.get("print")
        previous["print"] = now
        return same and now["sea"] > 0.2 and now["land"] > 0.1

    wait_for(settled, 60, "deck.gl to draw the map and stop redrawing it")


def map_box(page) -> dict:
    """Scroll the map canvas to the middle of the view and return its box once the scroll has come to rest."""
    canvas = page.locator('[data-testid="stDeckGlJsonChart"] canvas').first
    canvas.evaluate("e => e.scrollIntoView({block: 'center'})")
    previous = {}

    def resting():
        box = canvas.bounding_box()
        same = box is not None and box == previous.get("box")
        previous["box"] = box
        return box if same else None

    return wait_for(resting, 20, "the map canvas to stop moving after scrolling it into view", every=0.05)


def map_pixels_drawn(page) -> dict:
    """Share of the map's canvas pixels that are sea blue, land beige and other (sensors, limits)."""
    return page.evaluate(CANVAS_PRINT)


LAND = ([247, 244, 236], [240, 236, 224])  # components/map_layers LAND, LAND_ALT
SEA = [214, 230, 244]


def pixel_at(page, x: float, y: float) -> list[int]:
    """The map canvas's colour at page coordinates (x, y)."""
    return page.evaluate(
        """([x, y]) => {
            const canvas = document.querySelector('[data-testid="stDeckGlJsonChart"] canvas');
            const box = canvas.getBoundingClientRect();
            const copy = document.createElement('canvas');
            copy.width = canvas.width; copy.height = canvas.height;
            const ctx = copy.getContext('2d');
            ctx.drawImage(canvas, 0, 0);
            const sx = canvas.width / box.width, sy = canvas.height / box.height;
            return [...ctx.getImageData(Math.round((x - box.x) * sx), Math.round((y - box.y) * sy), 1, 1).data];
        }""",
        [x, y],
    )[:3]


def alone(sensor_id: str, shown) -> bool:
    """No other disc within reach: the centres at least twice the largest disc radius apart (3 km)."""
    me = SENSOR[sensor_id]
    for other in shown:
        if other.sensor_id == sensor_id:
            continue
        dx = (other.longitude - me.longitude) * 111.32 * math.cos(math.radians(me.latitude))
        dy = (other.latitude - me.latitude) * 110.57
        if math.hypot(dx, dy) < 2 * RADIUS_M[1] / 1000:
            return False
    return True


def legend_colours(page) -> list[list[int]]:
    """The colours the page's value legend shows (its data-colors: the same hex codes that paint it)."""
    codes = page.locator(".mm-scale").first.get_attribute("data-colors").split()
    return [[int(code[i : i + 2], 16) for i in (1, 3, 5)] for code in codes]


def legend_colour_at(page, value: float) -> list[int]:
    """The colour the legend's gradient shows at `value` (linear between its stops, as CSS draws it)."""
    return gradient_at(parse_stops(page.locator(".mm-scale").first.get_attribute("data-stops")), value)


def matches_legend(pixel, colours, tolerance: float = 0.06) -> bool:
    """Whether a pixel is one of the legend's colours laid over land or sea: on the line from the ground's colour to
    that colour, at the same opacity (above 0.3) in every channel. The opacity is solved, not assumed: deck.gl
    composes a layer's own opacity with its colours' alpha."""
    for colour in colours:
        for ground in (*LAND, SEA):
            alphas = [(g - p) / (g - c) for p, c, g in zip(pixel, colour, ground, strict=True) if abs(g - c) > 40]
            if alphas and min(alphas) >= 0.3 and max(alphas) <= 1.05 and max(alphas) - min(alphas) <= tolerance:
                return True
    return False


def test_map_shared_url_numbers_language_and_sensor_detail(pg_cluster, db_url, conn, output_dir, page):
    logs = output_dir / "logs"
    logs.mkdir(exist_ok=True)
    shots = output_dir / "screenshots"
    seed_history(db_url, hours=6)
    seed_alerts(conn, FDF_AQ[0])
    with psycopg2.connect(db_url) as c, c.cursor() as cur:
        cur.execute("SELECT avg(value), max(value) FROM sensor_latest WHERE metric = 'pm10'")
        mean, top = cur.fetchone()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "deck" in m.text else None)
    with dashboard(db_url, free_port(), logs / "dashboard-map.log") as url:
        started = time.monotonic()
        query = urlencode({"range": "6h", "metric": "pm10", "mcolor": "metric"})
        page.goto(f"{url}/map?{query}", wait_until="domcontentloaded")
        page.get_by_role("heading", name="Carte").wait_for(timeout=30_000)
        page.locator('[data-testid="stDeckGlJsonChart"] canvas').first.wait_for(timeout=60_000)
        to_map = time.monotonic() - started
        wait_for_map(page)
        # The shared URL restored the sidebar metric and the page's colour mode.
        assert widget(page, "stSelectbox", "Mesure", sidebar=True).locator("input").input_value().startswith("PM10")
        colour = widget(page, "stButtonGroup", "Couleur")
        assert colour.locator('button[aria-checked="true"], button[kind$="Active"]').inner_text().strip() == "Valeur"
        # Real numbers: the KPIs are the mean / max of the latest pm10 readings; a map of pm10 shows the sensors
        # that measure it, and says of how many selected.
        pm10_sensors = [s for s in SENSORS if "pm10" in s.metrics]
        assert metric_value(page, "Capteurs affichés") == str(len(pm10_sensors))
        assert metric_value(page, "Mesurent cette mesure") == f"{len(pm10_sensors)} / {len(SENSORS)}"
        # The mean is summed in another order than SQL's avg(): one decimal may round the other way at a .x5.
        shown_mean = float(metric_value(page, "Moyenne (µg/m³)").replace(",", "."))
        assert shown_mean == pytest.approx(mean, abs=0.05 + 1e-9)
        assert metric_value(page, "Maximum (µg/m³)") == formatting.fmt_number(top, "fr", 1)
        # The base map is drawn from shipped data: sea and land fill the canvas without any tile server.
        drawn = map_pixels_drawn(page)
        assert drawn["sea"] > 0.2 and drawn["land"] > 0.1 and drawn["other"] > 0.005, drawn
        page.get_by_text("Fond de carte dessiné sans internet").wait_for()
        no_traceback(page)
        no_raw_labels(page)
        assert not errors, errors  # every deck.gl layer initialised
        # The legend tells the truth: the discs of the lowest and the highest pm10 values are drawn in the colour the
        # legend's gradient shows at those values (discs are slightly transparent over the land). Among the sensors
        # whose disc overlaps no other: two translucent discs over each other (Fort-de-France's four) blend into a
        # colour no single disc has, and which sensor is lowest changes with the day the test runs (it failed so).
        box = map_box(page)
        with psycopg2.connect(db_url) as c, c.cursor() as cur:
            cur.execute("SELECT sensor_id, value FROM sensor_latest WHERE metric = 'pm10' ORDER BY value")
            ranked = [(s, v) for s, v in cur.fetchall() if alone(s, pm10_sensors)]
        assert len(ranked) >= 2, ranked
        for sensor_id, value in (ranked[0], ranked[-1]):
            colour = legend_colour_at(page, value)
            drawn = pixel_at(page, *canvas_point(box, SENSOR[sensor_id].longitude, SENSOR[sensor_id].latitude))
            assert matches_legend(drawn, [colour]), (sensor_id, value, drawn, colour)
        print(f"map: heading and canvas after {to_map:.1f} s, checks done after {time.monotonic() - started:.1f} s")
        full_screenshot(page, shots / "map.png")

        # Hover: the tooltip of a sensor, in French (the map brought into view: the cards above it take two rows).
        box = map_box(page)
        target = SENSOR[FDF_AQ[0]]
        x, y = canvas_point(box, target.longitude, target.latitude)
        page.mouse.move(x, y)
        tooltip = page.locator(".deck-tooltip")  # deck.gl's hover box
        tooltip.wait_for(state="visible", timeout=10_000)
        tip = tooltip.inner_text()
        assert "Commune : Fort-de-France" in tip and "PM10 (particules) : " in tip, tip

        # Language switch: labels and tooltips follow, the view stays.
        page.get_by_text("English").click()
        page.get_by_role("heading", name="Map").wait_for(timeout=20_000)
        wait_for_map(page)
        assert metric_value(page, "Sensors shown") == str(len(pm10_sensors))
        chosen = widget(page, "stButtonGroup", "Colour").locator('button[aria-checked="true"], button[kind$="Active"]')
        assert chosen.inner_text().strip() == "Value"
        page.get_by_text("Base map drawn without internet").wait_for()
        no_raw_labels(page)
        full_screenshot(page, shots / "map-en.png")
        box = map_box(page)
        page.mouse.move(*canvas_point(box, target.longitude, target.latitude))
        tooltip.wait_for(state="visible", timeout=10_000)
        assert "Town: Fort-de-France" in tooltip.inner_text()
        assert "Air quality – Fort-de-France" in tooltip.inner_text()  # the sensor's kind in English
        assert "Qualité" not in tooltip.inner_text()

        # Clicking a sensor disc opens its page.
        target = SENSOR[ISOLATED]
        box = map_box(page)
        page.mouse.move(*canvas_point(box, target.longitude, target.latitude))
        tooltip.wait_for(state="visible", timeout=10_000)
        assert f"Id: {ISOLATED}" in tooltip.inner_text()
        page.mouse.click(*canvas_point(box, target.longitude, target.latitude))
        page.get_by_role("heading", name=shown_name(target, "en")).wait_for(timeout=20_000)
        assert f"sensor_id={ISOLATED}" in page.url and "/sensor" in page.url
        assert "metric=pm10" in page.url  # the shared filters travel along
        no_traceback(page)
        # Back to the map through the navigation: the old click does not send us to the sensor again.
        page.locator('[data-testid="stSidebarNav"] a', has_text="Map").click()
        page.get_by_role("heading", name="Map").wait_for(timeout=20_000)
        # The map drawn and at rest means the page's run that could have followed the old click is over.
        wait_for_map(page)
        assert "/map" in page.url and page.get_by_role("heading", name="Map").is_visible()

        # Back on the map in French: the list below the map opens another sensor.
        page.goto(f"{url}/map?{query}", wait_until="domcontentloaded")
        page.get_by_role("heading", name="Carte").wait_for(timeout=30_000)
        other = SENSOR[FDF_AQ[1]]
        pick = page.locator('[data-testid="stSelectbox"]').filter(has=page.locator("input[aria-label*='Capteur']"))
        if pick.count() == 0:
            pick = page.locator('[data-testid="stMain"] [data-testid="stSelectbox"]').last
        # Filter the list down to the one sensor before clicking: an unfiltered list is virtualised, and scrolling
        # a far option into view re-creates it (it detached under load in a CI run while the keys were still typed).
        # The page's live refresh can re-render the list and close it or clear its search (a run at load 24 lost
        # the typed keys): whenever the list is closed or its search is not the id, open it and type the id again.
        search, options, listbox = pick.locator("input"), page.get_by_role("option"), page.get_by_role("listbox")

        def filtered() -> bool:
            if options.count() == 1 and search.input_value() == FDF_AQ[1]:
                return True
            if not listbox.is_visible():
                pick.click()
            if search.input_value() != FDF_AQ[1]:
                search.fill(FDF_AQ[1])
            return False

        wait_for(filtered, 30, "the sensor list filtered to one option", every=0.3)
        page.get_by_role("option", name=f"{shown_name(other, 'fr')} ({FDF_AQ[1]})").click()
        page.get_by_role("button", name="Ouvrir la fiche").click()
        page.get_by_role("heading", name=shown_name(other, "fr")).wait_for(timeout=20_000)
        assert f"sensor_id={FDF_AQ[1]}" in page.url
        assert to_map < 60  # 30 s on an idle machine; others share these 2 cores


def test_map_replay_and_hexagons(pg_cluster, db_url, output_dir, page):
    logs = output_dir / "logs"
    logs.mkdir(exist_ok=True)
    seed_history(db_url, hours=6)
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "deck" in m.text else None)
    with dashboard(db_url, free_port(), logs / "dashboard-map-replay.log") as url:
        query = urlencode(
            {"range": "6h", "metric": "pm10", "mlayer": "hex", "mcolor": "metric", "kind": "air_quality", "mlabels": 0}
        )
        page.goto(f"{url}/map?{query}", wait_until="domcontentloaded")
        page.get_by_role("heading", name="Carte").wait_for(timeout=30_000)
        wait_for_map(page)
        layer = widget(page, "stButtonGroup", "Couche")
        assert layer.locator('button[aria-checked="true"], button[kind$="Active"]').inner_text().strip() == "Hexagones"
        # The hexagons are drawn in the legend's colours (translucent over land or sea): around an isolated sensor,
        # out of its disc and inside its 2.5 km hexagon (about 24 px at this zoom), every coloured pixel is one of them.
        colours = legend_colours(page)
        assert len(colours) == 6 and page.locator(".mm-scale").first.get_attribute("data-binned") == "true"
        box = map_box(page)
        cx, cy = canvas_point(box, SENSOR[ISOLATED].longitude, SENSOR[ISOLATED].latitude)
        ring = [
            pixel_at(page, cx + 17 * math.cos(a), cy + 17 * math.sin(a)) for a in [k * math.pi / 6 for k in range(12)]
        ]
        coloured = [
            p for p in ring if not any(max(abs(a - b) for a, b in zip(p, g, strict=True)) <= 6 for g in (*LAND, SEA))
        ]
        assert len(coloured) >= 3, ring  # the hexagon is there
        off = [p for p in coloured if not matches_legend(p, colours)]
        assert len(off) <= 2, (off, colours)  # (a commune limit or the coast may cross a sample)
        # The time slider: step back from "Maintenant" to replay a frame of 5-minute aggregates.
        page.get_by_text("Instant affiché").wait_for(timeout=30_000)
        slider = page.locator('[data-testid="stSlider"] input[type="range"]').first
        assert slider.get_attribute("aria-valuetext") == "Maintenant"
        replaying = page.get_by_text("Source : sensor_data_agg")
        # A live refresh can re-render the slider between key presses and drop its focus (seen once in CI on
        # 2 loaded cores): step back again until the page shows a replayed frame.
        for attempt in range(3):
            slider.focus()
            for _ in range(12):
                page.keyboard.press("ArrowLeft")
            try:
                replaying.wait_for(timeout=20_000 if attempt == 2 else 10_000)
                break
            except PlaywrightTimeout:
                if attempt == 2:
                    raise
        assert re.match(r"^\d+ / \d+$", metric_value(page, "Ont rapporté"))
        assert NUMBER.match(metric_value(page, "Moyenne (µg/m³)")), metric_value(page, "Moyenne (µg/m³)")
        page.locator(".js-plotly-plot").first.wait_for(timeout=20_000)  # network mean per frame
        wait_for_map(page)
        no_traceback(page)
        no_raw_labels(page)
        full_screenshot(page, output_dir / "screenshots" / "map-replay-hex.png")

        # Heat layer, colour by value: the frame stays, deck.gl draws the heat map without an error.
        widget(page, "stButtonGroup", "Couche").locator("button", has_text="Chaleur").click()
        page.get_by_text("Carte de chaleur : moyenne des valeurs").wait_for(timeout=20_000)
        widget(page, "stButtonGroup", "Couleur").locator("button", has_text="Valeur").click()
        page.locator(".mm-legend").first.wait_for(timeout=20_000)
        wait_for_map(page)
        assert "mlayer=heat" in page.url and "mcolor=metric" in page.url
        assert page.get_by_text("Source : sensor_data_agg").count() == 1  # still replaying the frame
        no_traceback(page)
        assert not errors, errors
        full_screenshot(page, output_dir / "screenshots" / "map-replay-heat.png")
        assert unclipped_at(page) == {1280: [], 1920: []}  # last: a resize re-lays the map out
