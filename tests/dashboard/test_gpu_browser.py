"""The GPU views in a real browser, fed by recorded NVML readings.

The head's workers replay a recording (``PYCLUSTER_GPU_RECORDING``) through the same
monitor, worker reports, history and alerts as NVML readings; the page shows them on the
GPU tab (cards, a history chart per GPU, alerts), on the Overview's GPU card and on
Monitoring's cluster GPU usage. The formatters themselves are checked in chromium against
the readings the API serves, so "24 GB shown as 24 B" cannot come back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pycluster import HeadNode
from pycluster.gpu.reader import RECORDING_ENV
from pycluster.gpu.readings import gpu_status
from tests.dashboard.browser import screenshot, series_are_drawn
from tests.dashboard.test_dashboard_browser import LIVE_TIMEOUT, expect, open_tab
from tests.gpu.readings import A100, RTX4090, reading
from tests.helpers import running_head

pytestmark = pytest.mark.browser

STATIC = Path(__file__).resolve().parents[2] / "src" / "pycluster" / "web" / "static"
GiB = 2**30


def recording() -> list[list[dict[str, Any]]]:
    """The A100 gets busy and hot (warning at 81 °C, critical at 86 °C, where it stays); each
    step lasts 3 polls so that the head, sampling once a second, sees every one."""
    steps = [(20, 72, 6), (55, 81, 12), (87, 86, 18)]
    snapshots = []
    for utilization, temperature, used in steps:
        a100 = reading(A100, utilization_gpu=utilization, temperature=temperature, memory_used=used * GiB)
        snapshots += [[a100, RTX4090]] * 3
    return snapshots


@pytest.fixture(scope="module")
def head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeadNode]:
    folder = tmp_path_factory.mktemp("gpu-ui")
    path = folder / "gpus.jsonl"
    path.write_text("".join(json.dumps(s) + "\n" for s in recording()), encoding="utf-8")
    # the workers are processes of their own: they read the variable from the environment
    # they inherit, as a worker on a GPU machine would run NVML
    with pytest.MonkeyPatch.context() as env:
        env.setenv(RECORDING_ENV, str(path))
        with running_head("gpu-ui", folder / "state") as node:
            yield node


def serve_static(page: Any) -> str:
    """Serve the dashboard's static files to the page without a head (a routed origin)."""
    origin = "http://127.0.0.1:9"

    def fulfil(route: Any) -> None:
        name = route.request.url.removeprefix(origin).split("?")[0]
        if name == "/":
            route.fulfill(body="<!doctype html><title>formatters</title>", content_type="text/html")
        elif name.startswith("/static/") and (STATIC / name.removeprefix("/static/")).is_file():
            script = (STATIC / name.removeprefix("/static/")).read_text(encoding="utf-8")
            route.fulfill(body=script, content_type="text/javascript")
        else:
            route.fulfill(status=404, body="")

    page.route(f"{origin}/**", fulfil)
    page.goto(f"{origin}/")
    return origin


