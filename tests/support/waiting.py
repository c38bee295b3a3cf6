"""Waiting for something to become true: one way for a condition, one for a job."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

FINISHED = frozenset({"succeeded", "failed", "cancelled"})


def wait_until(condition: Callable[[], Any], timeout: float = 60, what: str = "") -> Any:
    """Poll until `condition()` is truthy, and return that value; TimeoutError after
    `timeout` seconds, naming `what`."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"not met within {timeout}s: {what}")
        time.sleep(0.1)
    return result


def job_record(client: Any, job_id: str) -> dict[str, Any]:
    """The job's record as the API serves it (`client`: a TestClient or httpx.Client)."""
    response = client.get(f"/v1/jobs/{job_id}")
    assert response.status_code == 200, response.text
    record: dict[str, Any] = response.json()
    return record


def job_in(
    client: Any, job_id: str, condition: Callable[[dict[str, Any]], Any], timeout: float = 90
) -> dict[str, Any]:
    """The job's record once `condition(record)` holds."""

    def matching() -> dict[str, Any] | None:
        record = job_record(client, job_id)
        return record if condition(record) else None

    return wait_until(matching, timeout, f"job {job_id}")


def finished(client: Any, job_id: str, timeout: float = 120) -> dict[str, Any]:
    """The job's record once it has ended (succeeded, failed or cancelled)."""
    return job_in(client, job_id, lambda j: j["state"] in FINISHED, timeout)


def served_by(client: Any, url: str) -> str:
    """The id of the checkpoint that answered an image URL ("" if none did)."""
    return str(client.get(url).headers.get("x-checkpoint-id", ""))


def serves(client: Any, checkpoint_id: str, ref: str = "latest", timeout: float = 10) -> None:
    """Wait until the API serves `checkpoint_id` for `ref`: each API process follows a
    change within a refresh interval, not at the same instant."""
    url = f"/v1/samples.png?n=1&seed=0&checkpoint={ref}"
    wait_until(
        lambda: served_by(client, url) == checkpoint_id,
        timeout,
        f"the API to serve {checkpoint_id} as {ref}",
    )
