"""A network head tells workers an address they can reach, even on a machine without a default route."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.helpers import BIN

pytestmark = [pytest.mark.chaos, pytest.mark.netns]


def test_network_head_prints_a_routable_join_command_without_a_default_route() -> None:
    """In a namespace with one LAN address and no default route Dask's address guess is
    127.0.0.1 (it asks for the route to 8.8.8.8); the join command must give the LAN address."""
    from tests.net.netns import exec_prefix, namespaces

    with namespaces({"head": 2}) as nets:
        lan = nets.addresses["head"]
        assert "default" not in nets.routes("head")
        command = [
            *exec_prefix(nets["head"]), sys.executable, str(BIN / "pycluster"), "head", "--host", "0.0.0.0",
            "--local-workers", "0", "--scheduler-port", "0", "--dashboard-port", "0",
            "--dask-dashboard-port", "off", "--no-discovery",
        ]  # fmt: skip
        head = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines: list[str] = []
        try:
            assert head.stdout is not None
            for line in head.stdout:
                lines.append(line.rstrip())
                if "Press Ctrl-C" in line:
                    break
            output = "\n".join(lines)
            pattern = r"Join a worker from another machine:\n\s*(.*pycluster worker --scheduler (\S+))"
            join = re.search(pattern, output)
            assert join is not None, output
            print(f"join command in a namespace without a default route: {join.group(1)}")
            assert re.fullmatch(rf"tls://{re.escape(lan)}:\d+", join.group(2)), output
            assert "PYCLUSTER_AUTH_KEY=<the cluster key>" in output  # a network head has a key
        finally:
            head.terminate()
            head.wait(30)
