"""The Celery application, configured for long training jobs.

Run it with: celery -A worker.celery_app worker --concurrency 1
"""

from __future__ import annotations

from celery import Celery
from celery.signals import setup_logging, worker_process_init, worker_shutting_down

from digitgan.logs import configure_logging
from digitgan.settings import Settings, get_settings
from worker import shutdown

TRAIN_TASK = "digitgan.train"


def train_queue(settings: Settings) -> str:
    """The Redis list that queued training jobs wait in."""
    return f"{settings.redis_prefix}.train"


def create_celery(settings: Settings) -> Celery:
    """The Celery app for `settings`; the API uses it only to send jobs by task name."""
    transport = {"visibility_timeout": settings.visibility_timeout_s}
    celery = Celery("digitgan", broker=settings.redis_url, include=["worker.tasks"])
    celery.conf.update(
        # A job is acknowledged only when it ends, so a worker that dies mid-job leaves it
        # to be delivered again instead of losing it.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # One training job at a time per worker, and no job waiting behind it on this worker.
        worker_prefetch_multiplier=1,
        worker_concurrency=1,
        # A fresh child process per job: its memory (and GPU memory) goes back when it ends.
        worker_max_tasks_per_child=1,
        broker_transport_options=transport,
        result_backend_transport_options=transport,
        # The job record in Redis is the result; Celery's own result store is not used.
        task_ignore_result=True,
        task_default_queue=train_queue(settings),
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    return celery


settings = get_settings()
app = create_celery(settings)


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
