"""HTTPS for the web app (dashboard, REST API, /v1): the user's certificate and key, checked
before the server starts so a wrong path or a mismatched pair is one clear line, not a
traceback from inside uvicorn."""

from __future__ import annotations

import hashlib
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..cluster.secret_files import check_private
from ..errors import AuthenticationError, ConfigError

if TYPE_CHECKING:
    from ..config import ClusterSettings

__all__ = ["WebTLS"]


@dataclass(frozen=True)
class WebTLS:
    """A certificate (PEM, the chain after the leaf) and its private key (PEM)."""

    certfile: Path
    keyfile: Path

    @classmethod
    def from_settings(cls, c: ClusterSettings) -> WebTLS | None:
        """The pair ``cluster.tls_cert``/``cluster.tls_key`` name, checked; None when neither is set."""
        if not c.tls_cert and not c.tls_key:
            return None
        if not (c.tls_cert and c.tls_key):
            given, missing = ("tls_cert", "tls_key") if c.tls_cert else ("tls_key", "tls_cert")
            raise ConfigError(
                f"{given} is set but {missing} is not: HTTPS needs both the certificate and its private "
                "key (--tls-cert and --tls-key)"
            )
        tls = cls(Path(c.tls_cert).expanduser().resolve(), Path(c.tls_key).expanduser().resolve())
        tls.check()
        return tls

    def check(self) -> None:
        """Both files readable, the key its owner's alone, and the key the certificate's."""
        for what, path in (("certificate", self.certfile), ("private key", self.keyfile)):
            if not path.is_file():
                raise ConfigError(f"the TLS {what} {path} does not exist or is not a file")
        try:
            check_private(self.keyfile)  # as ssh and the API token file: a key others can read is refused
        except AuthenticationError as exc:
            raise ConfigError(f"the TLS private key: {exc}") from None
        try:
            self.server_context()
        except ssl.SSLError as exc:
            raise ConfigError(
                f"cannot use {self.certfile} with {self.keyfile}: {exc.reason or exc}; the certificate "
                "and key must be PEM files and the key must belong to the certificate (an encrypted key "
                "is not supported: the server starts unattended)"
            ) from None

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(self.certfile), str(self.keyfile), password=_no_password)
        return context

    def uvicorn_options(self) -> dict[str, Any]:
        return {"ssl_certfile": str(self.certfile), "ssl_keyfile": str(self.keyfile)}

    def fingerprint(self) -> str:
        """SHA-256 of the leaf certificate (colon hex, as browsers show it): with a self-signed
        certificate, what a user compares before trusting the page."""
        pem = self.certfile.read_text(encoding="ascii", errors="replace")
        der = ssl.PEM_cert_to_DER_cert(pem[: pem.index("-----END CERTIFICATE-----") + 25])
        digest = hashlib.sha256(der).hexdigest().upper()
        return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def _no_password() -> bytes:
    raise ssl.SSLError("the private key is encrypted")
