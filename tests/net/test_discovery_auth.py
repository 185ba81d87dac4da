"""Discovery answers are authenticated: forged, replayed and unsigned answers are never joined.

A fake responder here is a plain UDP socket on 127.0.0.x that answers every probe with
whatever the test forges; the real head is a keyed HeadNode on 127.0.0.1. The forged
scheduler is a TCP listener that counts who connects to it: a worker that believed the
forgery would connect there.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import select
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pycluster import DiscoveryError, HeadNode, NetworkDiscovery
from pycluster.net import discover_clusters_broadcast, find_cluster, probe_head
from pycluster.net.protocol import (
    MAX_ANNOUNCE_SIZE,
    decode_probe,
    discovery_key,
    encode_announce,
    encode_probe,
)
from pycluster.net.responder import DiscoveryResponder
from tests.helpers import CliProcess, cli, wait_for

# generated, as keys should be: strong enough for any key-strength rule
KEY = secrets.token_urlsafe(32)
WRONG_KEY = secrets.token_urlsafe(32)


def env_without_key(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYCLUSTER_AUTH_KEY", "PYCLUSTER_API_TOKEN"}}
    return {**env, **extra}


@pytest.fixture(scope="module")
def keyed_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeadNode]:
    node = HeadNode(
        "disc-auth",
        host="127.0.0.1",
        scheduler_port=0,
        dashboard_port=0,
        dask_dashboard_port=False,
        discovery_port=0,
        auth_key=KEY,
        state_dir=str(tmp_path_factory.mktemp("disc-auth-state")),
    )
    node.start()
    yield node
    node.shutdown()


def discovery_port(head: HeadNode) -> int:
    return int(head.get_connection_info()["discovery_port"])


class FakeScheduler:
    """A TCP listener standing in for a forged scheduler: counts the connections it is offered."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.address = f"tcp://127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted: list[socket.socket] = []

    def connections(self) -> int:
        while select.select([self.sock], [], [], 0)[0]:
            self.accepted.append(self.sock.accept()[0])
        return len(self.accepted)

    def close(self) -> None:
        for conn in self.accepted:
            conn.close()
        self.sock.close()


class FakeResponder:
    """Answers every probe on ``host:port`` with ``forge(nonce)``; counts the probes it saw."""

    def __init__(self, forge: Callable[[str], bytes], host: str = "127.0.0.1", port: int = 0) -> None:
        self.forge = forge
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.probes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            nonce = decode_probe(data)
            if nonce is not None:
                self.probes += 1
                self.sock.sendto(self.forge(nonce), addr)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@pytest.fixture
def fake_scheduler() -> Iterator[FakeScheduler]:
    fake = FakeScheduler()
    yield fake
    fake.close()


def forged_info(scheduler_address: str, port: int, **changes: Any) -> dict[str, Any]:
    """An answer as a real head would give it, naming ``scheduler_address``."""
    return {
        "cluster_name": "disc-auth",
        "scheduler_address": scheduler_address,
        "dashboard_url": None,
        "version": "0.1.0",
        "requires_key": False,
        "requires_token": False,
        "host": "127.0.0.1",
        "scheduler_port": int(scheduler_address.rsplit(":", 1)[1]),
        "dashboard_port": None,
        "discovery_port": port,
        **changes,
    }


@contextlib.contextmanager
def fake_responder(
    forge: Callable[[str], bytes], host: str = "127.0.0.1", port: int = 0
) -> Iterator[FakeResponder]:
    fake = FakeResponder(forge, host, port)
    try:
        yield fake
    finally:
        fake.close()


# ------------------------------------------------------------------ the Python API
def test_the_real_head_verifies_with_its_key_and_not_with_another(keyed_head: HeadNode) -> None:
    port = discovery_port(keyed_head)
    (found,) = discover_clusters_broadcast(0.5, "127.0.0.1", port, auth_key=KEY)
    assert found["verified"] is True
    assert found["scheduler_address"] == keyed_head.scheduler_address
    assert found["scheduler_address"].startswith("tls://")
    assert found["requires_key"] is True  # the cluster key, for the TLS scheduler
    assert found["requires_token"] is bool(keyed_head.settings.cluster.api_token)  # the API token
    (other,) = discover_clusters_broadcast(0.5, "127.0.0.1", port, auth_key=WRONG_KEY)
    assert other["verified"] is False
    probed = probe_head("127.0.0.1", port, timeout=1, auth_key=KEY)
    assert probed is not None and probed["verified"] is True
    assert (
        find_cluster(0.5, "127.0.0.1", port, auth_key=KEY)["scheduler_address"]
        == keyed_head.scheduler_address
    )
    discovery = NetworkDiscovery(discovery_port=port, auth_key=KEY)
    assert discovery.find_cluster(0.5, "127.0.0.1")["verified"] is True
    assert KEY not in repr(discovery)


