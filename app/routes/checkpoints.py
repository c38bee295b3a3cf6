"""Published checkpoints and their aliases: list, look one up, point an alias (token)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from app.deps import Authorized, Checkpoints, State
from app.problems import INVALID, UNAVAILABLE, invalid, problem
from digitgan.ids import ALIAS, LATEST, MAX_CHECKPOINT_ID, REF

router = APIRouter(prefix="/v1", tags=["checkpoints"], responses={**INVALID, **UNAVAILABLE})

META_EXAMPLE: dict[str, Any] = {
    "id": "3f2a9c0d4b1e4f7a8c6d5e4f3a2b1c0d-0003000",
    "architecture": "cmlp",
    "step": 3000,
    "dataset": "mnist-5k",
    "job_id": "3f2a9c0d4b1e4f7a8c6d5e4f3a2b1c0d",
    "created_at": "2026-01-01T12:00:00+00:00",
}


class CheckpointOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"id": META_EXAMPLE["id"], "aliases": ["production"]}]}
    )

    id: str
    aliases: list[str] = Field(description="The aliases (and `latest`) that point here.")
    meta: dict[str, Any] = Field(
        description="The checkpoint's metadata as stored: architecture, sizes, "
        "hyperparameters, data set, step, job, time, and quality numbers where measured.",
        examples=[META_EXAMPLE],
    )


class CheckpointList(BaseModel):
    checkpoints: list[CheckpointOut]
    latest: str | None = Field(examples=[META_EXAMPLE["id"]])
    aliases: dict[str, str] = Field(examples=[{"production": META_EXAMPLE["id"]}])
    total: int
    limit: int
    offset: int


class AliasIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    checkpoint_id: str = Field(
        pattern=REF, max_length=MAX_CHECKPOINT_ID, examples=[META_EXAMPLE["id"]]
    )


class AliasOut(BaseModel):
    name: str = Field(examples=["production"])
    checkpoint_id: str = Field(examples=[META_EXAMPLE["id"]])


def _names_by_target(latest: str | None, aliases: dict[str, str]) -> dict[str, list[str]]:
    names: dict[str, list[str]] = {}
    for name, target in sorted({**aliases, **({LATEST: latest} if latest else {})}.items()):
        names.setdefault(target, []).append(name)
    return names


def _out(meta: dict[str, Any], names: dict[str, list[str]]) -> CheckpointOut:
    return CheckpointOut(id=meta["id"], aliases=names.get(meta["id"], []), meta=meta)


@router.get("/checkpoints")
def list_checkpoints(
    checkpoints: Checkpoints,
    limit: Annotated[int, Query(ge=1, le=200, examples=[20])] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> CheckpointList:
    """Published checkpoints, newest first, with `latest` and the aliases."""
    latest, aliases = checkpoints.refs()
    names = _names_by_target(latest, aliases)
    return CheckpointList(
        checkpoints=[_out(m, names) for m in checkpoints.page(limit, offset)],
        latest=latest,
        aliases=aliases,
        total=checkpoints.count(),
        limit=limit,
        offset=offset,
    )


@router.get(
    "/checkpoints/{ref}",
    responses={404: problem("No checkpoint or alias of that name.")},
)
def get_checkpoint(
    checkpoints: Checkpoints,
    ref: Annotated[
        str,
        Path(pattern=REF, description="A checkpoint id, an alias or `latest`.", examples=[LATEST]),
    ],
) -> CheckpointOut:
    """One checkpoint's metadata (by id, alias or `latest`)."""
    latest, aliases = checkpoints.refs()
    checkpoint_id = aliases.get(ref) or (latest if ref == LATEST else ref)
    meta = checkpoints.meta(checkpoint_id) if checkpoint_id else None
    if meta is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no checkpoint or alias named {ref!r}")
    return _out(meta, _names_by_target(latest, aliases))


@router.delete(
    "/checkpoints/{checkpoint_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[Authorized],
    responses={
        401: problem("Missing or wrong token."),
        404: problem("No checkpoint with that id."),
        409: problem("`latest` or an alias names it."),
    },
)
async def delete_checkpoint(
    checkpoints: Checkpoints,
    checkpoint_id: Annotated[str, Path(pattern=REF, description="A checkpoint id (not an alias).")],
) -> Response:
    """Delete a checkpoint to make room in the store: its weights, metadata and training
    state. `latest` and aliased checkpoints stay (409): move the alias first."""
    if not await run_in_threadpool(checkpoints.delete, checkpoint_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no checkpoint with id {checkpoint_id!r}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/aliases")
def list_aliases(checkpoints: Checkpoints) -> list[AliasOut]:
    """Every alias and the checkpoint it points at."""
    return [AliasOut(name=k, checkpoint_id=v) for k, v in sorted(checkpoints.aliases().items())]


AliasName = Annotated[
    str,
    Path(
        pattern=ALIAS,
        description="Lower-case letters, digits, `-` and `_`, starting with a letter; "
        "at most 32 characters; not `latest`.",
        examples=["production"],
    ),
]


@router.put(
    "/aliases/{name}",
    dependencies=[Authorized],
    responses={
        401: problem("Missing or wrong token."),
        404: problem("No checkpoint with that id."),
        409: problem("As many aliases as allowed exist already."),
    },
)
async def set_alias(
    name: AliasName, body: AliasIn, state: State, checkpoints: Checkpoints
) -> AliasOut:
    """Point an alias at a published checkpoint, so pages can pin a known-good model
    while training goes on. Every API process follows it within a second."""
    if name == LATEST:
        raise invalid(("path", "name"), "`latest` moves by itself on publishing; pick another")
    try:
        pointed = await run_in_threadpool(checkpoints.set_alias, name, body.checkpoint_id)
    except ValueError as exc:  # too many aliases
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    if not pointed:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"no checkpoint with id {body.checkpoint_id!r}"
        )
    await run_in_threadpool(state.models.refresh)  # this process: at once
    return AliasOut(name=name, checkpoint_id=body.checkpoint_id)


@router.delete(
    "/aliases/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[Authorized],
    responses={401: problem("Missing or wrong token."), 404: problem("No such alias.")},
)
async def delete_alias(name: AliasName, state: State, checkpoints: Checkpoints) -> Response:
    """Remove an alias; images that asked for it by name answer 404 from then on."""
    if not await run_in_threadpool(checkpoints.delete_alias, name):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alias named {name!r}")
    await run_in_threadpool(state.models.refresh)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
