"""Cluster keys as units: strength checks, the derived CA, the key a network-facing head gets."""

from __future__ import annotations

import datetime
import hashlib
import io
import os
import re
import shutil
import socket
import ssl
import stat
import subprocess
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pycluster import AuthenticationError, HeadNode, Settings
from pycluster.cluster import security
from pycluster.cluster.ports import split_address
from pycluster.cluster.security import (
    STRONG_KEY_BITS,
    _ca_seed,
    check_key,
    check_key_strength,
    cluster_ca,
    cluster_security,
    ensure_cluster_key,
    generate_key,
    is_generated_key,
    key_fingerprint,
    key_strength_bits,
    tls_address,
)
from pycluster.cluster.worker_options import WorkerOptions
from tests.helpers import cli

KEY = "correct-horse-battery-staple"
# 32 random letters and digits (made once with secrets.choice): a strong user-chosen key
RANDOM_32 = "uJxXwC2L4GF689YqpPiDZJzZxXXncgrk"
CA_NAME = "CN=pycluster cluster CA"


def old_fingerprints(key: str) -> list[str]:
    """The v1 fingerprint (one salted SHA-256) that was in every certificate, and its v2-salt twin."""
    raw = key.encode("utf-8", "surrogateescape")
    return [
        hashlib.sha256(salt + b"fingerprint" + raw).hexdigest()[:12]
        for salt in (b"pycluster-cluster-ca-v1", b"pycluster-cluster-ca-v2")
    ]


def peer_certificates(address: str) -> list[x509.Certificate]:
    """The certificates a TLS server at ``address`` sends to a client that has no certificate.

    The whole chain through ``openssl s_client -showcerts`` when it is installed (or
    ``get_unverified_chain()`` on Python 3.13+), else the leaf that ``ssl`` hands over.
    """
    host, port = split_address(address)
    if shutil.which("openssl"):
        shown = subprocess.run(
            ["openssl", "s_client", "-connect", f"{host}:{port}", "-showcerts"],
            input="",
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
        pems = re.findall(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", shown, re.S)
        assert pems, shown
        return [x509.load_pem_x509_certificate(pem.encode()) for pem in pems]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection((host, port), timeout=10) as sock, context.wrap_socket(sock) as tls:
        if hasattr(tls, "get_unverified_chain"):
            return [x509.load_der_x509_certificate(bytes(c)) for c in tls.get_unverified_chain()]
        return [x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))]


def key_free_fields(cert: x509.Certificate) -> dict[str, Any]:
    """Every field of a certificate but its public key, its signature, and what is random or the clock's."""
    return {
        "version": cert.version,
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "signature_algorithm": cert.signature_algorithm_oid,
        "lifetime": cert.not_valid_after_utc - cert.not_valid_before_utc,
        "extensions": sorted(
            (e.oid.dotted_string, e.critical, e.value.public_bytes()) for e in cert.extensions
        ),
    }