def test_the_answer_never_carries_the_key_or_the_derived_key(keyed_head: HeadNode) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.sendto(encode_probe("raw-nonce"), ("127.0.0.1", discovery_port(keyed_head)))
        data, _ = sock.recvfrom(4096)
    derived = discovery_key(KEY)
    for secret in (KEY.encode(), derived, derived.hex().encode(), derived[:6].hex().encode()):
        assert secret not in data
    message = json.loads(data)
    assert len(message["mac"]) == 64 and message["requires_key"] is True


def test_a_forged_tcp_scheduler_beside_the_real_head_is_listed_unverified_and_never_chosen(
    keyed_head: HeadNode, fake_scheduler: FakeScheduler
) -> None:
    port = discovery_port(keyed_head)
    unsigned = forged_info(fake_scheduler.address, port)
    # the same port on 127.0.0.2: one probe to both addresses reaches both answerers
    with fake_responder(lambda nonce: encode_announce(unsigned, nonce), "127.0.0.2", port):
        found = discover_clusters_broadcast(1.0, ["127.0.0.1", "127.0.0.2"], port, auth_key=KEY)
        assert {(c["scheduler_address"], c["verified"]) for c in found} == {
            (keyed_head.scheduler_address, True),
            (fake_scheduler.address, False),
        }
        chosen = find_cluster(1.0, ["127.0.0.1", "127.0.0.2"], port, auth_key=KEY)
        assert chosen["scheduler_address"] == keyed_head.scheduler_address
    assert fake_scheduler.connections() == 0


@pytest.mark.parametrize("how", ["unsigned", "bad mac", "signed with another key"])
def test_forged_answers_alone_are_refused_with_a_count(fake_scheduler: FakeScheduler, how: str) -> None:
    def forge(nonce: str) -> bytes:
        info = forged_info(fake_scheduler.address, 8788)
        if how == "unsigned":
            return encode_announce(info, nonce)
        if how == "signed with another key":
            return encode_announce(info, nonce, key=discovery_key(WRONG_KEY))
        message = json.loads(encode_announce(info, nonce))
        return json.dumps({**message, "mac": "ab" * 32}).encode()

    with fake_responder(forge) as fake:
        found = discover_clusters_broadcast(0.5, "127.0.0.1", fake.port, auth_key=KEY)
        assert [c["verified"] for c in found] == [False]  # listed, marked
        with pytest.raises(DiscoveryError, match="1 head answered but none proved it holds the cluster key"):
            find_cluster(0.5, "127.0.0.1", fake.port, auth_key=KEY)
    assert fake_scheduler.connections() == 0


def test_a_forged_answer_naming_the_real_address_does_not_hide_the_real_one(keyed_head: HeadNode) -> None:
    port = discovery_port(keyed_head)
    impostor = forged_info(keyed_head.scheduler_address, port)  # unsigned, same address
    with fake_responder(lambda nonce: encode_announce(impostor, nonce), "127.0.0.2", port):
        for _ in range(3):  # whichever answer arrives first
            (found,) = discover_clusters_broadcast(0.5, ["127.0.0.2", "127.0.0.1"], port, auth_key=KEY)
            assert found["verified"] is True


def test_a_genuine_answer_replayed_to_a_new_probe_does_not_verify(keyed_head: HeadNode) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.sendto(encode_probe("recorded-nonce"), ("127.0.0.1", discovery_port(keyed_head)))
        recorded, _ = sock.recvfrom(MAX_ANNOUNCE_SIZE)

    def replay_as_is(nonce: str) -> bytes:
        return recorded

    def replay_with_new_nonce(nonce: str) -> bytes:
        return json.dumps({**json.loads(recorded), "nonce": nonce}).encode()

    with fake_responder(replay_as_is) as fake:
        assert discover_clusters_broadcast(0.5, "127.0.0.1", fake.port, auth_key=KEY) == []
    with fake_responder(replay_with_new_nonce) as fake:
        (found,) = discover_clusters_broadcast(0.5, "127.0.0.1", fake.port, auth_key=KEY)
        assert found["scheduler_address"] == keyed_head.scheduler_address and found["verified"] is False
        with pytest.raises(DiscoveryError, match="none proved it holds the cluster key"):
            find_cluster(0.5, "127.0.0.1", fake.port, auth_key=KEY)


def test_without_a_key_find_cluster_refuses_before_probing_unless_insecure(
    fake_scheduler: FakeScheduler,
) -> None:
    info = forged_info(fake_scheduler.address, 8788)
    with fake_responder(lambda nonce: encode_announce(info, nonce)) as fake:
        with pytest.raises(DiscoveryError, match="without a cluster key cannot tell a real head"):
            find_cluster(0.5, "127.0.0.1", fake.port, auth_key="")
        assert fake.probes == 0
        chosen = find_cluster(0.5, "127.0.0.1", fake.port, auth_key="", insecure=True)
        assert chosen["scheduler_address"] == fake_scheduler.address and chosen["verified"] is False


