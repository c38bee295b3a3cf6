"""Every Redis key and channel the service names, in one place (docs/architecture.md
has them as a table: type, writer, reader, lifetime).

All start with the deployment's prefix (DIGITGAN_REDIS_PREFIX), so several deployments or
test runs can share one Redis database. The Celery queue keeps its historical `.train`
separator, so messages queued by an older version are still consumed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    prefix: str

    # -- checkpoints (digitgan.checkpoints) --------------------------------------------
    def checkpoint_blob(self, checkpoint_id: str) -> str:
        """String: the safetensors blob (generator weights, metadata in its header)."""
        return f"{self.prefix}:ckpt:{checkpoint_id}"

    def checkpoint_meta(self, checkpoint_id: str) -> str:
        """String: the checkpoint's metadata as JSON."""
        return f"{self.prefix}:ckpt-meta:{checkpoint_id}"

    def checkpoint_state(self, checkpoint_id: str) -> str:
        """String: the full training state that resuming needs (a job's newest only)."""
        return f"{self.prefix}:ckpt-state:{checkpoint_id}"

    @property
    def checkpoints(self) -> str:
        """Sorted set: checkpoint ids by publishing time (Redis's clock)."""
        return f"{self.prefix}:ckpts"

    @property
    def latest(self) -> str:
        """String: the id of the checkpoint that `latest` names."""
        return f"{self.prefix}:latest"

    @property
    def aliases(self) -> str:
        """Hash: alias name -> checkpoint id."""
        return f"{self.prefix}:aliases"

    def job_checkpoints(self, job_id: str) -> str:
        """Sorted set: a job's kept checkpoint ids by step (retention prunes the oldest)."""
        return f"{self.prefix}:job-ckpts:{job_id}"

    @property
    def expiring_states(self) -> str:
        """Sorted set: checkpoint ids whose training state goes at that time (its job ended)."""
        return f"{self.prefix}:ckpt-states-expiring"

    @property
    def sizes(self) -> str:
        """Hash: key -> bytes, for every large value counted in the store's size."""
        return f"{self.prefix}:sizes"

    @property
    def store_bytes(self) -> str:
        """String (integer): the sum of `sizes`, what the store budget is checked against."""
        return f"{self.prefix}:store-bytes"

    @property
    def checkpoint_events(self) -> str:
        """Pub/sub channel: announces a new `latest` or a changed alias."""
        return f"{self.prefix}:ckpt-events"

    # -- uploaded data sets (digitgan.datasets) ----------------------------------------------
    def dataset(self, dataset_id: str) -> str:
        """String: the digits as safetensors (images uint8, labels int64)."""
        return f"{self.prefix}:dataset:{dataset_id}"

    def dataset_meta(self, dataset_id: str) -> str:
        """String: the data set's metadata as JSON (name, counts per digit, size, time)."""
        return f"{self.prefix}:dataset-meta:{dataset_id}"

    @property
    def datasets(self) -> str:
        """Sorted set: data set ids by upload time."""
        return f"{self.prefix}:datasets"

    # -- jobs (digitgan.jobs, digitgan.leases) -------------------------------------------
    def job(self, job_id: str) -> str:
        """Hash: the job record, one JSON value per field."""
        return f"{self.prefix}:job:{job_id}"

    def job_history(self, job_id: str) -> str:
        """List: the job's state changes, oldest first."""
        return f"{self.prefix}:job-history:{job_id}"

    @property
    def jobs(self) -> str:
        """Sorted set: every job id by creation time."""
        return f"{self.prefix}:jobs"

    def jobs_in(self, state: str) -> str:
        """Sorted set: the ids of jobs in one state, by creation time."""
        return f"{self.prefix}:jobs:{state}"

    def resend_claim(self, job_id: str) -> str:
        """String with a TTL: the reaper that resends a job's lost message (one of many)."""
        return f"{self.prefix}:resend:{job_id}"

    def lease(self, job_id: str) -> str:
        """String with a TTL: the token of the one worker process that may train the job."""
        return f"{self.prefix}:lease:{job_id}"

    # -- the Celery broker (digitgan.queue) -----------------------------------------------
    @property
    def train_queue(self) -> str:
        """List (Celery's): messages of queued training jobs."""
        return f"{self.prefix}.train"

    @property
    def unacked(self) -> str:
        """Hash (Celery's): delivered messages not yet acknowledged, by delivery tag."""
        return f"{self.prefix}:celery:unacked"

    @property
    def unacked_index(self) -> str:
        """Sorted set (Celery's): delivery tags by delivery time."""
        return f"{self.prefix}:celery:unacked_index"

    @property
    def unacked_mutex(self) -> str:
        """String (Celery's): the lock around restoring unacknowledged messages."""
        return f"{self.prefix}:celery:unacked_mutex"
