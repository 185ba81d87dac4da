"""What a notebook shows for a head, a cluster manager and a job: escaped tables, no secrets."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pycluster import ClusterManager, HeadNode
from tests.helpers import running_head

NAME = "<script>alert('owned')</script> & co"


class Table(HTMLParser):
    """The title, the label -> cell text rows, every link and every tag of a repr."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.links: dict[str, str] = {}
        self.rows: dict[str, str] = {}
        self.title = ""
        self._where = ""
        self._label = ""
        self._href = ""
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag in {"h4", "th", "td"}:
            self._where = tag
            if tag == "th":
                self._label = ""
            if tag == "td":
                self.rows[self._label] = ""
        if tag == "a":
            self._href = dict(attrs).get("href") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == self._where:
            self._where = ""

    def handle_data(self, data: str) -> None:
        if self._where == "h4":
            self.title += data
        elif self._where == "th":
            self._label += data
        elif self._where == "td":
            self.rows[self._label] += data
            if self._href:
                self.links[self._label] = self._href
                self._href = ""


@pytest.fixture(scope="module")
def head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeadNode]:
    token = "tok-" + secrets.token_urlsafe(32)
    with running_head(NAME, tmp_path_factory.mktemp("repr"), workers=1, api_token=token) as node:
        yield node


def _no_secrets(text: str, head: HeadNode) -> None:
    assert head.auth_key and head.auth_key not in text
    assert head.settings.cluster.api_token and head.settings.cluster.api_token not in text
    assert "token=" not in text


def test_head_shows_addresses_workers_and_an_escaped_name(head: HeadNode) -> None:
    text = head._repr_html_()
    table = Table(text)
    assert "script" not in table.tags  # the name is text, not a tag
    assert table.title == f"HeadNode: {NAME}"
    assert table.rows["status"] == "running"
    assert table.rows["scheduler"] == head.scheduler_address
    assert table.links["dashboard"] == head.dashboard_url
    assert table.rows["workers"] == "1" and table.rows["cores"] == "1"
    assert " GiB" in table.rows["memory"] or " MiB" in table.rows["memory"]
    _no_secrets(text, head)


def test_cluster_manager_shows_the_same_cluster(head: HeadNode) -> None:
    text = head.cluster_manager._repr_html_()
    table = Table(text)
    assert "script" not in table.tags and table.title == f"ClusterManager: {NAME}"
    assert table.rows["scheduler"] == head.scheduler_address
    assert table.links["dashboard"] == head.dashboard_url
    assert table.rows["workers"] == "1"
    _no_secrets(text, head)


def _fail_loudly() -> None:
    raise RuntimeError("<img src=x onerror=alert(1)>")


def test_jobs_show_status_progress_and_an_escaped_error(head: HeadNode) -> None:
    done = head.jobs.submit(sum, [1, 2, 3])
    assert done.result(timeout=60) == 6
    table = Table(done._repr_html_())
    assert table.title == f"Job {done.job_id}"
    assert table.rows["status"] == "completed" and "100%" in table.rows["progress"]
    assert "progress" in table.tags

    failed = head.jobs.submit(_fail_loudly, retries=0)
    with pytest.raises(Exception, match="onerror"):
        failed.result(timeout=60)
    text = failed._repr_html_()
    table = Table(text)
    assert table.rows["status"] == "failed"
    assert "<img src=x onerror=alert(1)>" in table.rows["error"]  # shown as text ...
    assert "img" not in table.tags and "&lt;img" in text  # ... never as an element
    _no_secrets(text, head)


def test_stopped_and_unconnected_objects_render_too(tmp_path: Path) -> None:
    stopped = Table(HeadNode(NAME, state_dir=str(tmp_path))._repr_html_())
    assert stopped.rows == {"status": "stopped"} and "script" not in stopped.tags
    alone = Table(ClusterManager("<b>bold</b>")._repr_html_())
    assert alone.title == "ClusterManager: <b>bold</b>" and "b" not in alone.tags
    assert alone.rows == {"status": "not connected"}


def test_a_deployment_shows_replicas_and_rates_with_an_escaped_model_name() -> None:
    from pycluster.llm.results import DeploymentInfo, LatencyPercentiles, ReplicaInfo, RequestStats

    info = DeploymentInfo(
        "dep-1", "<script>steal()</script>", "running", None, [], "transformers", "fp16", 1, None, 8, 2048,
        2, 1, [ReplicaInfo(0, "tcp://127.0.0.1:4000", "ready", None, 0, 0),
               ReplicaInfo(1, None, "starting", None, 0, 0)],
        0.0, RequestStats(10, 500, 0.5, 25.0, LatencyPercentiles(120.0, 300.0, 400.0)),
    )  # fmt: skip
    table = Table(info._repr_html_())
    assert "script" not in table.tags and table.rows["model"] == "<script>steal()</script>"
    assert table.title == "Deployment dep-1"
    assert (
        table.rows["replicas"].startswith("1 of 2 ready") and "tcp://127.0.0.1:4000" in table.rows["replicas"]
    )
    assert table.rows["latency p50"] == "120 ms" and table.rows["requests"] == "10 (0.50/s)"
