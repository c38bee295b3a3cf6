"""The container files, checked without a Docker engine: lint, parse, and run each
compose service's own command as a local process against its own health check."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
import yaml

from digitgan.cli.serve import free_port
from tests.support import TOKEN
from tests.support.processes import ROOT

COMPOSE = shutil.which("docker-compose")
# The project's own commands (hadolint, uvicorn, celery, python) come from the virtual
# environment running the tests, whether or not it is on the PATH.
VENV_PATH = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
needs_compose = pytest.mark.skipif(
    COMPOSE is None, reason="Debian's docker-compose is not installed (.ci/run installs it)"
)


def test_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint", path=VENV_PATH)
    result = subprocess.run(
        [hadolint, "Dockerfile"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


SECRETS = {
    "DIGITGAN_API_TOKEN": TOKEN,
    "REDIS_PASSWORD": "redis-secret-0123",
    "FLOWER_BASIC_AUTH": "admin:flower-secret",
}


def compose_config(*profiles: str) -> dict:
    env = os.environ | SECRETS
    args = [COMPOSE, "--env-file", ".env.example"]
    for profile in profiles:
        args += ["--profile", profile]
    result = subprocess.run(
        [*args, "config"], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return yaml.safe_load(result.stdout)


@needs_compose
def test_compose_file_parses_with_redis_api_workers_and_flower():
    services = compose_config("gpu", "cpu")["services"]
    assert set(services) == {"redis", "api", "worker", "worker-cpu", "flower"}
    redis_command = services["redis"]["command"]
    assert "--appendonly" in redis_command
    # Full is refused, never evicted; and Redis wants its password from every service.
    assert redis_command[redis_command.index("--maxmemory-policy") + 1] == "noeviction"
    assert redis_command[redis_command.index("--requirepass") + 1] == SECRETS["REDIS_PASSWORD"]
    for name in ("api", "worker", "worker-cpu"):
        url = services[name]["environment"]["DIGITGAN_REDIS_URL"]
        assert url == f"redis://:{SECRETS['REDIS_PASSWORD']}@redis:6379/0"
    # Only the API holds the token; Flower is behind basic auth, on the loopback only.
    assert services["api"]["environment"]["DIGITGAN_API_TOKEN"] == TOKEN
    assert "DIGITGAN_API_TOKEN" not in services["worker"]["environment"]
    assert f"--basic-auth={SECRETS['FLOWER_BASIC_AUTH']}" in services["flower"]["command"]
    port = services["flower"]["ports"][0]
    assert (port["host_ip"] if isinstance(port, dict) else port.split(":")[0]) == "127.0.0.1"
    assert services["worker"]["environment"]["DIGITGAN_GPU_JOBS"]
    assert services["api"]["command"] == ["python", "-m", "app"]
    assert services["api"]["depends_on"]["redis"]["condition"] == "service_healthy"
    gpu = services["worker"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["capabilities"] == ["gpu"] and "deploy" not in services["worker-cpu"]


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_compose_file_without_each_secret_is_refused(missing):
    if COMPOSE is None:
        pytest.skip("Debian's docker-compose is not installed")
    env = {k: v for k, v in (os.environ | SECRETS).items() if k != missing}
    result = subprocess.run(
        [COMPOSE, "--env-file", ".env.example", "config"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0 and missing in result.stderr


def test_env_example_sets_no_secret_and_no_empty_line():
    lines = (ROOT / ".env.example").read_text().splitlines()
    settings = [line for line in lines if line and not line.startswith("#")]
    assert all(not line.endswith("=") for line in settings), settings
    assert not any(line.split("=")[0] in SECRETS for line in settings)


class LocalStack:
    """Compose services as local processes: service names become 127.0.0.1, and each
    published port a free one."""

    def __init__(self, services: dict, tmp_path: Path, stack: ExitStack):
        self.services = services
        self.tmp_path = tmp_path
        self.stack = stack
        self.redis_port = free_port()

    def localise(self, text: str, ports: dict[str, int]) -> str:
        text = text.replace("@redis:6379", f"@127.0.0.1:{self.redis_port}")
        text = text.replace("0.0.0.0", "127.0.0.1")
        for old, new in ports.items():
            text = text.replace(old, str(new))
        return text

    def environment(self, name: str) -> dict[str, str]:
        env = self.services[name].get("environment", {})
        return (
            os.environ
            | {"PATH": VENV_PATH}
            | {k: self.localise(str(v), {}) for k, v in env.items()}
        )

    def start(
        self,
        name: str,
        extra: list[str] = (),
        ports: dict[str, int] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        command = [self.localise(part, ports or {}) for part in self.services[name]["command"]]
        log = (self.tmp_path / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            [*command, *extra],
            cwd=self.tmp_path,
            env=self.environment(name) | (env or {}),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.stack.callback(_stop, proc)

    def healthcheck(self, name: str, ports: dict[str, int] | None = None) -> int:
        """Run the service's compose health check here; its exit code."""
        kind, *test = self.services[name]["healthcheck"]["test"]
        test = [self.localise(part, ports or {}) for part in test]
        if kind == "CMD-SHELL":
            # `config` keeps compose's escaping; compose itself hands the shell one `$`.
            test = ["sh", "-c", test[0].replace("$$", "$")]
        env = self.environment(name) | {"HOSTNAME": socket.gethostname()}
        return subprocess.run(test, cwd=ROOT, env=env, capture_output=True, timeout=60).returncode


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def local_stack(tmp_path: Path) -> Iterator[LocalStack]:
    with ExitStack() as stack:
        yield LocalStack(compose_config("gpu", "cpu")["services"], tmp_path, stack)


def _eventually(check, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return False


@needs_compose
def test_each_compose_service_command_runs_locally_and_is_healthy(local_stack, tmp_path):
    local_stack.start("redis", ["--port", str(local_stack.redis_port), "--dir", str(tmp_path)])
    password = ["-a", SECRETS["REDIS_PASSWORD"], "--no-auth-warning"]
    redis_check = ["redis-cli", "-p", str(local_stack.redis_port), *password, "ping"]
    assert _eventually(lambda: subprocess.run(redis_check, capture_output=True).returncode == 0)

    api_port, flower_port = free_port(), free_port()
    local_stack.start("api", env={"DIGITGAN_PORT": str(api_port), "DIGITGAN_API_WORKERS": "2"})
    local_stack.start("worker")
    local_stack.start("flower", ports={"5555": flower_port})

    assert _eventually(lambda: local_stack.healthcheck("api", {"8000": api_port}) == 0)
    ready = httpx.get(f"http://127.0.0.1:{api_port}/readyz").json()
    assert ready["redis"] == "ok"
    assert _eventually(lambda: local_stack.healthcheck("worker") == 0, 90)
    flower = f"http://127.0.0.1:{flower_port}"
    assert _eventually(lambda: _ok(f"{flower}/healthcheck"))
    assert httpx.get(f"{flower}/workers").status_code == 401  # behind basic auth


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
