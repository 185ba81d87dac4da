"""MasterNode: minimalcluster's master, on a pycluster head (Dask, TLS with the AUTHKEY).

>>> master = MasterNode("127.0.0.1", 0, AUTHKEY="a-long-random-secret")  # doctest: +SKIP
>>> master.start_master_server()                                           # doctest: +SKIP
>>> master.load_envir("f = lambda x: x * 2", from_file=False)              # doctest: +SKIP
>>> master.register_target_function("f")                                   # doctest: +SKIP
>>> master.load_args([1, 2, 3])                                            # doctest: +SKIP
>>> master.execute()                                                       # doctest: +SKIP
{1: 2, 2: 4, 3: 6}
"""

from __future__ import annotations

import datetime
import math
import os
import pickle
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from distributed import as_completed

from ...cluster.head import HeadNode
from ...errors import ArgumentError, ClusterNotRunningError, ConfigError, RemoteCallError
from .keys import check_authkey, cluster_key
from .remote import chunk_payload, run_chunk

__all__ = ["MasterNode"]

# Chunks per worker thread: enough to balance uneven calls and to use workers that join late.
CHUNKS_PER_THREAD = 8


class MasterNode:
    """A minimalcluster master: ``start_master_server``, ``load_envir``, ``register_target_function``,
    ``load_args``, ``execute``, ``list_workers``, ``shutdown`` — with the same meanings.

    ``PORT=0`` picks a free port (``master.PORT`` holds it once started). ``chunksize``
    (arguments per Dask task) is chosen from the number of worker threads when None.
    A master whose ``HOST`` is not loopback refuses a guessable AUTHKEY at once
    (:class:`AuthenticationError`) unless ``weak_key_ok=True``.
    """

    def __init__(
        self,
        HOST: str = "127.0.0.1",
        PORT: int = 8888,
        AUTHKEY: str | bytes | None = None,
        chunksize: int | None = None,
        *,
        weak_key_ok: bool = False,
    ) -> None:
        self.HOST = HOST
        self.PORT = PORT
        text, self._cluster_key = cluster_key(AUTHKEY)
        check_authkey(text, HOST, weak_key_ok)
        self.weak_key_ok = weak_key_ok
        self.AUTHKEY = text.encode("utf-8", "surrogateescape")
        self.chunksize = chunksize
        self.envir_statements: str | None = None
        self.target_fun: str | None = None
        self.args_to_share_to_workers: list[Any] = []
        self._head: HeadNode | None = None

    @property
    def server_status(self) -> str:
        return "on" if self._head is not None and self._head.is_running else "off"

    @property
    def scheduler_address(self) -> str:
        return self._require_head().scheduler_address

    def start_master_server(self, if_join_as_worker: bool = True) -> None:
        """Start the master; with ``if_join_as_worker`` it also works, with one process per core."""
        if self.server_status == "on":
            print("[WARNING] The master node is already running.")
            return
        head = HeadNode(
            "minimalcluster",
            host=self.HOST,
            scheduler_port=self.PORT,
            dask_dashboard_port=False,
            discovery_port=None,
            services=(),
            auth_key=self._cluster_key,
            weak_key_ok=self.weak_key_ok,
        )
        head.start(n_local_workers=(os.cpu_count() or 1) if if_join_as_worker else 0, threads_per_worker=1)
        self._head = head
        self.PORT = int(head.scheduler_address.rsplit(":", 1)[1])
        # unlike the original, the AUTHKEY is never printed: it is the cluster's password
        print(f"[{datetime.datetime.now()}] Master Node started at {self.HOST}:{self.PORT} (TLS).")

    def list_workers(self) -> list[tuple[str, int, int, int]]:
        """One ``(hostname, threads, pid, busy 1/0)`` per worker process."""
        client = self._require_head().cluster_manager.client
        identities = client.run(_identity)
        processing, threads = client.processing(), client.nthreads()
        return [
            (host, threads.get(address, 1), pid, int(bool(processing.get(address))))
            for address, (host, pid) in sorted(identities.items())
        ]

    def load_envir(self, source: str | os.PathLike[str], from_file: bool = True) -> None:
        """Code workers run before the target function: a .py file, or statements (``from_file=False``)."""
        text = Path(source).read_text(encoding="utf-8") if from_file else str(source)
        try:
            compile(text, "<minimalcluster envir>", "exec")
        except SyntaxError as exc:
            raise ConfigError(f"the envir has a syntax error (line {exc.lineno}): {exc.msg}") from None
        self.envir_statements = text

    def register_target_function(self, fun_name: str) -> None:
        """The name of the function (defined by the envir) that ``execute()`` calls on each argument."""
        self.target_fun = fun_name

    def load_args(self, args: Iterable[Any]) -> None:
        """The arguments: one call of the target function each."""
        self.args_to_share_to_workers = list(args)

    def execute(self, as_list: bool = False) -> dict[Any, Any] | list[Any]:
        """Call the target on every argument on the cluster: ``{arg: result}`` (or a list in order).

        Raises :class:`ArgumentError` for duplicate or unhashable arguments (pass
        ``as_list=True`` to allow them) and :class:`RemoteCallError` naming the argument
        whose call failed; workers may join or leave meanwhile without losing results.
        """
        source, target, args = self._ready(as_list)
        client = self._require_head().cluster_manager.client
        threads = sum(client.nthreads().values())
        if threads == 0:
            raise ClusterNotRunningError(
                "no worker has joined this master: start one with WorkerNode(HOST, PORT, AUTHKEY, nprocs)"
                ".join_cluster(), or start_master_server(if_join_as_worker=True)"
            )
        size = self.chunksize or max(1, math.ceil(len(args) / (threads * CHUNKS_PER_THREAD)))
        starts = {
            client.submit(run_chunk, chunk_payload(source, target, args[i : i + size]), pure=False): i
            for i in range(0, len(args), size)
        }
        results = self._collect(starts, args, target)
        return results if as_list else dict(zip(args, results))

    def _ready(self, as_list: bool) -> tuple[str, str, list[Any]]:
        if self.envir_statements is None:
            raise ConfigError(
                "no envir loaded: call load_envir(path) or load_envir(statements, from_file=False)"
            )
        if self.target_fun is None:
            raise ConfigError("no target function: call register_target_function('name_in_the_envir')")
        args = self.args_to_share_to_workers
        if not as_list:
            _check_unique(args)
        return self.envir_statements, self.target_fun, args

    def _collect(self, starts: dict[Any, int], args: list[Any], target: str) -> list[Any]:
        results: list[Any] = [None] * len(args)
        try:
            for future in as_completed(list(starts)):
                start = starts[future]
                outcome = pickle.loads(_chunk_result(future, start, args, target))
                future.release()
                if outcome[0] != "ok":
                    raise _call_error(outcome, start, args, target)
                results[start : start + len(outcome[1])] = outcome[1]
        finally:
            for future in starts:
                future.cancel()
        return results

    def shutdown(self) -> None:
        """Stop the master and the workers it started. Workers elsewhere stop on their own."""
        head, self._head = self._head, None
        if head is None:
            print("[WARNING] The master node is not started yet or already shut down.")
            return
        head.shutdown()
        print("[INFO] The master node is shut down.")

    def _require_head(self) -> HeadNode:
        if self._head is None or not self._head.is_running:
            raise ClusterNotRunningError("the master node is not running: call start_master_server() first")
        return self._head

    def __enter__(self) -> MasterNode:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._head is not None:
            self.shutdown()


