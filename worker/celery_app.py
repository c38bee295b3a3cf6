"""The worker's Celery application: `celery -A worker.celery_app worker`.

Configured by digitgan.queue (shared with the API); here only what a worker process does
when it starts, forks a child and shuts down.
"""

from __future__ import annotations

from celery.signals import setup_logging, worker_process_init, worker_shutting_down

from digitgan.logs import configure_logging
from digitgan.queue import create_celery
from digitgan.settings import get_settings
from worker import shutdown

settings = get_settings()
app = create_celery(settings, include=("worker.tasks",))


@worker_process_init.connect
def _prepare_child(**_: object) -> None:
    # Set in each forked child, where training runs. The parent imports torch but must
    # never initialise CUDA or torch's thread pools: neither survives a fork.
    import torch

    torch.set_num_threads(settings.worker_torch_threads)


@worker_shutting_down.connect
def _stop_running_jobs(**_: object) -> None:
    shutdown.forward_to_children()


@setup_logging.connect
def _configure_logging(**_: object) -> None:
    # Connecting this signal keeps Celery from installing its own log format.
    configure_logging(settings)
