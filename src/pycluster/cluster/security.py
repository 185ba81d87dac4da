"""One shared key -> a cluster CA -> per-node certificates -> Dask ``Security`` objects.

A cluster with a key speaks only TLS (``tls://``), with mutual authentication:
every node and client derives the same CA from the key, issues itself a fresh
leaf certificate signed by that CA, and trusts no other CA. Nobody copies
certificate files; the key is all a person carries to another machine.

>>> sec = cluster_security(generate_key())
>>> sec.require_encryption
True

What a stranger sees. Anyone who can open a TLS connection to a node (and, over TLS 1.2,
anyone watching one) gets its leaf certificate and the CA's (OpenSSL completes the chain).
Every field of the leaf but its public key and signature is the same for every cluster: a
fixed subject and issuer (``pycluster cluster CA``), a random serial, a validity taken from
the clock. The CA's certificate is fixed too (name, serial 1, validity 2000-2100). So the one
thing a guessed key can be checked against is a public key or a signature, and each check
costs a full derivation.

Derivation (fixed, so every node agrees), by kind of key:

- a generated key (:func:`generate_key`: ``pyc1-`` + 43 base64url characters = 32 random
  bytes) -> ``HKDF-SHA256(bytes, salt="pycluster-cluster-ca-v2")``: 256 random bits need no
  stretching, and every process of a cluster derives the CA at start (HKDF ~7 us, the whole
  CA with its signature ~0.1 ms);
- any other (user-chosen) key -> ``scrypt(key, salt="pycluster-cluster-ca-v2", N=2**17,
  r=8, p=1)`` (OWASP's parameters): 0.42-0.55 s and 128 MiB per derivation on a busy
  2-core build machine (N=2**14, the v1 parameters: ~0.045 s), which is what every offline
  guess costs too, and what each worker process of such a cluster spends once at start;

-> 32 bytes -> a P-256 private scalar -> the self-signed CA certificate above.

Strength, not length: a user-chosen key on a head open to the network must carry
:data:`STRONG_KEY_BITS` bits by zxcvbn's estimate (:func:`key_strength_bits`), or the head
refuses it unless ``weak_key_ok`` (:func:`check_key_strength`). See docs/security.md
for the threat model.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import functools
import hashlib
import json
import logging
import math
import re
import secrets
import socket
import ssl
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AuthenticationError
from .ports import is_loopback
from .secret_files import head_secret

if TYPE_CHECKING:
    from ..config import Settings

__all__ = [
    "GENERATED_KEY_PREFIX",
    "STRONG_KEY_BITS",
    "ClusterCA",
    "NodeTLS",
    "check_key",
    "check_key_strength",
    "check_scheduler_key",
    "cluster_ca",
    "cluster_security",
    "derived_secret",
    "ensure_cluster_key",
    "generate_key",
    "is_generated_key",
    "key_fingerprint",
    "key_strength_bits",
    "node_tls",
    "scheduler_security",
    "speaks_tls",
    "tls_address",
]

GENERATED_KEY_PREFIX = "pyc1-"
# zxcvbn credits a random character with only log2(10) = 3.3 bits (a deliberate
# under-estimate): 100 estimated bits is ~30 random letters and digits (~180 real bits).
# With scrypt's cost on every guess that is well past 128 bits of an attacker's work.
STRONG_KEY_BITS = 100
_SALT = b"pycluster-cluster-ca-v2"
_SCRYPT = {"n": 2**17, "r": 8, "p": 1, "maxmem": 2**28}  # OWASP; needs 128 MiB (128 * r * n)
_CA_NAME = "pycluster cluster CA"
_CA_SERIAL = 1
_NODE_NAME = "pycluster-node"
_EPOCH = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
_END = datetime.datetime(2100, 1, 1, tzinfo=datetime.timezone.utc)
_GENERATED = re.compile(re.escape(GENERATED_KEY_PREFIX) + r"([A-Za-z0-9_-]{43})")
# zxcvbn refuses longer input and slows down with length; more than 72 characters only add bits
_ESTIMATE_CHARS = 72
# prefixes anyone can read in the source: they add nothing to a key's strength
_PUBLIC_PREFIXES = ("minimalcluster:",)


def generate_key() -> str:
    """A fresh random cluster key: ``pyc1-`` + 43 base64url characters (32 random bytes, 256 bits)."""
    return GENERATED_KEY_PREFIX + base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()


def _without_public_prefix(key: str) -> tuple[str, str]:
    """(the public prefix, or "", the rest of the key)."""
    for prefix in _PUBLIC_PREFIXES:
        if key.startswith(prefix):
            return prefix, key[len(prefix) :]
    return "", key


def _generated_bytes(key: str) -> tuple[str, bytes] | None:
    """(public prefix, the 32 bytes) of a key in :func:`generate_key`'s format; None for any other.

    A canonical encoding of exactly 32 bytes with at least 16 distinct byte values (32 random
    bytes have fewer with probability below 2**-60): ``pyc1-AAAA...`` is a user's key, not a
    generated one. ``minimalcluster:pyc1-...`` (a MasterNode's generated AUTHKEY) counts too.
    """
    prefix, rest = _without_public_prefix(key)
    match = _GENERATED.fullmatch(rest)
    if match is None:
        return None
    body = match.group(1)
    raw = base64.urlsafe_b64decode(body + "=")
    if len(raw) != 32 or base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != body:
        return None
    return (prefix, raw) if len(set(raw)) >= 16 else None


def is_generated_key(key: str) -> bool:
    """Whether ``key`` has :func:`generate_key`'s format (and so derives the CA without scrypt)."""
    return _generated_bytes(key) is not None


def check_key(key: str | bytes) -> str:
    """The key as text; :class:`AuthenticationError` when it is empty.

    Its strength is judged where it matters, by the head: :func:`check_key_strength`.
    """
    text = key.decode("utf-8", "surrogateescape") if isinstance(key, bytes) else str(key)
    if not text:
        raise AuthenticationError("the cluster key is empty: pass --auth-key or set PYCLUSTER_AUTH_KEY")
    return text


def key_strength_bits(key: str) -> float:
    """Estimated bits of a key: 256 for a generated key, else zxcvbn's ``guesses_log10 * log2(10)``.

    Only the first 72 characters are estimated, and a ``minimalcluster:`` prefix counts for
    nothing (it is public).
    """
    if is_generated_key(key):
        return 256.0
    key = _without_public_prefix(key)[1]
    if not key:
        return 0.0
    from zxcvbn import zxcvbn

    text = key[:_ESTIMATE_CHARS].encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return float(zxcvbn(text)["guesses_log10"]) * math.log2(10)


def check_key_strength(key: str | bytes, host: str, weak_key_ok: bool = False) -> float:
    """The key's estimated bits; :class:`AuthenticationError` when it is too weak for ``host``.

    A head open to the network (``host`` not loopback) needs :data:`STRONG_KEY_BITS`
    estimated bits, or ``weak_key_ok``: anyone who reaches its port can test guesses
    offline. On loopback, or with ``weak_key_ok``, a weak key is accepted with a warning.
    """
    text = check_key(key)
    bits = key_strength_bits(text)
    if bits >= STRONG_KEY_BITS:
        return bits
    if is_loopback(host) or weak_key_ok:
        where = "on loopback" if is_loopback(host) else f"on {host} because weak_key_ok is set"
        warnings.warn(
            f"the cluster key is weak (about {bits:.0f} bits estimated; {STRONG_KEY_BITS} are needed "
            f"on a network head); accepted {where}. Anyone who can reach the port (on loopback: "
            "any user of this machine) can guess it offline",
            UserWarning,
            stacklevel=2,
        )
        return bits
    raise AuthenticationError(
        f"the cluster key is too weak for a head on {host}: about {bits:.0f} bits estimated, and "
        f"{STRONG_KEY_BITS} are needed. Anyone who can reach the scheduler's port receives a "
        "certificate signed with the key and can test guesses offline, as fast as their hardware "
        "allows. Use a generated key: leave --auth-key and PYCLUSTER_AUTH_KEY unset (the head "
        "generates and stores one), or make one with: python -c 'from pycluster.cluster.security "
        "import generate_key; print(generate_key())'. Or accept the risk with --weak-key-ok "
        "(PYCLUSTER_WEAK_KEY_OK=1, weak_key_ok=True in Python)"
    )


def key_fingerprint(key: str) -> str:
    """A short public name for a key: 12 hex of SHA-256 of the CA's public key.

    It costs what the derivation costs (:func:`cluster_ca`), so it is no faster a test of a
    guessed key than the certificates a node sends anyway.
    """
    from cryptography.hazmat.primitives import serialization

    public = (
        cluster_ca(key)
        .private_key.public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return hashlib.sha256(public).hexdigest()[:12]


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


def derived_secret(key: str, label: bytes) -> bytes:
    """32 bytes for another use of the key (``label`` names it), as costly to guess from as the CA.

    HKDF of the CA seed: a value made public under it (a discovery answer's MAC) lets a
    stranger test a guessed key no faster than the certificates do.
    """
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(hashes.SHA256(), 32, salt=_SALT, info=b"derived " + label).derive(_ca_seed(key))


@functools.lru_cache(maxsize=8)
def _ca_seed(key: str) -> bytes:
    """32 bytes from the key: HKDF for a generated key, scrypt (N=2**17) for any other."""
    generated = _generated_bytes(key)
    if generated is not None:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        prefix, raw = generated
        return HKDF(hashes.SHA256(), 32, salt=_SALT, info=b"generated key " + prefix.encode()).derive(raw)
    return hashlib.scrypt(key.encode("utf-8", "surrogateescape"), salt=_SALT, dklen=32, **_SCRYPT)


@functools.lru_cache(maxsize=8)
def cluster_ca(key: str) -> ClusterCA:
    """Derive the cluster CA from ``key`` (deterministic: same key, same CA key; the name is fixed)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    seed = _ca_seed(key)
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551  # of P-256
    private_key = ec.derive_private_key(int.from_bytes(seed, "big") % (order - 1) + 1, ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, _CA_NAME)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(_CA_SERIAL)
        .not_valid_before(_EPOCH)
        .not_valid_after(_END)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(private_key, hashes.SHA256())
    )
    return ClusterCA(cert.public_bytes(serialization.Encoding.PEM).decode(), private_key)


@dataclass(frozen=True)
class NodeTLS:
    """One node's TLS material: the cluster CA's certificate and a fresh leaf signed by it (PEM).

    Whoever holds the derived CA issues it (:func:`node_tls`); the node turns it into a
    ``Security`` without the key's derivation and without importing ``cryptography``. A head
    hands it to each local worker it starts (in that worker's environment, beside the key,
    which is worth more): ~35 ms of CPU less per worker start, ~0.5 s with a user-chosen key.
    """

    ca_pem: str
    cert_pem: str
    key_pem: str = field(repr=False)

    def security(self) -> Any:
        """A ``distributed.security.Security`` for every role, trusting only this CA.

        ``require_encryption=True``: nodes and clients using it refuse plain ``tcp://``.
        """
        from distributed.security import Security

        roles = ("client", "scheduler", "worker")
        pairs = (("cert", self.cert_pem), ("key", self.key_pem))
        files = {f"tls_{role}_{kind}": value for role in roles for kind, value in pairs}
        return Security(require_encryption=True, tls_ca_file=self.ca_pem, **files)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> NodeTLS:
        """What :meth:`to_json` wrote; :class:`AuthenticationError` for anything else.

        >>> tls = node_tls(generate_key())
        >>> NodeTLS.from_json(tls.to_json()) == tls
        True
        """
        try:
            fields = json.loads(text)
            tls = cls(str(fields["ca_pem"]), str(fields["cert_pem"]), str(fields["key_pem"]))
        except (ValueError, TypeError, KeyError):
            raise AuthenticationError("the TLS material handed to this worker is unreadable") from None
        if not all("-----BEGIN " in pem for pem in (tls.ca_pem, tls.cert_pem, tls.key_pem)):
            raise AuthenticationError("the TLS material handed to this worker is not PEM")
        return tls


def node_tls(key: str | bytes) -> NodeTLS:
    """A fresh leaf for one node of the key's cluster, with the CA's certificate."""
    ca = cluster_ca(check_key(key))
    cert, private_key = ca.issue()
    return NodeTLS(ca.cert_pem, cert, private_key)


def cluster_security(key: str | bytes) -> Any:
    """A ``distributed.security.Security`` for every role, trusting only the key's CA.

    ``require_encryption=True``: nodes and clients using it refuse plain ``tcp://``.
    """
    return node_tls(key).security()


def tls_address(address: str) -> str:
    """``tcp://host:port`` or ``host:port`` -> ``tls://host:port``."""
    return "tls://" + address.split("://", 1)[-1]


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    return host.strip("[]"), int(port)


def _patience(round_trip: float, most: float) -> float:
    """How long to wait for a server that answers at once if at all: 50 ms on loopback (a busy
    2-core machine included), ten round trips further away, never more than ``most``.
    Every local worker makes these checks at start, so a fixed 0.5 s showed in start times."""
    return min(most, max(0.05, 10 * round_trip))


def _connect(address: str, timeout: float) -> tuple[socket.socket, float]:
    started = time.perf_counter()
    sock = socket.create_connection(_host_port(address), timeout=timeout)
    return sock, time.perf_counter() - started


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
    sock, round_trip = _connect(address, timeout)
    with sock:
        if _speaks_first(sock, _patience(round_trip, 0.3)):
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
        sock, round_trip = _connect(address, timeout)
        with sock:
            if _speaks_first(sock, _patience(round_trip, 0.3)):
                raise AuthenticationError(
                    f"the scheduler at {address} does not use TLS: it has no cluster key. "
                    "Connect without a key (tcp://), or restart the head with --auth-key"
                )
            sock.settimeout(timeout)
            started = time.perf_counter()
            with context.wrap_socket(sock) as tls:
                tls.settimeout(_patience(time.perf_counter() - started, 0.2))
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
    return is_loopback(_host_port(address)[0])


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
        if not is_loopback(c.host):
            say(
                f"pycluster: WARNING: insecure head on {c.host}: anyone who can reach port "
                f"{c.scheduler_port} can run code on this cluster. Use only on a network you fully trust."
            )
        return None
    path = state_dir / "cluster_key"
    c.auth_key, announced = head_secret(path, generate_key, "cluster key", c.host, say)
    check_key(c.auth_key)
    if not announced:
        return c.auth_key
    say(
        "Workers join with: PYCLUSTER_AUTH_KEY=<key> pycluster worker "
        f"--scheduler tls://HEAD:{c.scheduler_port}\n"
        "(or pass --auth-key / PYCLUSTER_AUTH_KEY to the head to choose your own)"
    )
    return c.auth_key
