"""Browser helpers for the dashboard tests: chromium's path and flags, screenshots."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.helpers import wait_for

CHROMIUM = Path("/usr/bin/chromium")
# no outside connections: no component updates, no sync, no background fetches
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CHART_TIMEOUT = 20.0  # s: a chart redraws every 5-12 s, and a shared 2-core machine is slow
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"


def screenshot(page: Any, name: str) -> None:
    """Save the whole page as test-artifacts/dashboard/NAME.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def answer_confirmation(page: Any, agree: bool) -> str:
    """Answer the dashboard's confirmation dialog (static/confirm.js) that a click just opened:
    its confirm button when ``agree``, else "Keep it". Returns what it asked."""
    from playwright.sync_api import expect

    dialog = page.locator("dialog.confirm")
    expect(dialog).to_be_visible()
    asked = f"{dialog.locator('h2').inner_text()}\n{dialog.locator('p').inner_text()}"
    buttons = dialog.locator(".confirm-buttons button")
    (buttons.last if agree else buttons.first).click()
    expect(dialog).to_have_count(0)
    return asked


# Shared by the pixel scripts below: the canvas's RGBA bytes, and each CSS colour as [r, g, b]
# (a probe element resolves variables and names as the page's stylesheet does)
_CANVAS_AND_COLOURS = """function canvasAndColours(canvas, colours) {
  const px = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  const probe = document.createElement("i");
  document.body.append(probe);
  const rgbs = colours.map((colour) => {
    probe.style.color = colour;
    return getComputedStyle(probe).color.match(/\\d+/g).map(Number);
  });
  probe.remove();
  return [px, rgbs];
}"""


def _with_pixels(script: str) -> str:
    """``script`` (an arrow function) with :data:`_CANVAS_AND_COLOURS` in scope."""
    return f"(...args) => {{ {_CANVAS_AND_COLOURS}; return ({script})(...args); }}"


# How many opaque pixels of a chart's canvas have (nearly) each of the given CSS colours
_PIXELS = """([el, colours]) => {
  const canvas = el.querySelector("canvas");
  if (!canvas || !canvas.width) return colours.map(() => 0);
  const [px, rgbs] = canvasAndColours(canvas, colours);
  return rgbs.map((rgb) => {
    let n = 0;
    for (let i = 0; i < px.length; i += 4) {
      const off = Math.abs(px[i] - rgb[0]) + Math.abs(px[i + 1] - rgb[1]) + Math.abs(px[i + 2] - rgb[2]);
      if (px[i + 3] > 200 && off < 24) n += 1;
    }
    return n;
  });
}"""

# a uPlot legend's series (not its "time" row): label -> the colour of its marker
_LEGEND_COLOURS = """el => Object.fromEntries([...el.querySelectorAll(".u-legend .u-series")]
  .map((row) => [
    row.querySelector(".u-label").textContent,
    getComputedStyle(row.querySelector(".u-marker")).borderTopColor,
  ])
  .filter(([label]) => label !== "time"))"""


def _pixels(chart: Any, colours: list[str]) -> list[int]:
    counts: list[int] = chart.page.evaluate(_with_pixels(_PIXELS), [chart.element_handle(), colours])
    return counts


def drawn_series(chart: Any) -> dict[str, int]:
    """For each series in a uPlot chart's legend: how many of the canvas's pixels have its colour
    (its legend marker's). What a user sees: a series that is not drawn has none."""
    colours: dict[str, str] = chart.evaluate(_LEGEND_COLOURS)
    return dict(zip(colours, _pixels(chart, list(colours.values()))))


def colour_pixels(chart: Any, css_variable: str) -> int:
    """Pixels on the chart's canvas in the page's colour ``css_variable`` (an alert line's, say)."""
    return _pixels(chart, [f"var({css_variable})"])[0]


def legend(chart: Any) -> dict[str, str]:
    """The chart's legend as the user reads it: label -> value (the hovered point's, else the latest)."""
    rows = chart.locator(".u-legend .u-series")
    return {
        rows.nth(i).locator(".u-label").text_content(): rows.nth(i).locator(".u-value").text_content()
        for i in range(rows.count())
    }


def series_are_drawn(page: Any, chart_or_id: Any, labels: set[str]) -> dict[str, int]:
    """Wait until the chart's canvas shows each of ``labels``' series (pixels of its colour)."""
    chart = page.locator(f"#{chart_or_id}") if isinstance(chart_or_id, str) else chart_or_id
    chart.scroll_into_view_if_needed()  # a chart out of view is not drawn until it comes into view
    drawn: dict[str, int] = {}

    def shown() -> bool:
        drawn.update(drawn_series(chart))
        return all(drawn.get(label, 0) >= 20 for label in labels)

    wait_for(shown, CHART_TIMEOUT, what=f"{chart_or_id} to draw {labels}")
    return drawn


# Where a user would point to read a chart's highest point: the canvas column whose topmost pixel
# in a series colour is highest (a bar's top, a line's peak), as page coordinates; null when the
# canvas shows no series yet
_PEAK = """([el, colours]) => {
  const canvas = el.querySelector("canvas");
  const over = el.querySelector(".u-over");
  if (!canvas || !canvas.width || !over) return null;
  const [px, rgbs] = canvasAndColours(canvas, colours);
  let best = null;
  for (let x = 0; x < canvas.width; x += 1) {
    for (let y = 0; y < (best ? best.y : canvas.height); y += 1) {
      const i = (y * canvas.width + x) * 4;
      const off = (c) => Math.abs(px[i] - c[0]) + Math.abs(px[i + 1] - c[1]) + Math.abs(px[i + 2] - c[2]);
      if (px[i + 3] > 200 && rgbs.some((c) => off(c) < 24)) {
        best = { x, y };
        break;
      }
    }
  }
  if (!best) return null;
  const box = canvas.getBoundingClientRect();
  const plot = over.getBoundingClientRect();
  return { x: box.left + (best.x + 0.5) * (box.width / canvas.width), y: plot.top + plot.height / 2 };
}"""


def hover_peak(page: Any, chart: Any) -> dict[str, str] | None:
    """Point at the chart's highest drawn point (as a user reads a spike); the legend there."""
    colours: dict[str, str] = chart.evaluate(_LEGEND_COLOURS)
    peak = page.evaluate(_with_pixels(_PEAK), [chart.element_handle(), list(colours.values())])
    if peak is None:
        return None
    page.mouse.move(peak["x"], peak["y"])
    shown = legend(chart)
    page.mouse.move(0, 0)  # off the chart: its legend shows the latest values again
    return shown


def chart_has_positive_point(page: Any, chart_id: str) -> None:
    """Pointing at the chart's highest drawn point shows a value above 0 and that point's time in
    its legend (as a user finds a spike); off the chart the legend shows the latest values."""
    chart = page.locator(f"#{chart_id}")
    chart.scroll_into_view_if_needed()
    seen: list[dict[str, str]] = []

    def positive() -> bool:
        shown = hover_peak(page, chart)
        if shown is None:
            return False
        seen.append(shown)
        values = [value for label, value in shown.items() if label != "time"]
        return any(float(re.sub(r"[^0-9.]", "", v) or 0) > 0 for v in values)

    try:
        wait_for(positive, CHART_TIMEOUT, what=f"a value above 0 on {chart_id}")
    except AssertionError as error:
        raise AssertionError(f"{error}; legends at its highest point: {seen[-3:]}") from None
    assert re.fullmatch(r"\d\d:\d\d:\d\d", seen[-1].get("time", "")), seen[-1]
    assert legend(chart)["time"] == "latest"
