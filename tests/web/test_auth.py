"""Who may use the web app: the same OS user on loopback, the Bearer token, the dashboard's
cookie session (with CSRF), stream tickets; and the Host/Origin checks in front of all of them.

A real head on 127.0.0.1 with a token, real HTTP. This process is the head's own user on
loopback, so it is trusted without a token; requests that must not be are made to look like a
browser's (``Sec-Fetch-Site``) or a proxy's (``X-Forwarded-For``), or come from another OS user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from pycluster import HeadNode
from pycluster.web.origin import split_host
from pycluster.web.peercred import PeerCredentials, is_loopback_ip
from tests.helpers import running_head

TOKEN = "auth-test-token-0123456789"
BROWSER = {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"}  # what chromium adds
OTHER_USER = "pycluster-peer-test"


@pytest.fixture(scope="module")
def head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeadNode]:
    with running_head("auth-test", tmp_path_factory.mktemp("auth-state"), workers=1, api_token=TOKEN) as node:
        yield node


@pytest.fixture
def url(head: HeadNode) -> str:
    return head.dashboard_url or ""


def _port(url: str) -> str:
    return url.rsplit(":", 1)[1]


def _browser(url: str, **headers: str) -> dict[str, str]:
    return {**BROWSER, "Origin": url, **headers}


# ------------------------------------------------------------------ same user on loopback
def test_same_user_on_loopback_needs_no_token(url: str) -> None:
    for path in ("/api/health", "/api/cluster/status", "/api/processing/jobs/list", "/metrics"):
        assert httpx.get(f"{url}{path}", timeout=10).status_code == 200, path
    with httpx.Client(base_url=url, timeout=10) as keep_alive:  # one connection, many requests
        for _ in range(5):
            assert keep_alive.get("/api/health").status_code == 200


def test_the_peer_lookup_is_cached_per_connection(head: HeadNode, url: str) -> None:
    creds: PeerCredentials = head.services["web"].server.app.state.peer_credentials
    with httpx.Client(base_url=url, timeout=10) as keep_alive:
        keep_alive.get("/api/health")
        before = creds.lookups
        for _ in range(20):
            assert keep_alive.get("/api/health").status_code == 200
        # the keep-alive connection was looked up once (twice if the 2 s cache ran out meanwhile)
        assert creds.lookups - before <= 1


def test_a_proxy_or_a_browser_is_not_the_local_user(url: str) -> None:
    for headers in (
        {"X-Forwarded-For": "203.0.113.7"},
        {"Forwarded": "for=203.0.113.7"},
        {"X-Real-IP": "203.0.113.7"},
        BROWSER,
    ):
        answer = httpx.get(f"{url}/api/health", headers=headers, timeout=10)
        assert answer.status_code == 401, headers
        assert "needs an API token" in answer.json()["detail"]
        ok = httpx.get(f"{url}/api/health", headers={**headers, "Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200, headers


def test_a_wrong_token_is_refused_even_from_the_local_user(url: str) -> None:
    assert httpx.get(f"{url}/api/health", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert httpx.get(f"{url}/api/health", headers={"Authorization": "Basic eDp5"}).status_code == 401


_CLIENT = """
import sys, urllib.request, urllib.error
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=10).status)
except urllib.error.HTTPError as error:
    print(error.code)