class ScryptSpy:
    """Records each hashlib.scrypt call's parameters and calls the real one."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[dict[str, Any]] = []
        self._real = hashlib.scrypt
        monkeypatch.setattr(security.hashlib, "scrypt", self)

    def __call__(self, password: bytes, **params: Any) -> bytes:
        self.calls.append(params)
        return self._real(password, **params)


# ------------------------------------------------------------------ key text and format
def test_empty_keys_are_refused_and_length_alone_is_no_rule() -> None:
    with pytest.raises(AuthenticationError, match="empty"):
        check_key("")
    with pytest.raises(AuthenticationError, match="empty"):
        check_key(b"")
    assert check_key("hello") == "hello"  # its strength is the head's question: check_key_strength
    assert check_key(KEY.encode()) == KEY
    assert not hasattr(security, "MIN_KEY_LENGTH")


def test_generated_keys_have_a_recognisable_format() -> None:
    key = generate_key()
    assert re.fullmatch(r"pyc1-[A-Za-z0-9_-]{43}", key) and is_generated_key(key)
    assert generate_key() != key
    assert is_generated_key("minimalcluster:" + key)  # a MasterNode's generated AUTHKEY
    assert not is_generated_key("pyc1-" + "A" * 43)  # 32 zero bytes: degenerate, so a user's key
    assert not is_generated_key(key[:-1])  # 42 characters
    assert not is_generated_key(key + "A")
    assert not is_generated_key("pyc1-" + key[5:-1] + "!")  # not base64url
    assert not is_generated_key(key[5:])  # the old token_urlsafe(32) keys: user-chosen from now on
    last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".index(key[-1])
    if last % 4 == 0:  # the last character carries 2 unused bits: a non-canonical twin is refused
        assert not is_generated_key(key[:-1] + "ABCD"[1])


# ------------------------------------------------------------------ what certificates reveal
def test_the_ca_is_derived_deterministically_and_differs_per_key() -> None:
    first, again = cluster_ca(KEY), cluster_ca.__wrapped__(KEY)  # the second one bypasses the cache
    cert, cert_again = (x509.load_pem_x509_certificate(c.cert_pem.encode()) for c in (first, again))
    assert cert.public_key() == cert_again.public_key()
    assert cert.subject == cert_again.subject and cert.serial_number == cert_again.serial_number
    other = x509.load_pem_x509_certificate(cluster_ca(KEY + "!").cert_pem.encode())
    assert other.public_key() != cert.public_key()
    assert KEY not in first.cert_pem


def test_no_ca_field_but_its_public_key_and_signature_depends_on_the_key() -> None:
    certs = [x509.load_pem_x509_certificate(cluster_ca(k).cert_pem.encode()) for k in (KEY, generate_key())]
    for cert in certs:
        assert cert.subject.rfc4514_string() == cert.issuer.rfc4514_string() == CA_NAME
        assert cert.serial_number == 1
        assert (cert.not_valid_before_utc.year, cert.not_valid_after_utc.year) == (2000, 2100)
    assert key_free_fields(certs[0]) == key_free_fields(certs[1])
    assert certs[0].public_key() != certs[1].public_key()
    for fingerprint in old_fingerprints(KEY):
        assert fingerprint not in certs[0].public_bytes(serialization.Encoding.PEM).decode()
        assert fingerprint.encode() not in certs[0].public_bytes(serialization.Encoding.DER)


def test_the_fingerprint_is_of_the_ca_public_key_so_it_costs_a_derivation() -> None:
    public = cluster_ca(KEY).private_key.public_key()
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert key_fingerprint(KEY) == hashlib.sha256(der).hexdigest()[:12]
    assert key_fingerprint(KEY) not in old_fingerprints(KEY)


def test_each_node_gets_its_own_leaf_signed_by_the_ca() -> None:
    a, b = cluster_security(KEY), cluster_security(KEY)
    assert a.require_encryption and a.tls_ca_file == b.tls_ca_file
    assert a.tls_worker_cert != b.tls_worker_cert and a.tls_worker_key != b.tls_worker_key
    leaf = x509.load_pem_x509_certificate(a.tls_worker_cert.encode())
    ca = x509.load_pem_x509_certificate(a.tls_ca_file.encode())
    leaf.verify_directly_issued_by(ca)
    assert leaf.serial_number != x509.load_pem_x509_certificate(b.tls_worker_cert.encode()).serial_number


@pytest.fixture(scope="module")
def two_keyed_heads() -> Iterator[tuple[tuple[str, HeadNode], tuple[str, HeadNode]]]:
    """Two real heads on 127.0.0.1, one with a generated key, one with a strong user-chosen key."""
    heads = []
    try:
        for name, key in (("generated", generate_key()), ("chosen", RANDOM_32)):
            head = HeadNode(
                name,
                scheduler_port=0,
                dask_dashboard_port=False,
                discovery_port=None,
                services=(),
                auth_key=key,
            )
            head.start(n_local_workers=0)
            heads.append((key, head))
        yield heads[0], heads[1]
    finally:
        for _, head in heads:
            head.shutdown()


def test_an_unauthenticated_client_learns_nothing_key_derived_from_the_scheduler(
    two_keyed_heads: tuple[tuple[str, HeadNode], tuple[str, HeadNode]],
) -> None:
    (key_a, head_a), (key_b, head_b) = two_keyed_heads
    chains = [peer_certificates(head.scheduler_address) for head in (head_a, head_b)]
    assert len(chains[0]) == len(chains[1]) >= 1
    leaves = [chain[0] for chain in chains]
    # OpenSSL sends the CA's certificate after the leaf (it completes the chain from the trust
    # store): in it too, nothing but the public key and the signature differs between keys
    for ca_a, ca_b in zip(chains[0][1:], chains[1][1:]):
        assert key_free_fields(ca_a) == key_free_fields(ca_b)
        assert ca_a.subject.rfc4514_string() == CA_NAME and ca_a.serial_number == ca_b.serial_number == 1
        assert ca_a.not_valid_before_utc == ca_b.not_valid_before_utc
        assert ca_a.not_valid_after_utc == ca_b.not_valid_after_utc
        assert ca_a.public_key() != ca_b.public_key()
    # the same for both keys: names, extensions, algorithm, lifetime...
    assert key_free_fields(leaves[0]) == key_free_fields(leaves[1])
    assert leaves[0].issuer.rfc4514_string() == CA_NAME
    assert leaves[0].subject.rfc4514_string() == "CN=pycluster-node"
    # ...the validity is the clock's (a day of allowed skew before now), the serial is random
    now = datetime.datetime.now(datetime.timezone.utc)
    for leaf in leaves:
        start = leaf.not_valid_before_utc + datetime.timedelta(days=1)
        assert now - datetime.timedelta(minutes=10) < start <= now
    assert leaves[0].serial_number != leaves[1].serial_number
    # what is left to test a guess with: the CA's signature, checked against a CA derived from the guess
    for leaf, key in zip(leaves, (key_a, key_b)):
        ca = x509.load_pem_x509_certificate(cluster_ca(key).cert_pem.encode())
        leaf.verify_directly_issued_by(ca)
    for chain, key in zip(chains, (key_a, key_b)):
        text = "".join(c.public_bytes(serialization.Encoding.PEM).decode() + str(c.subject) for c in chain)
        assert not any(f in text for f in old_fingerprints(key))
        assert key_fingerprint(key) not in text


# ------------------------------------------------------------------ derivation by kind of key
def test_generated_keys_derive_fast_and_user_keys_through_scrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    _ca_seed.cache_clear()  # seeds are cached per process: derive afresh here
    spy = ScryptSpy(monkeypatch)
    started = time.perf_counter()
    cluster_ca.__wrapped__(generate_key())
    fast = time.perf_counter() - started
    assert spy.calls == []
    started = time.perf_counter()
    cluster_ca.__wrapped__(RANDOM_32)
    slow = time.perf_counter() - started
    [params] = spy.calls
    assert (params["n"], params["r"], params["p"]) == (2**17, 8, 1)
    assert params["salt"] == b"pycluster-cluster-ca-v2" and params["maxmem"] >= 128 * 8 * 2**17
    cluster_ca.__wrapped__("pyc1-" + "A" * 43)  # degenerate bytes: a user's key, so scrypt
    assert len(spy.calls) == 2
    assert fast < slow / 5, (fast, slow)


# ------------------------------------------------------------------ strength, not length
def test_estimated_bits_decide_on_a_network_head() -> None:
    with pytest.raises(AuthenticationError) as refused:
        check_key_strength("correct horse battery staple", "0.0.0.0")
    message = str(refused.value)
    bits = key_strength_bits("correct horse battery staple")
    assert bits < STRONG_KEY_BITS and f"about {bits:.0f} bits" in message
    assert "offline" in message and "generate_key()" in message and "--weak-key-ok" in message
    assert check_key_strength(generate_key(), "0.0.0.0") == 256
    assert check_key_strength(RANDOM_32, "192.0.2.10") >= STRONG_KEY_BITS
    with pytest.raises(AuthenticationError):
        check_key_strength("a" * 200, "0.0.0.0")  # long is not strong
    with pytest.raises(AuthenticationError, match="empty"):
        check_key_strength("", "0.0.0.0")


def test_weak_keys_pass_with_a_warning_on_loopback_or_by_opt_in() -> None:
    for host, weak_key_ok in (("127.0.0.1", False), ("localhost", False), ("0.0.0.0", True)):
        with pytest.warns(UserWarning, match="weak"):
            assert check_key_strength("hello", host, weak_key_ok) < 10
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_key_strength(RANDOM_32, "127.0.0.1")  # a strong key: nothing to say


def test_public_prefixes_count_for_nothing_and_long_keys_are_estimated_fast() -> None:
    assert key_strength_bits("minimalcluster:hello") == key_strength_bits("hello") < 10
    assert key_strength_bits("minimalcluster:") == 0
    started = time.perf_counter()
    assert key_strength_bits(RANDOM_32 * 300) >= key_strength_bits(RANDOM_32)  # only 72 characters estimated
    assert time.perf_counter() - started < 5


def test_a_network_head_refuses_a_weak_key_before_anything_listens(tmp_path: Path) -> None:
    head = HeadNode(
        "weak", host="0.0.0.0", scheduler_port=0, dashboard_port=0, dask_dashboard_port=False,
        discovery_port=None, services=(), auth_key="correct horse battery staple", state_dir=str(tmp_path),
    )  # fmt: skip
    with pytest.raises(AuthenticationError, match=r"too weak for a head on 0\.0\.0\.0"):
        head.start()
    assert head._scheduler is None and not head.is_running
    assert HeadNode(host="0.0.0.0", weak_key_ok=True).settings.cluster.weak_key_ok
    assert Settings.load(False, env={"PYCLUSTER_WEAK_KEY_OK": "1"}).cluster.weak_key_ok
    assert not Settings.load(False, env={}).cluster.weak_key_ok


def _env_without_keys() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in {"PYCLUSTER_AUTH_KEY", "PYCLUSTER_WEAK_KEY_OK"}}


def test_cli_head_refuses_a_weak_key_on_the_network_without_a_traceback(tmp_path: Path) -> None:
    result = cli(
        "head", "--host", "0.0.0.0", "--auth-key", "hello", "--scheduler-port", "0",
        "--dashboard-port", "0", "--dask-dashboard-port", "off", "--no-discovery",
        "--local-workers", "0", "--state-dir", str(tmp_path),
        env=_env_without_keys(),
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "too weak" in result.stderr and "--weak-key-ok" in result.stderr and "offline" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "is running" not in result.stdout
    # typed on the command line, the key is visible to every user (ps): said on stderr
    assert "--auth-key on the command line is visible" in result.stderr
    helped = cli("head", "--help", env=_env_without_keys())
    assert helped.returncode == 0 and "--weak-key-ok" in helped.stdout


# ------------------------------------------------------------------ other key plumbing
def test_worker_options_carry_the_key_off_the_command_line() -> None:
    options = WorkerOptions.create("tcp://127.0.0.1:8786", auth_key=KEY)
    assert options.scheduler_address == "tls://127.0.0.1:8786"
    assert KEY not in " ".join(options.to_argv()) and KEY not in repr(options)
    assert tls_address("127.0.0.1:1") == "tls://127.0.0.1:1"
    with pytest.raises(AuthenticationError):
        WorkerOptions.create("tcp://127.0.0.1:8786", auth_key="")


def test_network_facing_head_gets_a_generated_key_stored_user_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    said: list[str] = []
    settings = Settings.load(False, env={}, host="0.0.0.0")
    key = ensure_cluster_key(settings, tmp_path, announce=said.append)
    assert key and is_generated_key(key) and settings.cluster.auth_key == key
    stored = tmp_path / "cluster_key"
    assert stored.read_text() == key and stat.S_IMODE(stored.stat().st_mode) == 0o600
    # not a terminal (a service's journal, a CI log): the path is said, never the key
    assert key not in "".join(said) and str(stored) in said[0]
    assert "pycluster worker --scheduler tls://" in said[1]
    again = Settings.load(False, env={}, host="0.0.0.0")
    assert ensure_cluster_key(again, tmp_path, announce=said.append) == key
    assert key not in said[2]
    # on a terminal the person starting the head sees the key once
    monkeypatch.setattr("sys.stderr", _Terminal())
    said.clear()
    ensure_cluster_key(Settings.load(False, env={}, host="0.0.0.0"), tmp_path / "new", announce=said.append)
    assert (tmp_path / "new" / "cluster_key").read_text() in said[0]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_loopback_heads_get_a_key_too_insecure_and_given_keys(tmp_path: Path) -> None:
    said: list[str] = []
    loopback = Settings.load(False, env={})
    key = ensure_cluster_key(loopback, tmp_path / "local", announce=said.append)
    # local workers and clients read it from the head's connection file: nothing is said
    assert key and (tmp_path / "local" / "cluster_key").read_text() == key and said == []
    open_head = Settings.load(False, env={}, host="0.0.0.0")
    assert ensure_cluster_key(open_head, tmp_path, insecure=True, announce=said.append) is None
    assert "WARNING" in said[0] and "run code" in said[0]
    given = Settings.load(False, env={"PYCLUSTER_AUTH_KEY": KEY}, host="0.0.0.0")
    assert ensure_cluster_key(given, tmp_path) == KEY
    assert not (tmp_path / "cluster_key").exists()
    weak = Settings.load(False, env={}, host="0.0.0.0", auth_key="hello")
    assert ensure_cluster_key(weak, tmp_path) == "hello"  # the head then refuses it: check_key_strength


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    settings = Settings.load(False, env={}, host="0.0.0.0")
    ensure_cluster_key(settings, tmp_path, announce=lambda _: None)
    (tmp_path / "cluster_key").chmod(0o644)
    with pytest.raises(AuthenticationError, match=r"chmod 600 .*cluster_key"):
        ensure_cluster_key(Settings.load(False, env={}, host="0.0.0.0"), tmp_path, announce=lambda _: None)


def test_settings_repr_hides_secrets() -> None:
    settings = Settings.load(False, env={"PYCLUSTER_AUTH_KEY": KEY, "PYCLUSTER_API_TOKEN": "tok-" + KEY})
    assert KEY not in repr(settings) and KEY not in repr(settings.cluster)
    assert "scheduler_port=8786" in repr(settings.cluster)
