"""The body of ``POST /api/processing/jobs/submit``: one variant per operation, told apart by ``operation``.

Each variant says what its operation needs (a dataset operation requires ``dataset_id``) and what
its ``parameters`` may hold, so ``/openapi.json`` is a ``oneOf`` a client (or schemathesis) can
follow: a body the schema allows is accepted, one it refuses gets 422. The models hold no
validators beyond what the schema says; checks that need the data (does the column exist, is it
numeric) stay in the operation's ``validate``, after the dataset is found (404 when it is not).

Parameters keep keys the schema does not name (``additionalProperties``), as before: the
operations ignore them. An operation registered with ``register_operation`` (not built in) gets the
``RegisteredJobSubmission`` variant, its name listed in the schema when ``/openapi.json`` is built.

The product document's example stays a valid body::

    >>> body = parse_submission({"operation": "aggregate", "dataset_id": "dataset_123",
    ...     "parameters": {"column": "expression_level", "operation": "mean"},
    ...     "priority": "HIGH", "max_memory_gb": 4.0, "max_cores": 4})
    >>> type(body).__name__, body.parameter_dict()
    ('AggregateJobSubmission', {'column': 'expression_level', 'operation': 'mean'})
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    GetJsonSchemaHandler,
    Tag,
    TypeAdapter,
    field_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from ..jobs.operations import OPERATIONS
from ..jobs.runner import MAX_BACKOFF

__all__ = [
    "TYPED_OPERATIONS",
    "JobOptions",
    "JobSpec",
    "JobSubmissionBody",
    "SubmissionOptions",
    "parse_submission",
]

PriorityName = Literal["LOW", "NORMAL", "HIGH", "CRITICAL"]
# the data layer's names (data.partials.STATS, data.operations.FILTER_OPS), spelled out so that the
# web models need not import pandas; tests/web/test_job_submission_schema.py keeps them equal
Stat = Literal["count", "sum", "min", "max", "mean", "std", "var", "nunique", "median", "quantile"]
FilterOp = Literal[
    "==", "!=", "<", "<=", ">", ">=", "in", "not_in", "between", "contains", "startswith", "isnull", "notnull"
]


class JobOptions(BaseModel):
    """How a job runs, whatever its operation."""

    # strict: false is no number of seconds and "4" no count of cores, as the schema says
    model_config = ConfigDict(extra="forbid", strict=True)
    dataset_id: str | None = Field(None, min_length=1, max_length=200)
    priority: PriorityName = "NORMAL"
    max_memory_gb: float | None = Field(None, gt=0, le=1_000_000)
    max_cores: float | None = Field(None, gt=0, le=1_000_000)
    retries: int | None = Field(None, ge=0, le=100)
    timeout_s: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="seconds a piece may run; the job fails past it"
    )
    retry_backoff_s: float | None = Field(
        None,
        ge=0,
        le=MAX_BACKOFF,
        allow_inf_nan=False,
        description="seconds before a failed piece's first retry; doubled per attempt, with jitter",
    )
    result_ttl_s: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="seconds a finished job and its result are kept; then both are deleted",
    )
    client_id: str | None = Field(None, min_length=1, max_length=100)

    @field_validator("priority", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class JobSpec(JobOptions):
    """What a job runs and how: an operation from the registry, never code."""

    operation: str = Field(min_length=1, max_length=100, examples=["aggregate"])
    parameters: dict[str, Any] = Field(default_factory=dict)


class SubmissionOptions(JobOptions):
    """A job over REST, now or at ``run_at``, after the jobs it ``depends_on``."""

    depends_on: list[str] | None = Field(
        None, max_length=1000, description="ids of jobs that must complete before this one starts"
    )
    run_at: float | str | None = Field(
        None, description="not before this time: ISO 8601 (UTC unless it names a zone) or epoch seconds"
    )

    def parameter_dict(self) -> dict[str, Any]:
        """The parameters as the client sent them (no defaults added): the operation cleans them."""
        sent: dict[str, Any] = self.model_dump(include={"parameters"}, exclude_unset=True)
        return dict(sent.get("parameters", {}))


# ---------------------------------------------------------------- parameters, per operation
class Parameters(BaseModel):
    # strict: "1" is no number and true no count, as the operations' own checks say
    model_config = ConfigDict(extra="allow", strict=True)


class SleepParameters(Parameters):
    seconds: float = Field(
        default=1.0, ge=0, le=3600, allow_inf_nan=False, description="each piece sleeps this long"
    )
    pieces: float = Field(
        default=1, ge=1, le=10_000, allow_inf_nan=False, description="tasks (a fraction is cut)"
    )


class FailParameters(Parameters):
    message: str = Field(default="this job fails on purpose", max_length=1000)


class Condition(BaseModel):
    """``{"column": "p_value", "op": "<", "value": 0.05}``; ``value`` is a [low, high] list for
    ``between``, a list for ``in``/``not_in``, unused for ``isnull``/``notnull``."""

    model_config = ConfigDict(extra="allow", strict=True)
    column: str
    op: FilterOp
    value: Any = None


class DatasetParameters(Parameters):
    on_bad_lines: Literal["error", "skip"] = Field(
        default="error",
        description="a malformed CSV row fails the job (error) or is skipped and counted (skip)",
    )
    conditions: list[Condition] | None = Field(
        default=None, description="rows to use; all of them by default"
    )
    mode: Literal["all", "any"] = Field(
        default="all", description="whether a row must match all conditions or any"
    )
    columns: list[str] | None = None


class AggregateParameters(DatasetParameters):
    column: str | None = Field(default=None, examples=["expression_level"])
    operation: Stat | None = Field(default=None, examples=["mean"])
    operations: list[Stat] | None = None
    group_by: str | list[str] | None = None
    quantile: float = Field(default=0.5, ge=0, le=1, allow_inf_nan=False)


class ValueCountsParameters(DatasetParameters):
    column: str
    limit: int = Field(default=100, ge=1, le=100_000)


class FilterParameters(DatasetParameters):
    conditions: list[Condition] = Field(min_length=1)


class TopKParameters(DatasetParameters):
    column: str
    k: int = Field(default=10, ge=1, le=100_000)
    ascending: bool = False


class SampleParameters(DatasetParameters):
    n: int = Field(default=100, ge=1, le=1_000_000)
    seed: int = 0


# ---------------------------------------------------------------- one submission per operation
class EchoJobSubmission(SubmissionOptions):
    operation: Literal["echo"]
    parameters: dict[str, Any] = Field(default_factory=dict, description="value: returned as the result")


class SleepJobSubmission(SubmissionOptions):
    operation: Literal["sleep"]
    parameters: SleepParameters = Field(default_factory=lambda: SleepParameters())


class FailJobSubmission(SubmissionOptions):
    operation: Literal["fail"]
    parameters: FailParameters = Field(default_factory=lambda: FailParameters())


class DatasetJobSubmission(SubmissionOptions):
    dataset_id: str = Field(min_length=1, max_length=200, description="the dataset the job reads")


class AggregateJobSubmission(DatasetJobSubmission):
    operation: Literal["aggregate"]
    parameters: AggregateParameters = Field(default_factory=lambda: AggregateParameters())


class DescribeJobSubmission(DatasetJobSubmission):
    operation: Literal["describe"]
    parameters: DatasetParameters = Field(default_factory=lambda: DatasetParameters())


class ValueCountsJobSubmission(DatasetJobSubmission):
    operation: Literal["value_counts"]
    parameters: ValueCountsParameters


class FilterJobSubmission(DatasetJobSubmission):
    operation: Literal["filter"]
    parameters: FilterParameters


class TopKJobSubmission(DatasetJobSubmission):
    operation: Literal["top_k"]
    parameters: TopKParameters


class SampleJobSubmission(DatasetJobSubmission):
    operation: Literal["sample"]
    parameters: SampleParameters = Field(default_factory=lambda: SampleParameters())


class ConvertJobSubmission(DatasetJobSubmission):
    operation: Literal["convert"]
    parameters: DatasetParameters = Field(default_factory=lambda: DatasetParameters())


def _registered_names() -> list[str]:
    """Public operations registered beyond the built-in ones, when the schema is built."""
    return [name for name in OPERATIONS.public_names() if name not in TYPED_OPERATIONS]


class RegisteredJobSubmission(SubmissionOptions):
    """An operation added with ``register_operation``: its parameters are its own to check."""

    operation: str = Field(min_length=1, max_length=100)
    parameters: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def __get_pydantic_json_schema__(cls, core: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        schema = handler.resolve_ref_schema(handler(core))
        schema["properties"]["operation"]["enum"] = _registered_names()
        return schema


TYPED_OPERATIONS: dict[str, type[SubmissionOptions]] = {
    "echo": EchoJobSubmission,
    "sleep": SleepJobSubmission,
    "fail": FailJobSubmission,
    "aggregate": AggregateJobSubmission,
    "describe": DescribeJobSubmission,
    "value_counts": ValueCountsJobSubmission,
    "filter": FilterJobSubmission,
    "top_k": TopKJobSubmission,
    "sample": SampleJobSubmission,
    "convert": ConvertJobSubmission,
}
_REGISTERED = "registered"


def _variant(value: Any) -> str:
    """Which variant a body is: its operation's, or the registered one (unknown names end there,
    and the queue refuses them with the list of operations it has)."""
    operation = value.get("operation") if isinstance(value, dict) else getattr(value, "operation", None)
    return operation if isinstance(operation, str) and operation in TYPED_OPERATIONS else _REGISTERED


class _OnlyLiveVariants:
    """Leaves the registered variant out of the schema's ``oneOf`` while no operation needs it."""

    def __get_pydantic_json_schema__(
        self, core: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core)
        if not _registered_names():
            # the refs are pydantic's own until the end: the variant is known by its title
            schema["oneOf"] = [
                v
                for v in schema["oneOf"]
                if handler.resolve_ref_schema(v).get("title") != RegisteredJobSubmission.__name__
            ]
        return schema


JobSubmissionBody = Annotated[
    Annotated[EchoJobSubmission, Tag("echo")]
    | Annotated[SleepJobSubmission, Tag("sleep")]
    | Annotated[FailJobSubmission, Tag("fail")]
    | Annotated[AggregateJobSubmission, Tag("aggregate")]
    | Annotated[DescribeJobSubmission, Tag("describe")]
    | Annotated[ValueCountsJobSubmission, Tag("value_counts")]
    | Annotated[FilterJobSubmission, Tag("filter")]
    | Annotated[TopKJobSubmission, Tag("top_k")]
    | Annotated[SampleJobSubmission, Tag("sample")]
    | Annotated[ConvertJobSubmission, Tag("convert")]
    | Annotated[RegisteredJobSubmission, Tag(_REGISTERED)],
    Discriminator(_variant),
    _OnlyLiveVariants(),
]

_ADAPTER: TypeAdapter[SubmissionOptions] = TypeAdapter(JobSubmissionBody)


def parse_submission(body: dict[str, Any]) -> SubmissionOptions:
    """A submit body as its variant (pydantic's ValidationError when the schema refuses it)."""
    return _ADAPTER.validate_python(body)
