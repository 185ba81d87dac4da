"""/api/processing/data/*: register, upload, list, inspect, partition and delete datasets."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, File, Form, Request, UploadFile
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import JsonDict

from ..deps import ERROR_RESPONSES, datasets
from ..models import DatasetAccepted, DatasetDeleted, DatasetDetail, DatasetList, DatasetPartitioned

__all__ = ["router"]

router = APIRouter(responses=ERROR_RESPONSES, tags=["data"])


class ReadOptions(BaseModel):
    """The reader options REST may set (never arbitrary reader arguments)."""

    model_config = ConfigDict(extra="forbid")
    sep: str | None = Field(None, min_length=1, max_length=4)
    encoding: str | None = Field(None, min_length=1, max_length=40)


class RegisterRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(min_length=1, max_length=4096, examples=["/data/expression/*.csv"])
    name: str | None = Field(None, min_length=1, max_length=200)
    format: Literal["csv", "parquet", "json"] | None = None
    options: ReadOptions | None = None


# at least one of the two sizes, and not null: in the schema as in the code
_A_SIZE: JsonDict = {
    "anyOf": [
        {"required": ["partition_size_mb"], "properties": {"partition_size_mb": {"type": "number"}}},
        {"required": ["n_partitions"], "properties": {"n_partitions": {"type": "integer"}}},
    ]
}


class PartitionRequest(BaseModel):
    """``n_partitions`` wins when both are given."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_A_SIZE)
    dataset_id: str = Field(min_length=1, max_length=200)
    partition_size_mb: float | None = Field(None, gt=0, le=100_000)
    n_partitions: int | None = Field(None, ge=1, le=100_000)

    @model_validator(mode="after")
    def _has_a_size(self) -> PartitionRequest:
        if self.partition_size_mb is None and self.n_partitions is None:
            raise ValueError("give partition_size_mb or n_partitions (or both: n_partitions wins)")
        return self


def _registry(request: Request) -> Any:
    return datasets(request)


@router.post("/register")
def register_dataset(body: RegisterRequest, request: Request) -> DatasetAccepted:
    """Register a file, glob or folder of CSV, Parquet or JSON lines inside the data roots."""
    options = body.options.model_dump(exclude_none=True) if body.options else {}
    dataset = _registry(request).register(body.path, body.name, body.format, options, trusted=False)
    return DatasetAccepted.model_validate(
        {"message": "Dataset registered", "dataset_id": dataset.id, "dataset": dataset.summary()}
    )


@router.post("/upload")
def upload_dataset(
    request: Request, file: UploadFile = File(...), name: str | None = Form(None)
) -> DatasetAccepted:
    """Upload a small file (up to 200 MB) and register it."""
    dataset = _registry(request).save_upload(file.filename or "", file.file, name)
    return DatasetAccepted.model_validate(
        {"message": "Dataset uploaded", "dataset_id": dataset.id, "dataset": dataset.summary()}
    )


@router.get("/list")
def list_datasets(request: Request) -> DatasetList:
    datasets = _registry(request).list()
    return DatasetList.model_validate({"total": len(datasets), "datasets": [d.summary() for d in datasets]})


@router.get("/{dataset_id}")
def inspect_dataset(dataset_id: str, request: Request) -> DatasetDetail:
    """Columns, dtypes, row estimate, size and partitions."""
    return DatasetDetail.model_validate(_registry(request).inspect(dataset_id))


@router.delete("/{dataset_id}")
def delete_dataset(dataset_id: str, request: Request) -> DatasetDeleted:
    """Forget a dataset (uploaded files are deleted; registered paths are left alone)."""
    _registry(request).delete(dataset_id)
    return DatasetDeleted(message="Dataset deleted", dataset_id=dataset_id)


@router.post("/partition")
def partition_dataset(body: PartitionRequest, request: Request) -> DatasetPartitioned:
    """Choose the partitioning later jobs use (n_partitions wins when both are given)."""
    info = _registry(request).partition(body.dataset_id, body.partition_size_mb, body.n_partitions)
    message = "Data partitioned successfully"
    return DatasetPartitioned.model_validate(
        {"message": message, "dataset_id": body.dataset_id, "partition_info": info}
    )
