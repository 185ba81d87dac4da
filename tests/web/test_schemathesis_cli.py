"""The schema tells the truth: schemathesis's command-line runner, every check, against a real
``pycluster head`` subprocess, with zero failures.

``st run URL/openapi.json --checks all`` with the API token, over all four phases (examples,
coverage, fuzzing, stateful), a few examples per operation. ``tests/web/schemathesis/schemathesis.toml``
holds the settings, each with its reason. Three operations are left out: they stop the cluster
or start worker processes (``test_processing_api`` covers them by hand); once the cluster is
stopped, every later request is rightly a 503.

The runner sends ``Sec-Fetch-Mode: cors``, as a browser does, so that the head's trust in its own
OS user on loopback (``web/auth.py``) does not apply: ``ignored_auth`` then checks that a request
without the token is refused. The seed is fixed so that CI runs the same cases; set
PYCLUSTER_SCHEMATHESIS_SEED to explore others.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import BIN, CliProcess

pytestmark = pytest.mark.slow

TOKEN = "schemathesis-token-0123456789abcdef"
CONFIG = Path(__file__).parent / "schemathesis" / "schemathesis.toml"
NOT_FUZZED = r"(cluster/stop|scale|start-worker)$"
SEED = os.environ.get("PYCLUSTER_SCHEMATHESIS_SEED", "20261203")


@pytest.fixture(scope="module")
def head_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("schemathesis-head")
    token = folder / "token"
    token.write_text(TOKEN)
    token.chmod(0o600)
    head = CliProcess(
        "head",
        "--host", "127.0.0.1",
        "--scheduler-port", "0",
        "--dashboard-port", "0",
        "--dask-dashboard-port", "off",
        "--no-discovery",
        "--nworkers", "1",
        "--state-dir", str(folder / "state"),
        "--api-token-file", str(token),
    )  # fmt: skip
    try:
        url = head.wait_for_line(r"dashboard:\s+(http\S+)").group(1)
        head.wait_for_line("Press Ctrl-C")
        yield url
        assert "Exception in ASGI application" not in head.output, head.output[-5000:]
    finally:
        head.stop()


def test_every_check_passes_on_every_operation(head_url: str, tmp_path: Path) -> None:
    command = [
        str(BIN / "st"),
        "--config-file", str(CONFIG),
        "--no-color",
        "run", f"{head_url}/openapi.json",
        "--checks", "all",
        "--header", f"Authorization: Bearer {TOKEN}",
        "--header", "Sec-Fetch-Mode: cors",
        "--exclude-path-regex", NOT_FUZZED,
        "--max-examples", "10",
        "--seed", SEED,
        "--workers", "1",
        "--request-timeout", "30",
        "--generation-database", "none",
        "--report-dir", str(tmp_path),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=400, stdin=subprocess.DEVNULL)
    output = done.stdout + done.stderr
    tested = re.search(r"Tested:\s+(\d+)", output)
    generated = re.search(r"(\d+) generated", output)
    print(
        f"schemathesis: {tested.group(1) if tested else '?'} operations, "
        f"{generated.group(1) if generated else '?'} cases, all checks, seed {SEED}"
    )
    assert done.returncode == 0, output[-20000:]
    assert tested is not None and int(tested.group(1)) >= 50, output[-3000:]
    assert "unique failures" not in output or " 0 unique failures" in output
