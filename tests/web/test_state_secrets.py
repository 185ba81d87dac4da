"""The API token out of ``ps`` (``--api-token-file``, the environment) and a state directory
that is its user's alone (0700, files 0600), whatever the umask.

Real ``pycluster api`` subprocesses for the options; a real head in this process, under a
permissive umask, for the file modes."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pycluster.config import Settings
from pycluster.errors import AuthenticationError
from pycluster.web.auth import ensure_token
from tests.helpers import CliProcess, cli, running_head, wait_for, wait_for_job

TOKEN = "token-from-a-file-0123456789"
NOT_LOCAL = {"X-Forwarded-For": "203.0.113.7"}  # so the same-user loopback trust does not apply
WARNING = "on the command line is visible to every user"


def _token_file(folder: Path, mode: int = 0o600) -> Path:
    path = folder / "token"
    path.write_text(TOKEN + "\n")
    path.chmod(mode)
    return path


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def api_with_token_file(tmp_path: Path) -> Iterator[tuple[str, CliProcess]]:
    token = _token_file(tmp_path)
    api = CliProcess(
        "api", "--port", "0", "--state-dir", str(tmp_path / "state"), "--api-token-file", str(token)
    )
    try:
        url = api.wait_for_line(r"listening on (http://\S+)").group(1)
        yield url, api
    finally:
        api.stop()


def test_api_token_file_is_the_token_and_gives_no_warning(
    api_with_token_file: tuple[str, CliProcess],
) -> None:
    url, api = api_with_token_file
    assert httpx.get(f"{url}/api/health", headers=NOT_LOCAL, timeout=10).status_code == 401
    ok = httpx.get(f"{url}/api/health", headers={**NOT_LOCAL, "Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert ok.status_code == 200
    assert WARNING not in api.output
    assert TOKEN not in " ".join(api.proc.args)  # what ps would show


def test_a_token_on_the_command_line_is_warned_about(tmp_path: Path) -> None:
    api = CliProcess("api", "--port", "0", "--state-dir", str(tmp_path / "state"), "--api-token", TOKEN)
    try:
        api.wait_for_line(r"listening on")
        assert f"--api-token {WARNING}" in api.output
        assert "--api-token-file" in api.output
    finally:
        api.stop()


def test_a_token_in_the_environment_is_not_warned_about(tmp_path: Path) -> None:
    env = {"PYCLUSTER_API_TOKEN": TOKEN}
    api = CliProcess("api", "--port", "0", "--state-dir", str(tmp_path / "state"), env=env)
    try:
        url = api.wait_for_line(r"listening on (http://\S+)").group(1)
        headers = {**NOT_LOCAL, "Authorization": f"Bearer {TOKEN}"}
        assert httpx.get(f"{url}/api/health", headers=headers, timeout=10).status_code == 200
        assert WARNING not in api.output
    finally:
        api.stop()


def test_a_token_file_others_can_read_is_refused(tmp_path: Path) -> None:
    loose = _token_file(tmp_path, 0o644)
    for command in ("api", "head"):
        done = cli(command, "--state-dir", str(tmp_path / "state"), "--api-token-file", str(loose))
        assert done.returncode != 0
        assert "chmod 600" in done.stderr, done.stderr


def test_the_token_file_setting_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYCLUSTER_API_TOKEN_FILE", str(_token_file(tmp_path)))
    settings = Settings.load(False)
    assert ensure_token(settings, tmp_path / "state") == TOKEN
    (tmp_path / "token").chmod(0o640)
    with pytest.raises(AuthenticationError, match="chmod 600"):
        ensure_token(Settings.load(False), tmp_path / "state")


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    old = os.umask(0o022)  # what most systems use: without explicit modes, files come out 0644
    try:
        yield
    finally:
        os.umask(old)


def test_the_state_directory_is_0700_and_its_files_0600(tmp_path: Path, permissive_umask: None) -> None:
    state = tmp_path / "state"
    with running_head("modes-test", state, workers=1) as node:
        url = node.dashboard_url or ""
        rows = "word,n\n" + "".join(f"word{i:06d}-{'x' * 20},{i}\n" for i in range(4000))
        uploaded = httpx.post(
            f"{url}/api/processing/data/upload", files={"file": ("words.csv", rows.encode())}, timeout=60
        )
        assert uploaded.status_code == 200, uploaded.text
        job = {
            "operation": "value_counts",
            "dataset_id": uploaded.json()["dataset_id"],
            "parameters": {"column": "word", "limit": 4000},  # > 64 KB of JSON: results/<job>.json
        }
        submitted = httpx.post(f"{url}/api/processing/jobs/submit", json=job, timeout=30)
        assert submitted.status_code == 200, submitted.text
        with httpx.Client(base_url=url, timeout=30) as api:
            assert wait_for_job(api, submitted.json()["job_id"])["status"] == "completed"
        _check_payload_and_checkpoint_modes(node, state)
        folders = [p for p in [state, *state.rglob("*")] if p.is_dir()]
        files = [p for p in state.rglob("*") if p.is_file()]
        results = list((state / "results").glob("*.json"))
        uploads = list((state / "data" / "uploads").rglob("words.csv"))
        databases = [p for p in files if p.suffix in {".db", ".sqlite", ".sqlite3"} or "-wal" in p.name]
        assert results and uploads and databases, sorted(str(p.relative_to(state)) for p in files)
        assert _mode(state) == 0o700
        loose = {
            str(p.relative_to(state)): oct(_mode(p))
            for p in [*results, *uploads, *databases]
            if _mode(p) != 0o600
        }
        assert not loose, loose
        open_folders = {str(p.relative_to(state)): oct(_mode(p)) for p in folders if _mode(p) & 0o077}
        assert not open_folders, open_folders
        open_files = {str(p.relative_to(state)): oct(_mode(p)) for p in files if _mode(p) & 0o077}
        print(f"{len(files)} files, {len(folders)} folders; files open to others: {open_files}")


def _check_payload_and_checkpoint_modes(node: Any, state: Path) -> None:
    """A Python map job's finished pieces are 0600 in 0700 folders (they hold the user's code
    and data), looked at while the job still runs; its pickled payload is a row of the 0600
    database (jobs/payloads.py), never a file."""

    def slow(item: int) -> int:  # defined here: pickled by value, so workers need not import tests
        import time

        time.sleep(0.4 if item else 0)
        return item * 2

    handle = node.jobs.map(slow, range(8))
    pieces = state / "checkpoints" / handle.job_id
    wait_for(lambda: any(pieces.glob("*.pkl")), 60, what="a checkpointed piece")
    assert not (state / "payloads" / f"{handle.job_id}.pkl").exists()
    database = state / "pycluster.sqlite3"
    modes = {
        str(p.relative_to(state)): oct(_mode(p))
        for p in [database, *pieces.glob("*.pkl")]
        if _mode(p) != 0o600
    }
    modes.update(
        {str(p.relative_to(state)): oct(_mode(p)) for p in [pieces.parent, pieces] if _mode(p) != 0o700}
    )
    assert not modes, modes
    assert handle.result(timeout=120) == [i * 2 for i in range(8)]


def test_a_cluster_key_on_a_client_command_line_is_warned_about() -> None:
    nothing_there = ["--timeout", "1", "tcp://127.0.0.1:9"]  # the discard port: refused at once
    typed = cli("status", "--auth-key", "a-key-typed-on-the-command-line", *nothing_there)
    assert f"--auth-key {WARNING}" in typed.stderr, typed.stderr
    from_env = cli("status", *nothing_there, env={**os.environ, "PYCLUSTER_AUTH_KEY": "a-key-from-the-env"})
    assert WARNING not in from_env.stderr, from_env.stderr
    assert from_env.returncode == typed.returncode == 1  # the warning changes nothing else