"""


def _other_user() -> str:
    if os.geteuid() != 0:
        pytest.skip(f"another OS user needs root to create and switch to (running as uid {os.geteuid()})")
    if not shutil.which("useradd") or not shutil.which("runuser"):
        pytest.skip("useradd or runuser is missing, so no second OS user can be made")
    try:
        pwd.getpwnam(OTHER_USER)
    except KeyError:
        made = subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", OTHER_USER],
            capture_output=True,
            text=True,
        )
        if made.returncode not in (0, 9):  # 9: made meanwhile
            pytest.skip(f"useradd {OTHER_USER} failed: {made.stderr.strip()}")
    return OTHER_USER


def test_another_os_user_on_the_same_machine_needs_the_token(url: str) -> None:
    user = _other_user()
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

    def status_as(name: str, target: str) -> str:
        done = subprocess.run(
            ["runuser", "-u", name, "--", python, "-c", _CLIENT, target],
            capture_output=True,
            text=True,
            timeout=60,
            cwd="/",
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    try:
        assert status_as(user, f"{url}/api/health") == "401"
        assert status_as(user, f"{url}/api/cluster/status") == "401"
        # the same client as the head's own user is trusted: the uid made the difference
        assert status_as(pwd.getpwuid(os.geteuid()).pw_name, f"{url}/api/health") == "200"
    finally:
        subprocess.run(["userdel", user], capture_output=True)


# ------------------------------------------------------------------ Host and Origin
def test_a_foreign_host_is_refused_on_a_loopback_head(url: str) -> None:
    port = _port(url)
    for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1.evil.example:{port}", "[::2]"):
        answer = httpx.get(f"{url}/api/health", headers={"Host": host}, timeout=10)
        assert answer.status_code == 403, host
        assert "DNS rebinding" in answer.json()["detail"]
        assert httpx.get(f"{url}/", headers={"Host": host}).status_code == 403  # not even the page
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"127.9.8.7:{port}", "localhost", f"[::1]:{port}"):
        assert httpx.get(f"{url}/api/health", headers={"Host": host}).status_code == 200, host


def test_a_foreign_origin_is_refused(head: HeadNode, url: str) -> None:
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    for origin in (
        "http://evil.example",
        f"http://127.0.0.1:{int(_port(url)) + 1}",
        "null",
        "https" + url[4:],
    ):
        answer = httpx.post(f"{url}/api/auth/ticket", headers={**bearer, "Origin": origin}, timeout=10)
        assert answer.status_code == 403, origin
        assert "cross-origin" in answer.json()["detail"]
    assert httpx.post(f"{url}/api/auth/ticket", headers={**bearer, "Origin": url}).status_code == 200
    cross = httpx.post(f"{url}/api/auth/ticket", headers={**bearer, "Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403 and "cross-site" in cross.json()["detail"]
    assert (
        httpx.get(f"{url}/api/health", headers={"Sec-Fetch-Site": "cross-site", **bearer}).status_code == 200
    )


def test_a_body_less_cross_site_stop_does_not_stop_the_cluster(head: HeadNode, url: str) -> None:
    # what <form method=post action=http://127.0.0.1:PORT/api/processing/cluster/stop> sends
    page = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}
    answer = httpx.post(f"{url}/api/processing/cluster/stop", headers=page, timeout=10)
    assert answer.status_code == 403
    same_user = httpx.post(f"{url}/api/processing/cluster/stop", headers={"Origin": "http://evil.example"})
    assert same_user.status_code == 403  # the Origin check runs before the peer trust
    status = httpx.get(f"{url}/api/processing/cluster/status", timeout=10).json()
    assert status["status"] == "running", status
    assert head.get_cluster_status()["n_workers"] == 1


def test_split_host() -> None:
    assert split_host("[::1]:8787") == ("::1", 8787)
    assert split_host("Localhost.") == ("localhost", None)
    assert split_host("127.0.0.1:80") == ("127.0.0.1", 80)
    assert split_host("::1") == ("", None)  # IPv6 needs brackets
    assert split_host("a:b") == ("", None)
    assert split_host("[::1]x") == ("", None)
    assert (
        is_loopback_ip("::ffff:127.0.0.1") and is_loopback_ip("127.3.2.1") and not is_loopback_ip("10.0.0.1")
    )


# ------------------------------------------------------------------ cookie session and CSRF
def test_login_link_sets_the_session_and_leaves_the_address_bar(url: str) -> None:
    port = _port(url)
    with httpx.Client(base_url=url, timeout=10) as browser:
        assert browser.get("/api/health", headers=_browser(url)).status_code == 401
        answer = browser.get("/login", params={"token": TOKEN})
        assert answer.status_code == 303 and answer.headers["location"] == "/"
        assert answer.headers["cache-control"] == "no-store"
        cookies = {c.split("=", 1)[0]: c for c in answer.headers.get_list("set-cookie")}
        session, csrf = cookies[f"pycluster-session-{port}"], cookies[f"pycluster-csrf-{port}"]
        for cookie in (session, csrf):
            assert "samesite=strict" in cookie.lower() and "path=/" in cookie.lower()
            assert "secure" not in cookie.lower()  # plain http here
            assert TOKEN not in cookie
        assert "httponly" in session.lower() and "httponly" not in csrf.lower()

        # cookie only (httpx keeps them), as a browser: reads work, changes need the CSRF header
        assert browser.get("/api/health", headers=_browser(url)).status_code == 200
        assert browser.get("/api/dashboard/snapshot", headers=_browser(url)).status_code == 200
        refused = browser.post("/api/auth/ticket", headers=_browser(url))
        assert refused.status_code == 403 and "X-CSRF-Token" in refused.json()["detail"]
        wrong = browser.post("/api/auth/ticket", headers=_browser(url, **{"X-CSRF-Token": "0" * 64}))
        assert wrong.status_code == 403
        csrf_value = browser.cookies[f"pycluster-csrf-{port}"]
        ok = browser.post("/api/auth/ticket", headers=_browser(url, **{"X-CSRF-Token": csrf_value}))
        assert ok.status_code == 200, ok.text
        cleared = browser.post(
            "/api/dashboard/tasks/clear-failed", headers=_browser(url, **{"X-CSRF-Token": csrf_value})
        )
        assert cleared.status_code == 200, cleared.text
        # even the local user's own cookie-borne POST needs the header: the cookie is checked first
        assert browser.post("/api/auth/ticket").status_code == 403

        out = browser.delete("/api/auth/session", headers=_browser(url))
        assert out.status_code == 200
        assert all("max-age=0" in c.lower() for c in out.headers.get_list("set-cookie"))
        assert not browser.cookies
        assert browser.get("/api/health", headers=_browser(url)).status_code == 401


def test_a_wrong_login_sets_no_cookie(url: str) -> None:
    for params in ({"token": "wrong"}, {}):
        answer = httpx.get(f"{url}/login", params=params, timeout=10)
        assert answer.status_code == 401
        assert not answer.headers.get_list("set-cookie")


def test_a_forged_session_cookie_is_refused(url: str) -> None:
    port = _port(url)
    for value in (TOKEN, "0" * 64, ""):
        cookies = {f"pycluster-session-{port}": value, f"pycluster-csrf-{port}": value}
        answer = httpx.get(f"{url}/api/health", headers=_browser(url), cookies=cookies, timeout=10)
        assert answer.status_code == 401, value


def test_the_sign_in_form_endpoint(url: str) -> None:
    port = _port(url)
    with httpx.Client(base_url=url, timeout=10) as browser:
        assert browser.post("/api/auth/session", headers=_browser(url)).status_code == 401
        bad = browser.post("/api/auth/session", headers=_browser(url, Authorization="Bearer nope"))
        assert bad.status_code == 401 and not browser.cookies
        good = browser.post("/api/auth/session", headers=_browser(url, Authorization=f"Bearer {TOKEN}"))
        assert good.status_code == 200 and good.json() == {"authenticated": True, "token_required": True}
        assert set(browser.cookies) == {f"pycluster-session-{port}", f"pycluster-csrf-{port}"}
        assert browser.get("/api/cluster/status", headers=_browser(url)).status_code == 200


def test_cookies_are_secure_behind_https(url: str) -> None:
    # uvicorn takes X-Forwarded-Proto from a proxy on 127.0.0.1
    answer = httpx.get(f"{url}/login", params={"token": TOKEN}, headers={"X-Forwarded-Proto": "https"})
    assert answer.status_code == 303
    assert all("secure" in c.lower() for c in answer.headers.get_list("set-cookie"))


# ------------------------------------------------------------------ the live stream
def _stream_status(url: str, **kwargs: object) -> int:
    with httpx.stream("GET", f"{url}/api/dashboard/stream", timeout=10, **kwargs) as answer:  # type: ignore[arg-type]
        return answer.status_code


def test_the_stream_never_takes_the_token_in_the_url(url: str) -> None:
    answer = httpx.get(f"{url}/api/dashboard/stream", params={"token": TOKEN}, timeout=10)
    assert answer.status_code == 401 and "ticket" in answer.json()["detail"]
    assert _stream_status(url, headers=BROWSER) == 401


def test_a_stream_ticket_works_once(url: str) -> None:
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    issued = httpx.post(f"{url}/api/auth/ticket", headers=bearer, timeout=10).json()
    assert issued["expires_in"] == 30 and len(issued["ticket"]) >= 32
    assert _stream_status(url, params={"ticket": issued["ticket"]}, headers=BROWSER) == 200
    again = httpx.get(f"{url}/api/dashboard/stream", params={"ticket": issued["ticket"]}, timeout=10)
    assert again.status_code == 401 and "used or expired" in again.json()["detail"]
    assert httpx.get(f"{url}/api/dashboard/stream", params={"ticket": "made-up"}).status_code == 401


def test_the_stream_takes_the_cookie_or_bearer(url: str) -> None:
    with httpx.Client(base_url=url, timeout=10) as browser:
        browser.get("/login", params={"token": TOKEN})
        with browser.stream("GET", "/api/dashboard/stream", headers=_browser(url)) as answer:
            assert answer.status_code == 200
    assert _stream_status(url, headers={**BROWSER, "Authorization": f"Bearer {TOKEN}"}) == 200
    assert _stream_status(url) == 200  # the local user


# ------------------------------------------------------------------ OpenAPI
def test_openapi_declares_the_bearer_scheme(url: str) -> None:
    schema = httpx.get(f"{url}/openapi.json", timeout=10).json()
    assert schema["components"]["securitySchemes"]["API token"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "The head's API token (printed by the head, stored in its state directory).",
    }
    assert schema["paths"]["/api/cluster/status"]["get"]["security"] == [{"API token": []}]
    assert "security" not in schema["paths"]["/api/auth/session"]["delete"]


def test_peer_lookup_cost(head: HeadNode, url: str) -> None:
    """Not a benchmark: a guard that the uncached lookup stays cheap (it runs on the event loop)."""
    creds = PeerCredentials(ttl=0)
    with httpx.Client(base_url=url, timeout=10) as client:
        client.get("/api/health")
        # find this client's connection: the head's side is (127.0.0.1, port)
        import psutil

        mine = [
            c
            for c in psutil.Process().net_connections(kind="tcp")
            if c.raddr and c.raddr.port == int(_port(url)) and c.status == psutil.CONN_ESTABLISHED
        ]
        assert mine
        peer, server = (mine[0].laddr.ip, mine[0].laddr.port), (mine[0].raddr.ip, mine[0].raddr.port)
        started = time.perf_counter()
        for _ in range(50):
            assert creds.same_user(peer, server)
        per_lookup = (time.perf_counter() - started) / 50
        assert per_lookup < 0.02, f"{per_lookup * 1e3:.2f} ms per uncached peer lookup"
