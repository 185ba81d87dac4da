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


# How many opaque pixels of a chart's canvas have (nearly) each of the given CSS colours
_PIXELS = """([el, colours]) => {
  const canvas = el.querySelector("canvas");
  if (!canvas || !canvas.width) return colours.map(() => 0);
  const px = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  const probe = document.createElement("i");
  document.body.append(probe);
  const rgbs = colours.map((colour) => {
    probe.style.color = colour;
    return getComputedStyle(probe).color.match(/\\d+/g).map(Number);
  });
  probe.remove();
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
    counts: list[int] = chart.page.evaluate(_PIXELS, [chart.element_handle(), colours])
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


def hover_across(page: Any, chart: Any, steps: int = 30) -> list[dict[str, str]]:
    """Move the mouse across the chart's plot, left to right; the legend at each stop."""
    box = chart.locator(".u-over").bounding_box()
    seen = []
    for i in range(steps):
        page.mouse.move(box["x"] + box["width"] * (i + 0.5) / steps, box["y"] + box["height"] / 2)
        seen.append(legend(chart))
    page.mouse.move(0, 0)  # off the chart: its legend shows the latest values again
    return seen


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


def chart_has_positive_point(page: Any, chart_id: str) -> None:
    """Hovering the chart shows a value above 0 in its legend somewhere (as a user finds a spike)."""
    chart = page.locator(f"#{chart_id}")
    chart.scroll_into_view_if_needed()
    seen: list[dict[str, str]] = []

    def positive() -> bool:
        seen[:] = hover_across(page, chart)
        values = [value for stop in seen for label, value in stop.items() if label != "time"]
        return any(float(re.sub(r"[^0-9.]", "", v) or 0) > 0 for v in values)

    wait_for(positive, CHART_TIMEOUT, what=f"a value above 0 on {chart_id}")
    # hovering names the point's time; off the chart, the legend shows the latest values
    assert any(re.fullmatch(r"\d\d:\d\d:\d\d", stop.get("time", "")) for stop in seen), seen
    assert legend(chart)["time"] == "latest"
