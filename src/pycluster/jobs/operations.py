"""Operations: the named kinds of work a job can run.

REST jobs name an operation from a registry and never carry code or pickles. A
:class:`JobQueue` is handed its :class:`OperationRegistry`; ``OPERATIONS`` is the
default one (the built-ins, plus what ``register_operation`` adds).
An operation splits a job into *pieces* (tasks or partitions), runs each piece on
a worker, and combines the pieces' results. Pieces are what progress counts,
what retries retry and what checkpoints keep.

>>> {"echo", "sleep"} <= set(OPERATIONS)  # built-ins; dataset operations join once imported
True
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cloudpickle

from ..errors import JobRejectedError
from .model import Job

__all__ = [
    "OPERATIONS",
    "Operation",
    "OperationContext",
    "OperationRegistry",
    "builtin_operations",
    "get_operation",
    "register_operation",
]


@dataclass
class OperationContext:
    """What operations may use on the head: the state directory and registered services."""

    state_dir: Path
    services: dict[str, Any] = field(default_factory=dict)
    # a Python job's pickled call by job id (the queue's payload table); None: the payload file
    read_payload: Callable[[str], bytes] | None = None


class Operation:
    """Base class: override ``validate``, ``plan``, ``run_piece`` and ``combine``."""

    name: str = ""
    description: str = ""
    example: dict[str, Any] = {}  # parameters shown in the dashboard's submit form (never mutated)

    def validate(
        self, parameters: dict[str, Any], dataset_id: str | None, context: OperationContext
    ) -> dict[str, Any]:
        """Check parameters at submit time; raise ValueError naming the field. Returns them cleaned."""
        return parameters

    def plan(self, job: Job, context: OperationContext) -> list[Any]:
        """The pieces of ``job`` (picklable descriptions), in order."""
        return [job.parameters]

    def piece_function(self) -> Callable[[Any], Any]:
        """A module-level function that runs one piece on a worker."""
        raise NotImplementedError

    def combine(self, job: Job, results: list[Any], context: OperationContext) -> Any:
        """The job's result from its pieces' results (runs on the head)."""
        return results


class OperationRegistry(Mapping[str, Operation]):
    """Operations by name: what a queue can run. Read like a dict; add with ``register``.

    >>> registry = OperationRegistry([EchoOperation()])
    >>> registry.lookup("echo").name, registry.public_names()
    ('echo', ['echo'])
    """

    def __init__(self, operations: Iterable[Operation] = ()) -> None:
        self._by_name: dict[str, Operation] = {}
        for operation in operations:
            self.register(operation)

    def register(self, operation: Operation) -> Operation:
        """Make ``operation`` available under ``operation.name`` (replacing one of that name)."""
        if not operation.name:
            raise ValueError("an operation needs a name")
        self._by_name[operation.name] = operation
        return operation

    def lookup(self, name: str) -> Operation:
        """The operation called ``name``; JobRejectedError listing the public ones otherwise."""
        try:
            return self._by_name[name]
        except KeyError:
            available = ", ".join(self.public_names())
            raise JobRejectedError(f"unknown operation {name!r}; available: {available}") from None

    def public_names(self) -> list[str]:
        """Names REST may use, sorted (Python-only operations are left out)."""
        return sorted(n for n in self._by_name if not n.startswith("python."))

    def __getitem__(self, name: str) -> Operation:
        return self._by_name[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)


def register_operation(operation: Operation) -> Operation:
    """Make ``operation`` available to REST and Python jobs of queues using ``OPERATIONS``."""
    return OPERATIONS.register(operation)


def get_operation(name: str) -> Operation:
    return OPERATIONS.lookup(name)


def _number(parameters: dict[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = parameters.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ValueError(f"parameters.{name} must be a number from {low:g} to {high:g}, got {value!r}")
    return float(value)


# ---------------------------------------------------------------- built-in diagnostics
def _sleep_piece(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


class SleepOperation(Operation):
    name = "sleep"
    description = "Diagnostic: `pieces` tasks that each sleep `seconds` (progress per piece)."
    example = {"seconds": 1.0, "pieces": 4}

    def validate(
        self, parameters: dict[str, Any], dataset_id: str | None, context: OperationContext
    ) -> dict[str, Any]:
        return {
            "seconds": _number(parameters, "seconds", 1.0, 0, 3600),
            "pieces": int(_number(parameters, "pieces", 1, 1, 10_000)),
        }

    def plan(self, job: Job, context: OperationContext) -> list[Any]:
        return [job.parameters["seconds"]] * int(job.parameters["pieces"])

    def piece_function(self) -> Callable[[Any], Any]:
        return _sleep_piece

    def combine(self, job: Job, results: list[Any], context: OperationContext) -> Any:
        return {"pieces": len(results), "slept_seconds": sum(results)}


def _echo_piece(value: Any) -> Any:
    return value


class EchoOperation(Operation):
    name = "echo"
    description = "Diagnostic: returns `parameters.value` from a worker."
    example = {"value": "hello"}

    def plan(self, job: Job, context: OperationContext) -> list[Any]:
        return [job.parameters.get("value")]

    def piece_function(self) -> Callable[[Any], Any]:
        return _echo_piece

    def combine(self, job: Job, results: list[Any], context: OperationContext) -> Any:
        return {"echo": results[0]}


def _fail_piece(message: str) -> None:
    raise RuntimeError(message)


class FailOperation(Operation):
    name = "fail"
    description = "Diagnostic: a piece that raises RuntimeError(`parameters.message`) (tries retries)."
    example = {"message": "boom"}

    def validate(
        self, parameters: dict[str, Any], dataset_id: str | None, context: OperationContext
    ) -> dict[str, Any]:
        message = parameters.get("message", "this job fails on purpose")
        if not isinstance(message, str) or len(message) > 1000:
            raise ValueError("parameters.message must be text of at most 1000 characters")
        return {"message": message}

    def plan(self, job: Job, context: OperationContext) -> list[Any]:
        return [job.parameters["message"]]

    def piece_function(self) -> Callable[[Any], Any]:
        return _fail_piece

    def combine(self, job: Job, results: list[Any], context: OperationContext) -> Any:
        return None


# ---------------------------------------------------------------- Python callables (never over REST)
def _call_piece(piece: bytes) -> bytes:
    func, args, kwargs = cloudpickle.loads(piece)
    pickled: bytes = cloudpickle.dumps(func(*args, **kwargs))
    return pickled


class PythonCallOperation(Operation):
    """A Python callable from ``jobs.submit``: one piece. The payload file holds the pickle."""

    name = "python.call"

    def plan(self, job: Job, context: OperationContext) -> list[Any]:
        return [_payload(context, job)]

    def piece_function(self) -> Callable[[Any], Any]:
        return _call_piece

    def combine(self, job: Job, results: list[Any], context: OperationContext) -> Any:
        return cloudpickle.loads(results[0])


class PythonMapOperation(PythonCallOperation):
    """``jobs.map(func, items)``: one piece per item, results in order."""

    name = "python.map"

    def plan(self, job: Job, context: OperationContext) -> list[Any]:
        func, items, kwargs = cloudpickle.loads(_payload(context, job))
        return [cloudpickle.dumps((func, (item,), kwargs)) for item in items]

    def combine(self, job: Job, results: list[Any], context: OperationContext) -> Any:
        return [cloudpickle.loads(r) for r in results]


def _payload(context: OperationContext, job: Job) -> bytes:
    if context.read_payload is not None:
        return context.read_payload(job.id)
    return payload_path(context, job).read_bytes()


def payload_path(context: OperationContext, job: Job | str) -> Path:
    """Where an older version kept a Python job's pickled call (now a row: jobs/payloads.py)."""
    job_id = job if isinstance(job, str) else job.id
    return context.state_dir / "payloads" / f"{job_id}.pkl"


def builtin_operations() -> OperationRegistry:
    """A new registry with the diagnostics (``sleep``, ``echo``, ``fail``) and the Python operations
    that ``JobQueue.submit`` and ``JobQueue.map`` need."""
    return OperationRegistry(
        [SleepOperation(), EchoOperation(), FailOperation(), PythonCallOperation(), PythonMapOperation()]
    )


OPERATIONS = builtin_operations()  # the default registry; pycluster.data adds its operations to it
