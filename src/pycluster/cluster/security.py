"""One shared key -> a cluster CA -> per-node certificates -> Dask ``Security`` objects.

A cluster with a key speaks only TLS (``tls://``), with mutual authentication:
every node and client derives the same CA from the key, issues itself a fresh
leaf certificate signed by that CA, and trusts no other CA. Nobody copies
certificate files; the key is all a person carries to another machine.

>>> sec = cluster_security("correct horse battery staple")
>>> sec.require_encryption
True

Derivation (fixed, so every node agrees): ``scrypt(key, salt="pycluster-cluster-ca-v1",
n=2**14, r=8, p=1)`` -> 32 bytes -> a P-256 private scalar -> a self-signed CA
certificate whose name, serial number and validity (2000-2100) are fixed. scrypt
rather than a fast KDF because anyone who can open a TLS connection to a node sees
signatures by the CA and can test guessed keys offline; scrypt makes each guess cost
~50 ms and 16 MiB. See README "Cluster keys" for the threat model.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import hashlib
import ipaddress
import logging
import secrets
import socket
import ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AuthenticationError
from .secret_files import say_secret, secret_in_file

if TYPE_CHECKING:
    from ..config import Settings

__all__ = [
    "MIN_KEY_LENGTH",
    "ClusterCA",
    "check_key",
    "check_scheduler_key",
    "cluster_ca",
    "cluster_security",
    "ensure_cluster_key",
    "generate_key",
    "key_fingerprint",
    "scheduler_security",
    "speaks_tls",
    "tls_address",
]

MIN_KEY_LENGTH = 16
_SALT = b"pycluster-cluster-ca-v1"
_CA_NAME = "pycluster cluster CA"
_NODE_NAME = "pycluster-node"
_EPOCH = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
_END = datetime.datetime(2100, 1, 1, tzinfo=datetime.timezone.utc)


def generate_key() -> str:
    """A fresh random cluster key: 256 bits, URL-safe text (43 characters)."""
    return secrets.token_urlsafe(32)


def check_key(key: str | bytes, allow_short: bool = False) -> str:
    """The key as text; :class:`AuthenticationError` when it is empty or shorter than 16 characters."""
    text = key.decode("utf-8", "surrogateescape") if isinstance(key, bytes) else str(key)
    if not text:
        raise AuthenticationError("the cluster key is empty: pass --auth-key or set PYCLUSTER_AUTH_KEY")
    if len(text) < MIN_KEY_LENGTH and not allow_short:
        raise AuthenticationError(
            f"the cluster key has {len(text)} characters; use at least {MIN_KEY_LENGTH} "
            "random ones (generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return text


def key_fingerprint(key: str) -> str:
    """A short public name for a key (safe to print and compare; reveals nothing useful)."""
    return hashlib.sha256(_SALT + b"fingerprint" + key.encode("utf-8", "surrogateescape")).hexdigest()[:12]


@dataclass(frozen=True)
class ClusterCA:
    """The CA every holder of the key derives identically: its certificate and private key."""

    cert_pem: str
    private_key: Any  # cryptography EllipticCurvePrivateKey

    def issue(self) -> tuple[str, str]:
        """A fresh leaf key and certificate for this node, signed by the CA: (cert PEM, key PEM)."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        leaf_key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, _NODE_NAME)])
        ca_cert = x509.load_pem_x509_certificate(self.cert_pem.encode())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(ca_cert.subject)
            .public_key(leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))  # tolerate clock skew between machines
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(_NODE_NAME)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(self.private_key, hashes.SHA256())
        )
        key_pem = leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


@functools.lru_cache(maxsize=8)
def cluster_ca(key: str) -> ClusterCA:
    """Derive the cluster CA from ``key`` (deterministic: same key, same CA key and name)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    seed = hashlib.scrypt(key.encode("utf-8", "surrogateescape"), salt=_SALT, n=2**14, r=8, p=1, dklen=32)
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551  # of P-256
    private_key = ec.derive_private_key(int.from_bytes(seed, "big") % (order - 1) + 1, ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, f"{_CA_NAME} {key_fingerprint(key)}")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(int.from_bytes(seed[:8], "big") >> 1 or 1)
        .not_valid_before(_EPOCH)
        .not_valid_after(_END)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(private_key, hashes.SHA256())
    )
    return ClusterCA(cert.public_bytes(serialization.Encoding.PEM).decode(), private_key)


def cluster_security(key: str | bytes, allow_short: bool = False) -> Any:
    """A ``distributed.security.Security`` for every role, trusting only the key's CA.

    ``require_encryption=True``: nodes and clients using it refuse plain ``tcp://``.
    """
    from distributed.security import Security

    ca = cluster_ca(check_key(key, allow_short))
    cert, private_key = ca.issue()
    roles = ("client", "scheduler", "worker")
    pairs = (("cert", cert), ("key", private_key))
    files = {f"tls_{role}_{kind}": value for role in roles for kind, value in pairs}
    return Security(require_encryption=True, tls_ca_file=ca.cert_pem, **files)


def tls_address(address: str) -> str:
    """``tcp://host:port`` or ``host:port`` -> ``tls://host:port``."""
    return "tls://" + address.split("://", 1)[-1]


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    return host.strip("[]"), int(port)


def _speaks_first(sock: socket.socket, wait: float = 0.3) -> bool:
    """A plain Dask server sends its handshake as soon as a connection opens; a TLS server waits."""
    sock.settimeout(wait)
    try:
        sock.recv(1)  # data, or b"" when it closed on us: either way not a TLS server waiting for a hello
    except TimeoutError:
        return False
    return True


