"""HTTPS for the web app with the user's certificate, and the CORS allow-list.

One real ``pycluster head`` subprocess (no local workers) over https on 127.0.0.1, with a
certificate this test generates, and two listed origins; a preflight from a listed and from an
unlisted origin, as a browser sends them."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import re
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pycluster.config import Settings
from pycluster.errors import ConfigError
from pycluster.web.tls import WebTLS
from tests.helpers import CliProcess, cli

TOKEN = "https-test-token-0123456789abcdef"
ALLOWED = "https://app.example.org"
REFUSED = "https://evil.example"
# so the same-user loopback trust does not apply: a browser sends this (auth.py)
BROWSER = {"Sec-Fetch-Mode": "cors"}


def _write_pair(folder: Path, name: str = "web") -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key (0600)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "pycluster test head")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _write_pair(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def https_head(
    tmp_path_factory: pytest.TempPathFactory, pair: tuple[Path, Path]
) -> Iterator[tuple[str, str]]:
    """(dashboard URL, the banner's output) of a head serving HTTPS with CORS for ALLOWED."""
    folder = tmp_path_factory.mktemp("https-head")
    token = folder / "token"
    token.write_text(TOKEN)
    token.chmod(0o600)
    cert, key = pair
    head = CliProcess(
        "head",
        "--host", "127.0.0.1",
        "--scheduler-port", "0",
        "--dashboard-port", "0",
        "--dask-dashboard-port", "off",
        "--no-discovery",
        "--nworkers", "0",
        "--state-dir", str(folder / "state"),
        "--api-token-file", str(token),
        "--tls-cert", str(cert),
        "--tls-key", str(key),
        "--cors-origin", ALLOWED,
        "--cors-origin", "http://localhost:3000/",
    )  # fmt: skip
    try:
        url = head.wait_for_line(r"dashboard:\s+(\S+)").group(1)
        head.wait_for_line("Press Ctrl-C")
        yield url, head.output
    finally:
        head.stop()


def _client(cert: Path) -> httpx.Client:
    return httpx.Client(verify=ssl.create_default_context(cafile=str(cert)), timeout=15)


def test_the_dashboard_and_api_are_served_over_https(
    https_head: tuple[str, str], pair: tuple[Path, Path]
) -> None:
    url, banner = https_head
    cert, _key = pair
    assert url.startswith("https://127.0.0.1:"), banner
    with _client(cert) as client:
        health = client.get(f"{url}/api/health", headers={**BROWSER, "Authorization": f"Bearer {TOKEN}"})
        assert health.status_code == 200, health.text
        assert client.get(f"{url}/api/health", headers=BROWSER).status_code == 401  # TLS is no pass
        page = client.get(f"{url}/", follow_redirects=True)
        assert page.status_code == 200 and "<html" in page.text.lower()
        assert client.get(f"{url}/openapi.json").status_code == 200
    # the banner's fingerprint is the certificate the server presents
    der = ssl.PEM_cert_to_DER_cert(cert.read_text())
    printed = hashlib.sha256(der).hexdigest().upper()
    assert ":".join(printed[i : i + 2] for i in range(0, 64, 2)) in banner
    # a client that does not trust the certificate is refused by TLS, and plain HTTP is not served
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{url}/api/health", timeout=15)
    with pytest.raises(httpx.HTTPError):
        httpx.get(url.replace("https://", "http://") + "/api/health", timeout=15)


def test_client_commands_trust_the_certificate_they_are_told_to(
    https_head: tuple[str, str], pair: tuple[Path, Path]
) -> None:
    url, _banner = https_head
    env = {**os.environ, "PYCLUSTER_API_TOKEN": TOKEN}
    untrusted = cli("jobs", "--url", url, "list", env=env)
    assert untrusted.returncode == 1
    assert "does not trust" in untrusted.stderr and "SSL_CERT_FILE" in untrusted.stderr, untrusted.stderr
    trusted = cli("jobs", "--url", url, "list", env={**env, "SSL_CERT_FILE": str(pair[0])})
    assert trusted.returncode == 0, trusted.stderr


def _preflight(client: httpx.Client, url: str, origin: str) -> httpx.Response:
    return client.options(
        f"{url}/api/processing/jobs/submit",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
            "Sec-Fetch-Mode": "cors",
            "Sec-Fetch-Site": "cross-site",
        },
    )


