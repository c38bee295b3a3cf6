"""Logging for the API and the worker: readable by default, one JSON object a line on request.

In the worker every line names the job it was written for: the Celery task id is the job id.
"""

from __future__ import annotations

import logging

from celery import current_task
from pythonjsonlogger.json import JsonFormatter

from digitgan.settings import Settings

READABLE = "%(asctime)s %(levelname)s %(name)s%(job)s: %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"
# uvicorn sets up its own loggers; they are pointed at the same handler instead.
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
# A record's own attributes, left out of the JSON object; `job` is the readable form of job_id.
NOT_IN_JSON = [*logging.makeLogRecord({}).__dict__, "job"]


class JobIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # Inside a task, the running task; in the worker's main process, Celery's own
        # task lines ("received", "succeeded") carry the task id in `data`.
        task = current_task
        data = getattr(record, "data", None)
        job_id = task.request.id if task else data.get("id") if isinstance(data, dict) else None
        record.job_id = job_id
        record.job = f" [job {job_id}]" if job_id else ""
        return True


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(JobIdFilter())
    if settings.log_json:
        handler.setFormatter(JsonFormatter(JSON_FIELDS, reserved_attrs=NOT_IN_JSON))
    else:
        handler.setFormatter(logging.Formatter(READABLE))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    for name in UVICORN_LOGGERS:
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
        logging.getLogger(name).setLevel(settings.log_level)
