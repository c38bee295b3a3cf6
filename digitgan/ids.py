"""The shapes of ids and names: job ids, checkpoint ids, aliases. The records that make
them and the routes that accept them both use these patterns."""

from __future__ import annotations

import hashlib
import re
import uuid

# A job id: 32 lower-case hex digits (a UUID4 without dashes).
JOB_ID = r"^[0-9a-f]{32}$"
# A checkpoint id: `<job id>-<step, 7 digits>` for a job's checkpoints, other names for
# checkpoints made outside a job (the bundled model's `bundled-<content hash>`).
CHECKPOINT_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
MAX_CHECKPOINT_ID = 128
# An alias: a short lower-case name, chosen by a person.
ALIAS = r"^[a-z][a-z0-9_-]{0,31}$"
# An uploaded data set: 16 hex digits of its content's SHA-256, so the same upload twice
# is the same data set; jobs name it `upload:<id>`.
DATASET_ID = r"^[0-9a-f]{16}$"
UPLOAD_PREFIX = "upload:"
# What an image or checkpoint request may name: a checkpoint id, an alias or `latest`.
# Every alias and `latest` match the checkpoint-id pattern too.
REF = CHECKPOINT_ID
LATEST = "latest"


def new_job_id() -> str:
    return uuid.uuid4().hex


def is_job_id(value: str) -> bool:
    return re.fullmatch(JOB_ID, value) is not None


def dataset_id(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()[:16]


def uploaded_dataset(name: str) -> str | None:
    """The data set id in a job's `upload:<id>` data set name, else None."""
    if not name.startswith(UPLOAD_PREFIX):
        return None
    found = name[len(UPLOAD_PREFIX) :]
    return found if re.fullmatch(DATASET_ID, found) else None


def checkpoint_id(job_id: str, step: int) -> str:
    """The id of a job's checkpoint at `step`."""
    return f"{job_id}-{step:07d}"
