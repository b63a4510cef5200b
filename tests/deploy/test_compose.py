"""docker-compose.yml, the Dockerfile and deploy/bots.yaml agree with each other and with the
command line (issue 9, item 6).

This machine has no Docker engine: nothing here builds or starts a container. Debian's
docker-compose parses and resolves the compose file without one (`make compose`); these tests
check what it cannot: that every command a container runs is a real `causette` command with
real options, that the workers share one MongoDB replica set, that every secret the
configuration names is passed through and none is written down, and that the configuration
the containers read is valid.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bots.config import load_settings
from tests.bots.deployment import run_cli

ROOT = Path(__file__).parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
CONFIG = ROOT / "deploy" / "bots.yaml"
WORKERS = ("causette-1", "causette-2")
SECRETS = {
    "RBM_SERVICE_ACCOUNT": "{}",
    "RBM_CLIENT_TOKEN": "client-token",
    "SMSMODE_API_KEY": "api-key",
    "SMSMODE_CALLBACK_SECRET": "callback-secret",
}


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return loaded


def services() -> dict[str, Any]:
    found: dict[str, Any] = compose()["services"]
    return found


def dockerfile_json(instruction: str) -> list[str]:
    """The exec-form arguments of a Dockerfile instruction (`CMD ["serve", ...]`)."""
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    match = re.search(rf"^{instruction}\s+(?:--\S+\s+)*(?:CMD\s+)?(\[.*\])\s*$", text, re.M)
    assert match, f"no exec-form {instruction} in the Dockerfile"
    words: list[str] = yaml.safe_load(match.group(1))
    return words


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="Debian's docker-compose")
def test_docker_compose_accepts_the_file() -> None:
    checked = subprocess.run(
        ["docker-compose", "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr


def test_mongodb_is_a_replica_set_initiated_by_its_healthcheck() -> None:
    mongo = services()["mongo"]
    assert mongo["command"][:2] == ["--replSet", "rs0"]
    check = " ".join(mongo["healthcheck"]["test"])
    assert "rs.initiate" in check
    assert "isWritablePrimary" in check


def test_two_workers_share_the_replica_set_on_their_own_ports() -> None:
    found = services()
    published = set()
    for name in WORKERS:
        worker = found[name]
        assert worker["environment"]["CAUSETTE_STORE"].endswith("?replicaSet=rs0")
        assert worker["depends_on"]["mongo"]["condition"] == "service_healthy"
        assert worker["volumes"][0].endswith(":/config:ro")
        published |= {port.split(":")[0] for port in worker["ports"]}
    assert len(published) == len(WORKERS)
    assert found["causette-1"]["environment"] == found["causette-2"]["environment"]


def test_the_sandbox_is_a_profile() -> None:
    demo = services()["demo"]
    assert demo["profiles"] == ["sandbox"]
    assert demo["command"][0] == "demo"


@pytest.mark.parametrize("name", [*WORKERS, "demo"])
def test_each_service_runs_a_real_causette_command(name: str) -> None:
    command = services()[name]["command"]
    code, out, err = run_cli(*command, "--help")
    assert code == 0, err
    assert "Usage: " in out


def test_the_image_runs_a_real_command_and_checks_a_real_route() -> None:
    assert dockerfile_json("ENTRYPOINT") == ["causette"]
    code, _, err = run_cli(*dockerfile_json("CMD"), "--help")
    assert code == 0, err
    healthcheck = " ".join(dockerfile_json("HEALTHCHECK"))
    assert "http://127.0.0.1:8080/healthz" in healthcheck
    assert "/healthz" in (ROOT / "bots" / "app.py").read_text(encoding="utf-8")


def test_the_image_runs_as_an_unprivileged_user() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users
    assert users[-1] not in {"root", "0"}


def test_secrets_are_passed_through_never_written() -> None:
    settings = load_settings(CONFIG, SECRETS)
    providers = settings.providers
    assert providers.rbm is not None
    assert providers.smsmode is not None
    named = {
        providers.rbm.credentials_env,
        providers.rbm.client_token_env,
        providers.smsmode.api_key_env,
        providers.smsmode.callback_secret_env,
    } | {name for bot in settings.bots for name in bot.env_allow}
    for name in WORKERS:
        environment = services()[name]["environment"]
        assert {
            variable: environment.get(variable, "missing") for variable in named
        } == dict.fromkeys(named)


def test_every_reference_of_the_configuration_is_set_or_has_a_default() -> None:
    environment = services()["causette-1"]["environment"]
    references = re.findall(r"\$\{(\w+)(:-)?", CONFIG.read_text(encoding="utf-8"))
    assert references
    unset = [name for name, default in references if not default and name not in environment]
    assert unset == []


def test_the_containers_configuration_reads_the_compose_environment() -> None:
    environment = {
        key: value
        for key, value in services()["causette-1"]["environment"].items()
        if value is not None and key != "CAUSETTE_FLOWS"  # /app exists in the image only
    }
    settings = load_settings(CONFIG, {**environment, **SECRETS})
    assert settings.store == "mongodb://mongo:27017/causette?replicaSet=rs0"
    assert [bot.id for bot in settings.bots] == ["appointment", "parcel", "survey", "lead"]
    assert all(bot.rcs is not None and bot.sms is not None for bot in settings.bots)


def test_causette_validate_accepts_the_deployment() -> None:
    code, _, err = run_cli("validate", "--config", str(CONFIG), env=SECRETS)
    assert code == 0, err


def test_the_image_leaves_secrets_and_local_state_out() -> None:
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for pattern in (".env", ".git", ".venv", "*.db", "tests"):
        assert pattern in ignored
