"""Each fault injected with real processes: a SIGKILLed worker, a worker gone for good,
a Redis restart, a corrupt checkpoint, two jobs on two workers, a worker on another
"host" (its own directories, and its own network namespace where root allows)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.state import services
from digitgan.queue import TRAIN_TASK, create_celery
from tests.conftest import private_settings, running_worker
from tests.support import AUTH, FAST, TINY
from tests.support.checkpoints import publish_trained
from tests.support.processes import RedisServer, kill_tree, settings_env, start_worker, wait_ready
from tests.support.waiting import finished, job_in, job_record, serves, wait_until


@pytest.fixture
def settings(settings):
    return settings.model_copy(update=FAST)


@pytest.fixture
def workers(tmp_path):
    """Start workers with start(settings, name, ...); all are SIGKILLed at the end."""
    started = []

    def start(settings, name="w1", **kwargs):
        log = tmp_path / f"{name}.log"
        proc = start_worker(settings, log, name=name, **kwargs)
        started.append((proc, log))
        return proc

    start.started = started
    start.logs = lambda: b"".join(log.read_bytes() for _, log in started)

    yield start
    for proc, log in started:
        kill_tree(proc)
        print(f"--- {log.name}\n{log.read_text()[-2500:]}")


def checkpointed(client, job_id: str) -> dict:
    """The job once it is running and has published a checkpoint."""
    return job_in(client, job_id, lambda j: j["checkpoint_id"] and j["state"] == "running", 90)


def submit(client, **spec) -> dict:
    response = client.post("/v1/jobs", json=spec, headers=AUTH)
    assert response.status_code == 202, response.text
    return response.json()


def test_a_killed_workers_job_resumes_from_its_checkpoint_on_another_worker(
    client, settings, workers, tmp_path
):
    standby = workers(settings, "w1", wait=False)
    workers(settings, "w2")
    wait_ready(standby, tmp_path / "w1.log")
    job = submit(client, architecture="mlp", steps=120, checkpoint_every=10, batch_size=8, seed=1)
    checkpointed(client, job["id"])
    trainer = next(
        proc
        for proc, log in workers.started
        if f"job {job['id']}: attempt 1".encode() in log.read_bytes()
    )
    kill_tree(trainer)  # the whole worker, as when its host dies
    kept = job_record(client, job["id"])["checkpoint_id"]
    kept_step = int(kept.rsplit("-", 1)[1])

    # Noticed within lease_s + a heartbeat, queued again, and taken by the other worker.
    done = finished(client, job["id"])
    assert done["state"] == "succeeded", done
    assert done["attempt"] == 2 and done["resumed_from"] == kept
    assert [(t["state"], t["attempt"]) for t in done["history"]] == [
        ("queued", 0),
        ("running", 1),
        ("queued", 1),
        ("running", 2),
        ("succeeded", 2),
    ]
    assert "stopped sending heartbeats" in done["history"][2]["note"]
    # One unbroken loss curve: attempt 2 went on from the kept step, not from 0.
    steps = [p[0] for p in client.get(f"/v1/jobs/{job['id']}/losses").json()["points"]]
    assert steps == sorted(set(steps)) and steps[-1] == 120
    assert any(s > kept_step for s in steps) and any(s <= kept_step for s in steps)


def test_a_job_whose_worker_is_gone_for_good_fails_after_its_attempts(settings, workers):
    settings = settings.model_copy(update={"max_attempts": 1})
    with TestClient(create_app(settings)) as client:
        worker = workers(settings, "w1")
        job = submit(client, architecture="mlp", steps=5000, checkpoint_every=100, batch_size=8)
        checkpointed(client, job["id"])
        kill_tree(worker)
        kept = job_record(client, job["id"])["checkpoint_id"]
        failed = finished(client, job["id"], timeout=30)
    assert failed["state"] == "failed" and failed["attempt"] == 1
    assert "stopped sending heartbeats" in failed["error"]
    assert f"resume_from={kept!r}" in failed["error"]


def test_redis_restart_api_answers_503_then_both_reconnect(tmp_path, workers):
    (tmp_path / "redis").mkdir()
    server = RedisServer(tmp_path / "redis")
    server.start()
    settings = private_settings(server.url, **FAST)
    try:
        worker = workers(settings, "w1", wait=False)
        with TestClient(create_app(settings)) as client:
            before = submit(client, **TINY)
            client.post(f"/v1/jobs/{before['id']}/cancel", headers=AUTH)
            serves(client, publish_trained(services(client.app).checkpoints)[-1])
            sample = client.get("/v1/samples.png?n=4&seed=1")
            assert sample.status_code == 200

            wait_ready(worker, tmp_path / "w1.log")
            server.stop()
            down = client.get("/v1/jobs")
            assert down.status_code == 503 and "Redis" in down.json()["detail"]
            assert down.headers["retry-after"]
            assert client.post("/v1/jobs", json=TINY, headers=AUTH).status_code == 503
            ready = client.get("/readyz")
            assert ready.status_code == 503 and "connect" in ready.json()["redis"].lower()
            # Sampling goes on from the generator already in memory.
            during = client.get("/v1/samples.png?n=4&seed=1")
            assert during.status_code == 200 and during.content == sample.content

            server.start()  # same port and directory: the append-only file is replayed
            wait_until(lambda: client.get("/readyz").status_code == 200, 20, "readyz")
            assert job_record(client, before["id"])["state"] == "cancelled"  # the record survived
            after = finished(client, submit(client, **TINY | {"steps": 20})["id"])
            assert after["state"] == "succeeded", after
            assert worker.poll() is None  # the same worker process, never restarted
            serves(client, after["checkpoint_id"])
    finally:
        server.stop()


def test_a_corrupt_checkpoint_is_refused_and_the_previous_one_served(
    client, settings, workers, tmp_path
):
    before = publish_trained(services(client.app).checkpoints)[-1]
    env = settings_env(settings) | {"DIGITGAN_TEST_GOOD_STEPS": "20"}
    workers(settings, "faulty", app="tests.faulty_worker", env=env)
    job = submit(client, **TINY)
    failed = finished(client, job["id"])
    good = f"{job['id']}-0000020"
    assert failed["state"] == "failed" and failed["checkpoint_id"] == good
    assert "refused" in failed["error"] and f"resume_from={good!r}" in failed["error"]
    assert "refused, not published" in (tmp_path / "faulty.log").read_text()
    assert not services(client.app).checkpoints.exists(f"{job['id']}-0000040")
    serves(client, before)  # `latest` is as it was
    serves(client, good, ref=good)  # the last good one is kept, by id


@pytest.mark.parametrize("network", ["shared network", "own network namespace"])
def test_two_jobs_on_two_hosts_and_a_duplicate_delivery(workers, tmp_path, network):
    """The second worker is another host: its own empty working and data directories and,
    in the second variant, its own network, reaching Redis over a veth pair. Nothing but
    Redis is shared."""
    with contextlib.ExitStack() as stack:
        namespace = None
        if network == "own network namespace":
            namespace = stack.enter_context(network_namespace())
        (tmp_path / "redis").mkdir()
        server = RedisServer(tmp_path / "redis", extra_bind=namespace and namespace[1])
        server.start()
        stack.callback(server.stop)
        # Nothing is killed here: a lease long enough that a busy machine never loses one.
        settings = private_settings(server.url, heartbeat_s=0.5, lease_s=15.0)
        far = settings
        if namespace:
            far = settings.model_copy(
                update={"redis_url": f"redis://{namespace[1]}:{server.port}/0"}
            )
        host2 = tmp_path / "host2"
        for sub in ("work", "data", "home"):
            (host2 / sub).mkdir(parents=True)
        env2 = settings_env(far) | {
            "DIGITGAN_DATA_DIR": str(host2 / "data"),
            "HOME": str(host2 / "home"),
        }
        one = workers(settings, "w1", wait=False)
        workers(
            far,
            "w2",
            cwd=host2 / "work",
            env=env2,
            prefix_command=("ip", "netns", "exec", namespace[0]) if namespace else (),
        )
        wait_ready(one, tmp_path / "w1.log")
        client = stack.enter_context(TestClient(create_app(settings)))

        first = submit(client, **TINY | {"steps": 80})
        checkpointed(client, first["id"])
        # The same job delivered again while it runs: the idle worker must leave it alone.
        create_celery(settings).send_task(TRAIN_TASK, args=[first["id"]])
        wait_until(lambda: b"duplicate" in workers.logs(), 30, "the duplicate to be seen")
        second = submit(client, **TINY)

        a, b = finished(client, first["id"]), finished(client, second["id"])
        for job, asked in ((a, first), (b, second)):
            assert job["state"] == "succeeded", job
            assert job["spec"] == asked["spec"] and job["checkpoint_id"].startswith(job["id"])
            assert [t["state"] for t in job["history"]] == ["queued", "running", "succeeded"]
        assert workers.logs().count(b": attempt 1 on ") == 2
        assert b": attempt 1 on " in (tmp_path / "w2.log").read_bytes()
        newest = max((a, b), key=lambda j: j["finished_at"])["checkpoint_id"]
        serves(client, newest)
        assert not any((host2 / "data").iterdir())


@contextlib.contextmanager
def network_namespace() -> Iterator[tuple[str, str]]:
    """A network namespace joined to this one by a veth pair: (its name, the address of
    this side). Skips the test where namespaces cannot be made (not root, no iproute2)."""
    tag = uuid.uuid4().hex[:6]
    name, outside, inside = f"dg-{tag}", f"dg{tag}a", f"dg{tag}b"
    net = f"10.{int(tag[:2], 16)}.{int(tag[2:4], 16)}"
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2 (`ip`)")
    if _run(f"ip netns add {name}"):
        pytest.skip("this sandbox refuses `ip netns add`")
    try:
        for command in (
            f"ip link add {outside} type veth peer name {inside}",
            f"ip link set {inside} netns {name}",
            f"ip addr add {net}.1/30 dev {outside}",
            f"ip link set {outside} up",
            f"ip netns exec {name} ip addr add {net}.2/30 dev {inside}",
            f"ip netns exec {name} ip link set {inside} up",
            f"ip netns exec {name} ip link set lo up",
        ):
            assert _run(command) == 0, command
        yield name, f"{net}.1"
    finally:
        _run(f"ip netns del {name}")
        _run(f"ip link del {outside}")


def _run(command: str) -> int:
    return subprocess.run(command.split(), capture_output=True).returncode


def test_a_stopping_worker_checkpoints_its_job_and_the_next_worker_resumes_it(
    client, settings, workers, tmp_path
):
    """SIGTERM to the worker's main process (Ctrl-C under `digitgan serve`, `docker compose
    stop`): the running job stops at a step boundary, checkpoints and is requeued."""
    first = workers(settings, "w1")
    job = submit(client, **TINY | {"steps": 100_000, "checkpoint_every": 100_000})
    job_in(client, job["id"], lambda j: j["progress"]["step"] > 0, 60)
    first.send_signal(signal.SIGTERM)
    assert first.wait(30) == 0  # a warm shutdown that did not wait for 100,000 steps

    requeued = job_record(client, job["id"])
    assert requeued["state"] == "queued" and requeued["checkpoint_id"]
    assert "worker shut down at step" in requeued["history"][-1]["note"]
    step = int(requeued["checkpoint_id"].rsplit("-", 1)[1])
    assert step >= requeued["progress"]["step"] > 0

    workers(settings, "w2")
    resumed = wait_until(
        lambda: (j := job_record(client, job["id"]))["attempt"] == 2 and j["resumed_from"] and j,
        60,
        "the second attempt",
    )
    assert resumed["resumed_from"] == requeued["checkpoint_id"]
    client.post(f"/v1/jobs/{job['id']}/cancel", headers=AUTH)
    assert finished(client, job["id"])["state"] == "cancelled"


def test_a_killed_training_process_is_noticed_at_once_not_after_its_lease(
    settings, workers, tmp_path
):
    """SIGKILL of the pool child alone (the out-of-memory killer, a crash): its Celery
    parent delivers the job again at once, and the next child takes over the dead one's
    lease, well before the (long) lease would have run out."""
    settings = settings.model_copy(update={"lease_s": 300.0, "heartbeat_s": 1.0})
    with TestClient(create_app(settings)) as client:
        worker = workers(settings, "w1")
        job = submit(client, **TINY | {"steps": 5000, "checkpoint_every": 100})
        kept = checkpointed(client, job["id"])["checkpoint_id"]
        children = subprocess.run(
            ["pgrep", "-P", str(worker.pid)], capture_output=True, text=True
        ).stdout.split()
        assert len(children) == 1, children
        os.kill(int(children[0]), signal.SIGKILL)
        # Within a minute, far inside the 300 s lease that the reaper would wait out.
        second = job_in(client, job["id"], lambda j: j["attempt"] == 2 and j["resumed_from"], 60)
        assert second["state"] == "running" and second["resumed_from"] >= kept
        client.post(f"/v1/jobs/{job['id']}/cancel", headers=AUTH)
        assert finished(client, job["id"])["state"] == "cancelled"


def test_a_worker_runs_gpu_jobs_at_once_each_in_its_own_process(client, settings, tmp_path):
    """DIGITGAN_GPU_JOBS: the worker's pool has that many processes, one job each."""
    with running_worker(settings, tmp_path / "w.log", DIGITGAN_GPU_JOBS="2"):
        both = [
            submit(client, **TINY | {"steps": 100_000, "checkpoint_every": 2000}) for _ in range(2)
        ]
        for job in both:
            job_in(client, job["id"], lambda j: j["progress"]["step"] > 0, 90)
        assert all(job_record(client, j["id"])["state"] == "running" for j in both)
        for job in both:
            client.post(f"/v1/jobs/{job['id']}/cancel", headers=AUTH)
        assert {finished(client, j["id"])["state"] for j in both} == {"cancelled"}