def test_cors_preflight_is_answered_for_a_listed_origin_only(
    https_head: tuple[str, str], pair: tuple[Path, Path]
) -> None:
    url, _banner = https_head
    with _client(pair[0]) as client:
        allowed = _preflight(client, url, ALLOWED)
        assert allowed.status_code == 200, allowed.text
        assert allowed.headers["access-control-allow-origin"] == ALLOWED
        assert "POST" in allowed.headers["access-control-allow-methods"]
        assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
        assert "access-control-allow-credentials" not in allowed.headers  # never with cookies
        # the second listed origin, given with a trailing slash, matches its Origin header
        assert _preflight(client, url, "http://localhost:3000").status_code == 200

        refused = _preflight(client, url, REFUSED)
        assert refused.status_code == 403
        assert "access-control-allow-origin" not in refused.headers
        assert "cross-origin request refused" in refused.json()["detail"]


def test_a_listed_origin_calls_the_api_with_the_token(
    https_head: tuple[str, str], pair: tuple[Path, Path]
) -> None:
    url, _banner = https_head
    cross_site = {"Origin": ALLOWED, "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"}
    with _client(pair[0]) as client:
        status = client.get(f"{url}/api/health", headers={**cross_site, "Authorization": f"Bearer {TOKEN}"})
        assert status.status_code == 200
        assert status.headers["access-control-allow-origin"] == ALLOWED
        # without the token: refused, and the page may read why
        anonymous = client.get(f"{url}/api/health", headers=cross_site)
        assert anonymous.status_code == 401
        assert anonymous.headers["access-control-allow-origin"] == ALLOWED
        # a cross-site POST from a listed origin reaches the route (its own 4xx: no such job)
        job = client.post(
            f"{url}/api/processing/jobs/nope/cancel",
            headers={**cross_site, "Authorization": f"Bearer {TOKEN}"},
        )
        assert job.status_code == 404, job.text
        # the same from an unlisted origin never gets there
        other = client.post(
            f"{url}/api/processing/jobs/nope/cancel",
            headers={**cross_site, "Origin": REFUSED, "Authorization": f"Bearer {TOKEN}"},
        )
        assert other.status_code == 403


def test_bad_tls_and_cors_settings_are_refused_with_the_fix(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    cert, key = pair
    loose = tmp_path / "loose.key"
    loose.write_bytes(key.read_bytes())
    loose.chmod(0o644)
    _other_cert, other_key = _write_pair(tmp_path, "other")
    cases = {
        "needs both": ({"tls_cert": str(cert)}, "tls_key is not"),
        "missing file": ({"tls_cert": str(tmp_path / "nope.crt"), "tls_key": str(key)}, "does not exist"),
        "key others can read": ({"tls_cert": str(cert), "tls_key": str(loose)}, "chmod 600"),
        "key of another certificate": ({"tls_cert": str(cert), "tls_key": str(other_key)}, "must belong"),
        "wildcard origin": ({"cors_origins": ["*"]}, "wildcards are not accepted"),
        "not an origin": ({"cors_origins": "https://app.example.org/path"}, "not an origin"),
    }
    for values, reason in cases.values():
        with pytest.raises(ConfigError, match=re.escape(reason)):
            WebTLS.from_settings(Settings.load(False, **values).cluster)
    # the environment's list: commas, a trailing slash and capitals do not matter
    env = {"PYCLUSTER_CORS_ORIGINS": "https://App.example.org/, http://localhost:3000"}
    assert Settings.load(False, env=env).cluster.cors_origins == [ALLOWED, "http://localhost:3000"]


def test_a_bad_pair_stops_the_head_before_it_starts(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    cert, _key = pair
    _other_cert, other_key = _write_pair(tmp_path, "other")
    done = cli(
        "head", "--state-dir", str(tmp_path / "state"), "--tls-cert", str(cert), "--tls-key", str(other_key)
    )
    assert done.returncode == 1, done.stderr
    assert "must belong to the certificate" in done.stderr and "Traceback" not in done.stderr
    assert "running" not in done.stdout


def test_the_standalone_api_serves_https_too(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    cert, key = pair
    api = CliProcess(
        "api",
        "--port",
        "0",
        "--state-dir",
        str(tmp_path / "state"),
        "--tls-cert",
        str(cert),
        "--tls-key",
        str(key),
    )
    try:
        url = api.wait_for_line(r"listening on (\S+)").group(1)
        assert url.startswith("https://127.0.0.1:"), api.output
        with _client(cert) as client:
            # no token header: this test is the API's own user on loopback, trusted without one
            assert client.get(f"{url}/api/health").status_code == 200
            refused = _preflight(client, url, ALLOWED)  # no --cors-origin: no cross-origin access
            assert refused.status_code == 403 and "access-control-allow-origin" not in refused.headers
    finally:
        api.stop()
