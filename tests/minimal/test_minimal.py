"""pycluster.minimal as minimalcluster's users run it: real masters and workers on 127.0.0.1."""

from __future__ import annotations

import runpy
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pycluster import ArgumentError, AuthenticationError, RemoteCallError
from pycluster.cluster.security import _ca_seed, cluster_ca, cluster_security, key_strength_bits
from pycluster.compat.minimal.keys import PREFIX
from pycluster.minimal import MasterNode, WorkerNode
from tests.cluster.test_security import (
    RANDOM_32,
    ScryptSpy,
    key_free_fields,
    old_fingerprints,
    peer_certificates,
)
from tests.helpers import wait_for

EXAMPLES = Path(__file__).parents[2] / "examples" / "minimal"
AUTHKEY = "minimal-test-authkey-0123"


@pytest.fixture(scope="module")
def master() -> Iterator[MasterNode]:
    node = MasterNode("127.0.0.1", 0, AUTHKEY)
    node.start_master_server()  # joins as a worker: one process per core
    yield node
    node.shutdown()


def test_pi_example(master: MasterNode) -> None:
    envir = (
        "from random import random\nthrow = lambda x: 1 if (random()*2-1)**2 + (random()*2-1)**2 < 1 else 0\n"
    )
    master.load_envir(envir, from_file=False)
    master.register_target_function("throw")
    n = 200_000
    master.load_args(range(n))
    result = master.execute()
    assert len(result) == n and set(result.values()) == {0, 1}
    assert abs(4.0 * sum(result.values()) / n - 3.1416) < 0.03
    hosts = master.list_workers()
    assert len(hosts) >= 1 and all(len(w) == 4 for w in hosts)


def test_factorisation_example_from_an_envir_file(master: MasterNode, tmp_path: Path) -> None:
    source = (EXAMPLES / "factorize.py").read_text()
    envir = source.split('envir_statement = """', 1)[1].split('"""', 1)[0]
    (tmp_path / "envir.py").write_text(envir)
    master.load_envir(str(tmp_path / "envir.py"))
    master.register_target_function("example_factorize_naive")
    nums = [999999999999 + 2 * i for i in range(60)]
    master.load_args(nums)
    result = master.execute()
    namespace: dict[str, object] = {}
    exec(envir, namespace)
    assert result == {n: namespace["example_factorize_naive"](n) for n in nums}  # type: ignore[operator]


def test_tuple_arguments_and_lists_in_order(master: MasterNode) -> None:
    master.load_envir("f = lambda x: x[0] + x[1]", from_file=False)
    master.register_target_function("f")
    master.load_args([(1, 2), (3, 4), (5, 6), (7, 8)])
    assert master.execute() == {(1, 2): 3, (3, 4): 7, (5, 6): 11, (7, 8): 15}
    master.load_args([[1, 2], [1, 2], [0, 5]])  # unhashable and duplicate: fine as a list
    assert master.execute(as_list=True) == [3, 3, 5]
    with pytest.raises(ArgumentError, match=r"hashable.*as_list=True"):
        master.execute()
    master.load_args([(1, 2), (1, 2)])
    with pytest.raises(ArgumentError, match=r"\(1, 2\) appears more than once"):
        master.execute()


def test_a_failing_call_names_its_argument_instead_of_hanging(master: MasterNode) -> None:
    master.load_envir("def inv(x):\n    return 1 / x\n", from_file=False)
    master.register_target_function("inv")
    master.load_args(list(range(-50, 50)))
    with pytest.raises(RemoteCallError, match=r"inv\(0\) failed.*ZeroDivisionError") as info:
        master.execute()
    assert info.value.argument == 0 and isinstance(info.value.__cause__, ZeroDivisionError)
    master.register_target_function("missing")
    with pytest.raises(RemoteCallError, match="does not define a function named 'missing'"):
        master.execute()


def test_a_worker_with_another_authkey_is_refused(master: MasterNode) -> None:
    with pytest.raises(AuthenticationError, match="does not match"):
        WorkerNode("127.0.0.1", master.PORT, "not-the-master-authkey", nprocs=1, quiet=True).join_cluster(5)


