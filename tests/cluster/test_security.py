"""Cluster keys as units: strength checks, the derived CA, the key a network-facing head gets."""

from __future__ import annotations

import io
import stat
from pathlib import Path

import pytest
from cryptography import x509

from pycluster import AuthenticationError, Settings
from pycluster.cluster.security import (
    check_key,
    cluster_ca,
    cluster_security,
    ensure_cluster_key,
    key_fingerprint,
    tls_address,
)
from pycluster.cluster.worker_options import WorkerOptions

KEY = "correct-horse-battery-staple"


def test_short_or_empty_keys_are_refused_with_what_to_do() -> None:
    with pytest.raises(AuthenticationError, match="at least 16"):
        check_key("hello")
    with pytest.raises(AuthenticationError, match="empty"):
        check_key("")
    assert check_key("hello", allow_short=True) == "hello"
    assert check_key(KEY.encode()) == KEY


def test_the_ca_is_derived_deterministically_and_differs_per_key() -> None:
    first, again = cluster_ca(KEY), cluster_ca.__wrapped__(KEY)  # the second one bypasses the cache
    cert, cert_again = (x509.load_pem_x509_certificate(c.cert_pem.encode()) for c in (first, again))
    assert cert.public_key() == cert_again.public_key()
    assert cert.subject == cert_again.subject and cert.serial_number == cert_again.serial_number
    assert key_fingerprint(KEY) in cert.subject.rfc4514_string()
    other = x509.load_pem_x509_certificate(cluster_ca(KEY + "!").cert_pem.encode())
    assert other.public_key() != cert.public_key()
    assert KEY not in first.cert_pem


def test_each_node_gets_its_own_leaf_signed_by_the_ca() -> None:
    a, b = cluster_security(KEY), cluster_security(KEY)
    assert a.require_encryption and a.tls_ca_file == b.tls_ca_file
    assert a.tls_worker_cert != b.tls_worker_cert and a.tls_worker_key != b.tls_worker_key
    leaf = x509.load_pem_x509_certificate(a.tls_worker_cert.encode())
    ca = x509.load_pem_x509_certificate(a.tls_ca_file.encode())
    leaf.verify_directly_issued_by(ca)


def test_worker_options_carry_the_key_off_the_command_line() -> None:
    options = WorkerOptions.create("tcp://127.0.0.1:8786", auth_key=KEY)
    assert options.scheduler_address == "tls://127.0.0.1:8786"
    assert KEY not in " ".join(options.to_argv()) and KEY not in repr(options)
    assert tls_address("127.0.0.1:1") == "tls://127.0.0.1:1"
    with pytest.raises(AuthenticationError):
        WorkerOptions.create("tcp://127.0.0.1:8786", auth_key="short")


def test_network_facing_head_gets_a_generated_key_stored_user_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    said: list[str] = []
    settings = Settings.load(False, env={}, host="0.0.0.0")
    key = ensure_cluster_key(settings, tmp_path, announce=said.append)
    assert key and len(key) >= 32 and settings.cluster.auth_key == key
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
