"""Inputs that once answered 500: each gets a 4xx with a reason, and a failed upload leaves
nothing under data/uploads/. A real head, real HTTP, bodies written by hand where a client
library would refuse to send them (Infinity, a lone surrogate, a NUL in a file name)."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from pycluster import HeadNode

JSON = {"content-type": "application/json"}
BOUNDARY = "pycluster-test-boundary"


def _multipart(filename: bytes, content: bytes) -> tuple[bytes, dict[str, str]]:
    body = (
        f"--{BOUNDARY}\r\n".encode()
        + b'Content-Disposition: form-data; name="file"; filename="'
        + filename
        + b'"\r\nContent-Type: application/octet-stream\r\n\r\n'
        + content
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    return body, {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}


def _register(path: str, name: str) -> tuple[str, str, bytes, dict[str, str]]:
    # JSON text written by hand: "\ud800" stays a lone surrogate escape on the wire
    body = f'{{"path": "{path}", "name": "{name}"}}'
    return "POST", "/api/processing/data/register", body.encode(), JSON


CASES = {
    "max_cores Infinity": (
        "POST",
        "/api/processing/jobs/submit",
        b'{"operation": "sleep", "max_cores": Infinity}',
        JSON,
        "max_cores",
    ),
    "cluster_cpu Infinity": (
        "PUT",
        "/api/dashboard/alerts/thresholds",
        b'{"cluster_cpu": Infinity}',
        JSON,
        "cluster_cpu",
    ),
    "dataset name surrogate": (*_register("{csv}", "\\ud800"), "name"),
    "dataset path surrogate": (*_register("{root}/\\ud800.csv", "x"), "path"),
    "upload name with NUL": (
        "POST",
        "/api/processing/data/upload",
        *_multipart(b"a\x00b.csv", b"a\n1\n"),
        "name",
    ),
    "upload name of 300 characters": (
        "POST",
        "/api/processing/data/upload",
        *_multipart(b"a" * 296 + b".csv", b"a\n1\n"),
        "limit",
    ),
    # found by schemathesis: a name no file system takes was looked up as a folder (OSError)
    "model name of 1000 characters": (
        "POST",
        "/api/llm/models/deploy",
        b'{"model_name": "' + b"0" * 1000 + b'"}',
        JSON,
        "is not a local folder",
    ),
    "thresholds given as true": (
        "PUT",
        "/api/dashboard/alerts/thresholds",
        b'{"cluster_cpu": true}',
        JSON,
        "cluster_cpu",
    ),
    "csv upload of random binary": (
        "POST",
        "/api/processing/data/upload",
        *_multipart(b"random.csv", bytes(range(128, 256)) * 40),
        "not CSV text",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_gets_a_4xx_with_a_reason(api: httpx.Client, api_head: HeadNode, case: str) -> None:
    method, path, body, headers, reason = CASES[case]
    data_dir = Path(api_head.settings.cluster.state_dir) / "data"
    csv = data_dir / "good.csv"
    csv.write_text("a,b\n1,2\n")
    body = body.replace(b"{csv}", str(csv).encode()).replace(b"{root}", str(data_dir).encode())
    answer = api.request(method, path, content=body, headers=headers)
    assert 400 <= answer.status_code < 500, answer.text
    assert reason in answer.text
    uploads = data_dir / "uploads"
    assert not os.listdir(uploads), "a failed upload left files behind"
