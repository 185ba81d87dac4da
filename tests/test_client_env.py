"""PYCLUSTER_URL and PYCLUSTER_API_TOKEN: every client command (one that talks to the REST API)
finds a real head with a token from the environment alone, and says so in its --help."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from pycluster import HeadNode
from tests.helpers import cli, running_head

TOKEN = "client-env-test-token"
# every command that talks to a head's REST API, as a user types it with no --url/--api-token
CLIENT_COMMANDS = [
    ("jobs", "list", "--json"),
    ("data", "list"),
    ("llm", "list"),
    ("report", "--json"),
]


@pytest.fixture(scope="module")
def head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeadNode]:
    with running_head(
        "client-env", tmp_path_factory.mktemp("client-env"), workers=1, api_token=TOKEN
    ) as node:
        yield node


def environment(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYCLUSTER_URL", "PYCLUSTER_API_TOKEN")}
    return {**env, **values}


def test_the_environment_alone_reaches_a_head_with_a_token(head: HeadNode) -> None:
    url = head.dashboard_url or ""
    env = environment(PYCLUSTER_URL=url, PYCLUSTER_API_TOKEN=TOKEN)
    for command in CLIENT_COMMANDS:
        done = cli(*command, env=env)
        assert done.returncode == 0, (command, done.stderr)
        if command[0] == "report":
            assert json.loads(done.stdout)["cluster"]["cluster_name"] == "client-env"


def test_a_wrong_variable_is_told_and_the_option_wins(head: HeadNode) -> None:
    url = head.dashboard_url or ""
    refused = cli("jobs", "list", env=environment(PYCLUSTER_URL=url, PYCLUSTER_API_TOKEN="wrong"))
    assert refused.returncode == 1 and "(HTTP 401)" in refused.stderr, refused.stderr
    # a wrong URL in the environment is named in the error; --url on the command line wins over it
    bad = environment(PYCLUSTER_URL="http://127.0.0.1:9", PYCLUSTER_API_TOKEN=TOKEN)
    unreachable = cli("data", "list", env=bad)
    assert unreachable.returncode == 1 and "http://127.0.0.1:9" in unreachable.stderr, unreachable.stderr
    flagged = cli("report", "--url", url, "--json", env=bad)
    assert flagged.returncode == 0, flagged.stderr


def test_help_names_both_variables() -> None:
    # jobs, data and llm share their options (cli/rest.py); report has its own
    for group in ("jobs", "report"):
        shown = cli(group, "--help")
        assert shown.returncode == 0
        text = " ".join(shown.stdout.split())
        assert "env var: PYCLUSTER_URL" in text and "env var: PYCLUSTER_API_TOKEN" in text, (group, text)
