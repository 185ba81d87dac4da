"""What a request costs the head: sync routes keep their worker threads, a submission is
stored before it is answered (without a thread of its own), the routes are ready at start-up."""

from __future__ import annotations

import asyncio
import threading

import httpx

from pycluster import HeadNode
from pycluster.jobs.model import JobStatus
from pycluster.web.server import warm_up

SUBMIT = "/api/processing/jobs/submit"


def _worker_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "AnyIO worker thread"}


def test_sync_routes_reuse_their_worker_threads(api: httpx.Client) -> None:
    # on the head's loop anyio found no root task and started (and stopped) a thread per request
    assert api.get("/api/processing/jobs/list").status_code == 200  # a sync route
    first = _worker_threads()
    seen = set(first)
    for _ in range(20):
        assert api.get("/api/processing/jobs/list").status_code == 200
        seen |= _worker_threads()
    assert first and first & _worker_threads(), "the first request's worker thread was stopped"
    assert len(seen) <= 4, f"{len(seen)} worker threads for 21 sequential requests"


def test_concurrent_submissions_are_stored_before_they_are_answered(
    api: httpx.Client, api_head: HeadNode
) -> None:
    async def submit_many() -> list[str]:
        async with httpx.AsyncClient(base_url=str(api.base_url), timeout=30) as http:

            async def one(i: int) -> str:
                answer = await http.post(SUBMIT, json={"operation": "echo", "parameters": {"value": i}})
                assert answer.status_code == 200, answer.text
                job_id = str(answer.json()["job_id"])
                # acknowledged means written: the row is in SQLite the moment the answer arrives
                assert api_head.jobs.store.get(job_id) is not None
                return job_id

            return await asyncio.gather(*(one(i) for i in range(40)))

    ids = asyncio.run(submit_many())
    assert len(set(ids)) == 40
    # those that take the thread path (a parent to read) are answered the same way
    child = api.post(SUBMIT, json={"operation": "echo", "parameters": {"value": 1}, "depends_on": [ids[0]]})
    assert child.status_code == 200, child.text
    assert api_head.jobs.store.get(child.json()["job_id"]) is not None
    refused = api.post(SUBMIT, json={"operation": "echo", "depends_on": ["job_nosuch"]})
    assert refused.status_code == 422 and "job_nosuch" in refused.text
    unknown = api.post(SUBMIT, json={"operation": "no-such-operation"})
    assert unknown.status_code in (400, 404, 422) and "no-such-operation" in unknown.text
    assert api_head.jobs.get(ids[-1]).status in set(JobStatus)


def test_warming_up_walks_the_routes_and_answers_nothing_real(api: httpx.Client, api_head: HeadNode) -> None:
    app = api_head.services["web"].server.app
    assert asyncio.run(warm_up(app)) == 404  # in a loop of its own, as at start-up
    assert api.get("/api/processing/health").json()["status"] == "healthy"
