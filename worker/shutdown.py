"""Stopping a worker without losing a running job's progress.

A warm shutdown (SIGTERM: Ctrl-C under `digitgan serve`, `docker compose stop`) would
otherwise wait for the running job to end, however long, until something kills it. So
the worker's main process passes the signal on to its pool children; a child that is
training stops at the next step boundary, checkpoints, and puts its job back in the
queue for the next worker to resume.
"""

from __future__ import annotations

import logging
import os
import signal
import threading

from billiard.process import active_children

log = logging.getLogger(__name__)

requested = threading.Event()


def _on_sigterm(signum: int, _frame: object) -> None:
    requested.set()


def listen_in_child() -> None:
    """In a pool child, as a job starts (billiard resets signal handlers after the child's
    initialisers): SIGTERM asks the running job to stop and requeue itself."""
    signal.signal(signal.SIGTERM, _on_sigterm)


def forward_to_children() -> None:
    """In the main process, as it starts a warm shutdown."""
    for child in active_children():
        log.info("asking pool process %s to checkpoint and requeue its job", child.pid)
        os.kill(child.pid, signal.SIGTERM)
