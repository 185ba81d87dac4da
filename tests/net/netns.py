"""Network namespaces a test creates: a switch (bridge) and hosts on 10.213.0.0/24, no route out.

Nothing here can reach beyond the namespaces: each host has only its address
on the test subnet (no default route), and the bridge lives in a namespace of
its own. Everything is deleted at teardown, with every process still inside
ended by PID first.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
from collections.abc import Iterator

import pytest

SUBNET_PREFIX = "10.213.0"
BROADCAST = f"{SUBNET_PREFIX}.255"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    ip = shutil.which("ip") or "/usr/sbin/ip"
    return subprocess.run([ip, *args], capture_output=True, text=True, timeout=30, check=check)


class Namespaces:
    """A bridge namespace and host namespaces named by role, e.g. ``ns["a"]``."""

    def __init__(self, hosts: dict[str, int]) -> None:
        tag = f"pct{os.getpid() % 100000}{secrets.token_hex(2)}"
        self.switch = f"{tag}-sw"
        self.names = {role: f"{tag}-{role}" for role in hosts}
        self.addresses = {role: f"{SUBNET_PREFIX}.{n}" for role, n in hosts.items()}

    def __getitem__(self, role: str) -> str:
        return self.names[role]

    def create(self) -> None:
        _ip("netns", "add", self.switch)
        _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.switch, "link", "set", "br0", "up")
        for role, ns in self.names.items():
            _ip("netns", "add", ns)
            _ip(
                "-n",
                ns,
                "link",
                "add",
                "eth0",
                "type",
                "veth",
                "peer",
                "name",
                f"p-{role}",
                "netns",
                self.switch,
            )
            _ip("-n", self.switch, "link", "set", f"p-{role}", "master", "br0", "up")
            _ip("-n", ns, "addr", "add", f"{self.addresses[role]}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            _ip("-n", ns, "link", "set", "lo", "up")

    def routes(self, role: str) -> str:
        return _ip("-n", self.names[role], "route", "show").stdout

    def delete(self) -> None:
        for ns in [*self.names.values(), self.switch]:
            pids = _ip("netns", "pids", ns, check=False).stdout.split()
            for pid in pids:  # only processes inside our own namespaces: ours
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
            _ip("netns", "del", ns, check=False)


def exec_prefix(ns: str) -> list[str]:
    return [shutil.which("ip") or "/usr/sbin/ip", "netns", "exec", ns]


@contextlib.contextmanager
def namespaces(hosts: dict[str, int]) -> Iterator[Namespaces]:
    """Create the namespaces, or skip saying exactly what was not run and why."""
    if shutil.which("ip") is None:
        pytest.skip("network-namespace tests not run: the `ip` command (iproute2) is not installed")
    nets = Namespaces(hosts)
    try:
        nets.create()
    except subprocess.CalledProcessError as exc:
        nets.delete()
        pytest.skip(
            f"network-namespace tests not run (discovery by broadcast between namespaces, a worker "
            f"joining by the discovered address): `{' '.join(exc.cmd)}` failed: {exc.stderr.strip()} "
            "(needs root or CAP_NET_ADMIN)"
        )
    try:
        yield nets
    finally:
        nets.delete()
