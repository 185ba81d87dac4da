"""/api/llm/models/{deployment_id}/adapters: a deployment's LoRA adapters (list, add, remove).

An added adapter is loaded on every replica; ``/v1`` requests name it as
``model: "<deployment>:<adapter>"``. One that does not fit the base model is a 422 that names
``adapters`` and is loaded nowhere.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from ..deps import ERROR_RESPONSES
from .llm import llm_manager

__all__ = ["router"]

router = APIRouter(responses=ERROR_RESPONSES, tags=["llm"])


class AdapterIn(BaseModel):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$", examples=["sql"])
    path: str = Field(min_length=1, max_length=4096, description="A folder saved with peft's save_pretrained")


class Adapters(BaseModel):
    deployment_id: str
    adapters: dict[str, str] = Field(description="name -> folder")


@router.get("/{deployment_id}/adapters", response_model=Adapters)
def list_adapters(deployment_id: str, request: Request) -> Adapters:
    return Adapters(deployment_id=deployment_id, adapters=llm_manager(request).adapters(deployment_id))


@router.post("/{deployment_id}/adapters", response_model=Adapters, status_code=201)
def add_adapter(deployment_id: str, body: AdapterIn, request: Request) -> Adapters:
    adapters = llm_manager(request).add_adapter(deployment_id, body.name, body.path)
    return Adapters(deployment_id=deployment_id, adapters=adapters)


@router.delete("/{deployment_id}/adapters/{name}", response_model=Adapters)
def remove_adapter(deployment_id: str, name: str, request: Request) -> Adapters:
    adapters = llm_manager(request).remove_adapter(deployment_id, name)
    return Adapters(deployment_id=deployment_id, adapters=adapters)