def test_a_guessable_authkey_is_refused_on_a_network_master_before_anything_starts() -> None:
    """The attack chain of issue 23 began with ``MasterNode(HOST="0.0.0.0", AUTHKEY=b"hello")``."""
    for authkey in (b"hello", "minimalcluster:hello", "correct horse battery staple"):
        with pytest.raises(AuthenticationError, match=r"AUTHKEY.*too weak.*weak_key_ok=True"):
            MasterNode("0.0.0.0", 0, authkey)
    # the "minimalcluster:" prefix counts for nothing: estimated alone, the AUTHKEY is as weak
    assert key_strength_bits(PREFIX + "hello") == key_strength_bits("hello") < 10
    assert MasterNode("0.0.0.0", 0, b"hello", weak_key_ok=True).server_status == "off"  # nothing bound yet
    MasterNode("0.0.0.0", 0, RANDOM_32)  # a strong AUTHKEY, or a random one, needs no opt-in
    MasterNode("0.0.0.0", 0, None)


def test_the_attack_chain_finds_nothing_to_check_a_guess_against_but_scrypt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With weak_key_ok the weak key is accepted, but its certificates leak nothing faster than scrypt."""
    with pytest.warns(UserWarning, match="weak"):
        master = MasterNode("127.0.0.1", 0, b"hello", weak_key_ok=True)
        master.start_master_server(if_join_as_worker=False)
    try:
        chain = peer_certificates(master.scheduler_address)  # as a stranger without a certificate
    finally:
        master.shutdown()
    other = cluster_security(PREFIX + "another-authkey")
    other_chain = [
        x509.load_pem_x509_certificate(p.encode()) for p in (other.tls_scheduler_cert, other.tls_ca_file)
    ]
    # step 1 of the attack read a key-derived name from the certificate: now there is none
    for cert, twin in zip(chain, other_chain):
        assert key_free_fields(cert) == key_free_fields(twin)
        text = cert.public_bytes(serialization.Encoding.PEM).decode() + cert.subject.rfc4514_string()
        assert not any(f in text for f in old_fingerprints(PREFIX + "hello"))
    # step 2 can only test a guess against the CA's signature, and deriving a CA runs scrypt N=2**17
    _ca_seed.cache_clear()  # seeds are cached per process: derive afresh, as an attacker would
    spy = ScryptSpy(monkeypatch)
    guessed = x509.load_pem_x509_certificate(cluster_ca.__wrapped__(PREFIX + "hello").cert_pem.encode())
    chain[0].verify_directly_issued_by(guessed)
    assert [(c["n"], c["r"], c["p"]) for c in spy.calls] == [(2**17, 8, 1)]


def _join_in_thread(worker: WorkerNode) -> threading.Thread:
    thread = threading.Thread(target=worker.join_cluster, daemon=True)
    thread.start()
    wait_for(lambda: worker.worker_addresses, 60, what="the worker to join")
    return thread


@pytest.mark.slow  # MasterNode and worker shutdowns wait on each other (issue 14)
def test_workers_join_and_leave_during_execute_without_losing_results() -> None:
    master = MasterNode("127.0.0.1", 0, b"hello")  # the original's style of key: on loopback, a warning
    with pytest.warns(UserWarning, match="weak"):
        master.start_master_server(if_join_as_worker=False)
    first = WorkerNode("127.0.0.1", master.PORT, b"hello", nprocs=1, quiet=True)
    second = WorkerNode("127.0.0.1", master.PORT, b"hello", nprocs=1, quiet=True)
    try:
        threads = [_join_in_thread(first)]
        master.load_envir(
            "import time\ndef slow(x):\n    time.sleep(0.02)\n    return x * x\n", from_file=False
        )
        master.register_target_function("slow")
        master.load_args(range(300))
        outcome: dict[str, object] = {}
        runner = threading.Thread(target=lambda: outcome.update(result=master.execute()))
        runner.start()
        threads.append(_join_in_thread(second))  # joins mid-run
        time.sleep(0.5)
        first.shutdown()  # and the first one leaves mid-run
        runner.join(120)
        assert outcome["result"] == {x: x * x for x in range(300)}
    finally:
        first.shutdown()
        second.shutdown()
        master.shutdown()


def test_tuple_example_runs_as_a_script() -> None:
    runpy.run_path(str(EXAMPLES / "tuple_args.py"), run_name="__main__")