def test_a_responder_without_a_key_sends_unsigned_answers() -> None:
    """A head whose auth_key is None: requires_key false, no MAC, never verified."""

    async def ask() -> bytes:
        responder = DiscoveryResponder(
            lambda: forged_info("tcp://127.0.0.1:9", 0), requires_key=False, requires_token=True, key=None
        )
        await responder.start("127.0.0.1", 0)
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            await loop.sock_connect(sock, ("127.0.0.1", responder.port))
            await loop.sock_sendall(sock, encode_probe("n"))
            data = await asyncio.wait_for(loop.sock_recv(sock, 4096), 5)
        responder.close()
        return data

    message = json.loads(asyncio.run(ask()))
    assert "mac" not in message
    assert message["requires_key"] is False and message["requires_token"] is True


# ------------------------------------------------------------------ the CLI, as real subprocesses
def test_a_keyed_worker_ignores_a_forged_tcp_scheduler(fake_scheduler: FakeScheduler) -> None:
    info = forged_info(fake_scheduler.address, 8788)
    with fake_responder(lambda nonce: encode_announce(info, nonce)) as fake:
        done = cli(
            "worker", "--discover", "--broadcast-address", "127.0.0.1", "--discovery-port", str(fake.port),
            "--discover-timeout", "0.5", "--connect-timeout", "2",
            env=env_without_key(PYCLUSTER_AUTH_KEY=KEY),
        )  # fmt: skip
        assert fake.probes == 1
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 head answered but none proved it holds the cluster key" in done.stderr
    assert "joining" not in done.stdout
    assert fake_scheduler.connections() == 0


def test_a_keyed_worker_joins_the_real_keyed_head(keyed_head: HeadNode) -> None:
    worker = CliProcess(
        "worker", "--discover", "--broadcast-address", "127.0.0.1",
        "--discovery-port", str(discovery_port(keyed_head)), "--discover-timeout", "1",
        "--workers", "1", "--threads", "1", "--name", "disc-auth-worker",
        env=env_without_key(PYCLUSTER_AUTH_KEY=KEY),
    )  # fmt: skip
    try:
        worker.wait_for_line(
            rf"discovered 'disc-auth' at {keyed_head.scheduler_address} .*verified\); joining it"
        )
        worker.wait_for_line("PYCLUSTER-WORKERS-READY")
        wait_for(lambda: keyed_head.get_cluster_status()["n_workers"] == 1, timeout=30, what="the worker")
        assert "WARNING" not in worker.output
    finally:
        worker.stop()


def test_discover_without_a_key_exits_with_the_message_and_sends_nothing(
    fake_scheduler: FakeScheduler,
) -> None:
    info = forged_info(fake_scheduler.address, 8788)
    with fake_responder(lambda nonce: encode_announce(info, nonce)) as fake:
        done = cli(
            "worker", "--discover", "--broadcast-address", "127.0.0.1", "--discovery-port", str(fake.port),
            "--discover-timeout", "0.5", env=env_without_key(),
        )  # fmt: skip
        assert fake.probes == 0
    assert done.returncode == 1
    assert "--discover without a cluster key cannot tell a real head" in done.stderr
    assert "--insecure" in done.stderr and "--auth-key" in done.stderr
    assert fake_scheduler.connections() == 0


def test_discover_insecure_without_a_key_joins_an_unverified_answer_with_a_warning(
    fake_scheduler: FakeScheduler,
) -> None:
    info = forged_info(fake_scheduler.address, 8788)
    with fake_responder(lambda nonce: encode_announce(info, nonce)) as fake:
        worker = CliProcess(
            "worker", "--discover", "--insecure", "--broadcast-address", "127.0.0.1",
            "--discovery-port", str(fake.port), "--discover-timeout", "0.5", "--connect-timeout", "2",
            "--workers", "1", "--threads", "1", env=env_without_key(),
        )  # fmt: skip
        try:
            worker.wait_for_line("WARNING: joining .* without verifying it")
            worker.wait_for_line(
                rf"discovered 'disc-auth' at {fake_scheduler.address} .*NOT verified\); joining"
            )
            # it went on to the (forged) scheduler: exactly the risk --insecure accepts
            wait_for(fake_scheduler.connections, timeout=30, what="the worker connecting")
        finally:
            worker.stop()


def test_discover_lists_unverified_answers_and_marks_each(keyed_head: HeadNode) -> None:
    port = str(discovery_port(keyed_head))
    args = ("discover", "--broadcast-address", "127.0.0.1", "--port", port, "--timeout", "0.5")
    with_key = cli(*args, "--json", env=env_without_key(PYCLUSTER_AUTH_KEY=KEY))
    assert with_key.returncode == 0, with_key.stderr
    (found,) = json.loads(with_key.stdout)
    assert found["verified"] is True and found["requires_key"] is True
    assert found["requires_token"] is bool(keyed_head.settings.cluster.api_token)
    without = cli(*args, env=env_without_key())
    assert without.returncode == 0, without.stderr
    header, row = without.stdout.splitlines()
    assert row.split()[header.split().index("VERIFIED")] == "NO"
    assert "1 of 1 not verified" in without.stderr
    table = cli(*args, env=env_without_key(PYCLUSTER_AUTH_KEY=KEY))
    header, row = table.stdout.splitlines()
    assert row.split()[header.split().index("VERIFIED")] == "yes"
    assert "not verified" not in table.stderr
    assert KEY not in with_key.stdout + without.stdout + table.stdout