def _identity() -> tuple[str, int]:
    import socket

    return socket.getfqdn(), os.getpid()


def _check_unique(args: list[Any]) -> None:
    try:
        unique = len(set(args))
    except TypeError as exc:
        raise ArgumentError(
            f"the arguments must be hashable to key the results by argument ({exc}); "
            "use tuples instead of lists, or execute(as_list=True) for results in order"
        ) from None
    if unique != len(args):
        seen: set[Any] = set()
        dup = next(a for a in args if a in seen or seen.add(a))  # type: ignore[func-returns-value]
        raise ArgumentError(
            f"the arguments must be unique to key the results by argument; {dup!r} appears more than "
            "once. Remove duplicates, or use execute(as_list=True) for results in order"
        )


def _chunk_result(future: Any, start: int, args: list[Any], target: str) -> bytes:
    try:
        result: bytes = future.result()
        return result
    except Exception as exc:  # e.g. KilledWorker: a call crashed its worker process again and again
        raise RemoteCallError(
            f"{target}() on the chunk of arguments from index {start} (first {args[start]!r}) could not "
            f"finish: {exc!r}. A call that kills its worker process is retried on others, then given up",
            argument=args[start],
        ) from exc


def _call_error(outcome: tuple[Any, ...], start: int, args: list[Any], target: str) -> RemoteCallError:
    kind, index, exc, text = outcome
    if kind == "envir":
        error = RemoteCallError(f"the envir could not be set up on a worker: {exc!r}\n{text}")
    else:
        arg = args[start + index]
        error = RemoteCallError(f"{target}({arg!r}) failed on a worker: {exc!r}\n{text}", argument=arg)
    error.__cause__ = exc
    return error
