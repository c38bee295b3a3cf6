"""Helpers the tests share, one place for each: processes (workers, an API, a Redis that
can be stopped), waiting (for a condition, for a job), checkpoints (publishing one).
Fixtures built on them are in tests/conftest.py."""

# Short heartbeats so that a lost worker is noticed in seconds, not minutes.
FAST = {"heartbeat_s": 0.2, "lease_s": 1.5}
# A job small enough to train in a few seconds on a busy CPU.
TINY = {"architecture": "mlp", "steps": 40, "checkpoint_every": 20, "batch_size": 8, "seed": 1}
TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
