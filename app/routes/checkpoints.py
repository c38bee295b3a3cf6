"""Published checkpoints and their aliases: list, look one up, point an alias (token)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from fastapi.concurrency import run_in_threadpool

from app.deps import Authorized, Checkpoints, State
from app.problems import BODY, INVALID, UNAVAILABLE, invalid, problem
from digitgan.ids import ALIAS, LATEST, REF
from digitgan.schemas import AliasIn, AliasOut, CheckpointList, CheckpointOut

router = APIRouter(prefix="/v1", tags=["checkpoints"], responses={**INVALID, **UNAVAILABLE})


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
        **BODY,
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
        **BODY,
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
    responses={**BODY, 404: problem("No such alias.")},
)
async def delete_alias(name: AliasName, state: State, checkpoints: Checkpoints) -> Response:
    """Remove an alias; images that asked for it by name answer 404 from then on."""
    if not await run_in_threadpool(checkpoints.delete_alias, name):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alias named {name!r}")
    await run_in_threadpool(state.models.refresh)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