def test_gpu_readings_are_formatted_in_their_own_units(page: Any) -> None:
    serve_static(page)
    # what GET /api/llm/gpu/status serves for two real kinds of card (GB, W, °C, MHz)
    cards = [gpu_status(A100), gpu_status(RTX4090)]
    facts = page.evaluate(
        """async (cards) => {
            const { gpuFacts } = await import("/static/accelerators.js");
            return cards.map((g) => Object.fromEntries(gpuFacts(g)));
        }""",
        cards,
    )
    a100, rtx = facts
    assert a100["Memory"] == "18.0 / 40.0 GiB (45%)"
    assert rtx["Memory"] == "1.0 / 24.0 GiB (4%)"
    assert a100["Power"] == "301 W of 400 W" and rtx["Power"] == "31.2 W of 450 W"
    assert a100["Temperature"] == "72 °C" and rtx["Fan"] == "30%" and a100["SM clock"] == "1410 MHz"
    assert a100["Throttled"] == "sw_power_cap" and a100["ECC errors"] == "2 corrected, 0 uncorrected"
    assert "ECC errors" not in rtx and "Fan" not in a100  # a field the card lacks is left out
    *plain, bytes_24_gib = page.evaluate(
        """async () => {
            const f = await import("/static/format.js");
            return [f.gib(24), f.gib(0.5), f.gib(141.0), f.gib(null), f.gibOf(0.5, 80),
                    f.watts(700), f.watts(31.25), f.celsius(null), f.bytes(24 * 2 ** 30)];
        }"""
    )
    none = "\N{EN DASH}"  # what the page shows for a reading the card does not report
    assert plain == ["24.0 GiB", "512 MiB", "141 GiB", none, "512 MiB / 80.0 GiB", "700 W", "31.3 W", none]
    assert bytes_24_gib == "25.8 GB"  # the byte formatter stays decimal, for bytes only


def test_gpu_tab_overview_card_and_monitoring_show_the_recorded_gpus(page: Any, head: HeadNode) -> None:
    open_tab(page, head, "overview")
    card = page.locator("#card-gpu")
    expect(card.locator(".v")).to_have_text("2", timeout=LIVE_TIMEOUT)
    expect(card.locator(".stat-sub")).to_contain_text("/ 64.0 GiB")  # 40 GB + 24 GB, never "64 B"
    screenshot(page, "overview-gpu")

    page.goto(f"{head.dashboard_url}/#gpu")
    cards = page.locator("#gpu-grid .gpu")
    expect(cards).to_have_count(2, timeout=LIVE_TIMEOUT)
    a100 = cards.filter(has_text="A100")
    expect(a100).to_contain_text("/ 40.0 GiB")
    expect(a100).to_contain_text("W of 400 W")
    expect(cards.filter(has_text="RTX 4090")).to_contain_text("1.0 / 24.0 GiB")
    # the recording heats the A100 up: the alerts list shows the warning and the critical one
    alerts = page.locator("#gpu-alerts-list li")
    expect(alerts.filter(has_text="critical")).to_have_count(1, timeout=LIVE_TIMEOUT)
    expect(alerts.first).to_contain_text("A100")
    expect(a100).to_contain_text("86 °C", timeout=LIVE_TIMEOUT)
    # each card's history chart draws its utilization, memory and temperature lines
    drawn = series_are_drawn(page, a100.locator(".chart"), {"utilization %", "memory %", "°C"})
    # its legend shows the latest readings while nothing is hovered: the A100 at 86 °C now
    expect(a100.locator(".chart .u-legend .u-series", has_text="°C").locator(".u-value")).to_have_text(
        "86.0", timeout=LIVE_TIMEOUT
    )
    assert drawn["utilization %"] >= 20
    screenshot(page, "gpu-recorded")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: cards stack, nothing is cut off
    panel = page.locator("#panel-gpu")
    expect(cards.first).to_contain_text("GiB")
    assert panel.evaluate("(el) => el.scrollWidth <= el.clientWidth"), "the GPU tab scrolls sideways"
    screenshot(page, "gpu-recorded-phone")
    page.set_viewport_size({"width": 1280, "height": 860})

    page.goto(f"{head.dashboard_url}/#monitoring")
    expect(page.locator("#gpu-usage-summary")).to_contain_text("2 GPUs", timeout=LIVE_TIMEOUT)
    expect(page.locator("#gpu-usage-summary")).to_contain_text("/ 64.0 GiB")
    # charts below the fold are drawn when they scroll into view (an off-screen chart costs nothing)
    page.locator("#chart-gpu-usage").scroll_into_view_if_needed()
    series_are_drawn(page, page.locator("#chart-gpu-usage"), {"utilization", "memory"})
    assert page.locator("#gpu-usage-empty").is_hidden()
    screenshot(page, "monitoring-gpu")