def speaks_tls(address: str, timeout: float = 2.0) -> bool:
    """Whether the server at ``address`` waits for a TLS handshake (an authenticated cluster).

    Nothing is sent to a plain Dask server (a TLS hello would read to it as a frame of
    petabytes): its first bytes arrive unasked and the answer is False.
    """
    with socket.create_connection(_host_port(address), timeout=timeout) as sock:
        if _speaks_first(sock):
            return False
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        sock.settimeout(timeout)
        try:
            context.wrap_socket(sock).close()
        except (ssl.SSLError, OSError):
            return False
        return True


def check_scheduler_key(address: str, security: Any, timeout: float = 5.0) -> None:
    """Handshake with the scheduler as ``security``'s client; :class:`AuthenticationError` on a key mismatch.

    Dask itself would retry a refused handshake until its connect timeout and then
    report a timeout; this answers at once and says what to do.
    """
    context = security.get_connection_args("client")["ssl_context"]
    try:
        with socket.create_connection(_host_port(address), timeout=timeout) as sock:
            if _speaks_first(sock):
                raise AuthenticationError(
                    f"the scheduler at {address} does not use TLS: it has no cluster key. "
                    "Connect without a key (tcp://), or restart the head with --auth-key"
                )
            sock.settimeout(timeout)
            with context.wrap_socket(sock) as tls:
                tls.settimeout(0.2)
                # TLS 1.3: a server that rejects our certificate says so after the handshake
                with contextlib.suppress(TimeoutError, ssl.SSLWantReadError):
                    tls.recv(1)
    except ssl.SSLError as exc:
        raise AuthenticationError(_mismatch(address, exc)) from None
    except OSError:
        return  # unreachable or closed: the caller's own connect reports that


def _mismatch(address: str, exc: ssl.SSLError) -> str:
    return (
        f"the scheduler at {address} and this node hold different cluster keys ({exc.reason or exc}): "
        "the key does not match the head's; pass the same --auth-key / PYCLUSTER_AUTH_KEY as the head"
    )


def scheduler_security(address: str, key: str | None) -> Any:
    """The ``Security`` to reach ``address`` with (None without a key), after checking the key fits.

    Raises :class:`AuthenticationError` when the key does not match the head's, when the
    head has a key and none was given, or when a key was given to a head that has none.
    """
    if key:
        security = cluster_security(key)
        check_scheduler_key(address, security)
        return security
    if address.startswith("tls://") or speaks_tls(address):
        raise AuthenticationError(
            f"the scheduler at {address} needs a cluster key and none was given: pass the head's key "
            "with --auth-key or the PYCLUSTER_AUTH_KEY environment variable (auth_key= in Python)"
        )
    return None


def is_loopback_address(address: str) -> bool:
    """Whether a scheduler address (``tls://127.0.0.1:8786``) is on this machine's loopback."""
    return _is_loopback(_host_port(address)[0])


class _ProbeHandshakeFilter(logging.Filter):
    """Dask's TLS listener warns about every connection that leaves before a TLS hello:
    our own reachability and key probes, port scanners, health checks. A peer with the
    wrong key fails differently (an unknown CA, a bad certificate) and is still shown."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "TLS handshake failed" in message and "UNEXPECTED_EOF" in message:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


_PROBE_FILTER = _ProbeHandshakeFilter()


def quiet_probe_handshakes() -> None:
    """Install :class:`_ProbeHandshakeFilter` on Dask's TCP logger (once)."""
    logger = logging.getLogger("distributed.comm.tcp")
    if _PROBE_FILTER not in logger.filters:
        logger.addFilter(_PROBE_FILTER)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def ensure_cluster_key(
    settings: Settings, state_dir: Path, insecure: bool = False, announce: Callable[[str], None] | None = None
) -> str | None:
    """The cluster key a head must use: every head has one unless ``insecure``.

    Loopback heads too: on a shared machine any local user could otherwise reach the
    scheduler and run code as this user. When none is configured, one is generated once,
    stored user-only in ``state_dir/cluster_key`` and reused; local workers and clients
    find it through the head's connection file (:mod:`pycluster.cluster.local_heads`).
    A head open to the network announces it (the value only on a terminal) with the
    command that joins a worker.
    """
    c = settings.cluster
    if c.auth_key:
        return check_key(c.auth_key)
    say = announce or (lambda text: print(text, file=sys.stderr, flush=True))
    if insecure:
        if not _is_loopback(c.host):
            say(
                f"pycluster: WARNING: insecure head on {c.host}: anyone who can reach port "
                f"{c.scheduler_port} can run code on this cluster. Use only on a network you fully trust."
            )
        return None
    path = state_dir / "cluster_key"
    c.auth_key, created = secret_in_file(path, generate_key)
    check_key(c.auth_key)
    if _is_loopback(c.host):
        return c.auth_key  # local workers and clients read it from the connection file: nothing to say
    if not created:
        say(f"pycluster: {c.host} is not loopback; using the cluster key stored in {path}")
        return c.auth_key
    say_secret(f"a cluster key for this head on {c.host}", c.auth_key, path, say)
    say(
        "Workers join with: PYCLUSTER_AUTH_KEY=<key> pycluster worker "
        f"--scheduler tls://HEAD:{c.scheduler_port}\n"
        "(or pass --auth-key / PYCLUSTER_AUTH_KEY to the head to choose your own)"
    )
    return c.auth_key
