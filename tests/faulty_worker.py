"""A real Celery worker whose checkpoints come out truncated after step GOOD_STEPS: the
"corrupt checkpoint" fault. Start it with `celery -A tests.faulty_worker worker`."""

from __future__ import annotations

import os

from models import checkpoint
from worker.celery_app import app  # noqa: F401  (the app Celery runs)

GOOD_STEPS = int(os.environ.get("DIGITGAN_TEST_GOOD_STEPS", "0"))
_to_bytes = checkpoint.to_bytes


def _truncated_after_good_steps(meta, generator_state) -> bytes:
    blob = _to_bytes(meta, generator_state)
    return blob if meta["step"] <= GOOD_STEPS else blob[: len(blob) // 2]


# The worker's own module objects, patched before its pool forks: nothing else changes.
checkpoint.to_bytes = _truncated_after_good_steps
