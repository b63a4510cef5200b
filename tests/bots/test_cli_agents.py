"""`causette brands …` and `causette agents …` against the sandbox's management emulator over
loopback (rbm.md §7): the whole script step by step, each step run twice without duplicating
anything, the webhook handshake answered by `causette demo`'s own endpoint, and every bad
value refused before any call (exit 2), every refusal from Google exit 1."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer, unused_port

from bots.demo import DEMO_ENV, build_demo
from bots.wiring import RBM_WEBHOOK_PATH
from sandbox.rbm_management import RbmManagementEmulator
from store.sqlite import SqliteStore
from tests.bots.deployment import run_cli, write_config

ServerFactory = Callable[[web.Application], Awaitable[TestServer]]
SPEC = Path(__file__).parents[2] / "examples" / "agents" / "cabinet.yaml"
TOKEN = "ya29.sandbox"
CLIENT_TOKEN = DEMO_ENV["DEMO_RBM_CLIENT_TOKEN"]
ENV = {"RBM_KEY": "{}", "RBM_TOKEN": CLIENT_TOKEN, "CAUSETTE_RBM_ACCESS_TOKEN": TOKEN}
TESTERS = ("06 12 34 56 78", "+33698765432")
MUTATING = ("POST", "PATCH", "DELETE")


@dataclass
class Remote:
    """The emulator, the configuration pointing at it, and the command line run off the
    event loop (the commands run their own)."""

    emulator: RbmManagementEmulator
    config: Path

    async def run(self, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
        command = (*args, "--config", str(self.config))
        return await asyncio.to_thread(run_cli, *command, env={**ENV, **(env or {})})

    async def ok(self, *args: str) -> str:
        code, out, err = await self.run(*args)
        assert code == 0, err
        return out

    async def as_json(self, *args: str) -> Any:
        return json.loads(await self.ok(*args, "--json"))

    def writes(self) -> list[str]:
        return [call for call in self.emulator.calls if call.startswith(MUTATING)]


@pytest.fixture
async def remote(aiohttp_server: ServerFactory, tmp_path: Path) -> Remote:
    emulator = RbmManagementEmulator(token=TOKEN)
    server = await aiohttp_server(emulator.app())
    base = str(server.make_url("")).rstrip("/")
    providers = (
        "providers:\n  rbm: {credentials_env: RBM_KEY, client_token_env: RBM_TOKEN,"
        f" management_base_url: '{base}'}}"
    )
    config = write_config(tmp_path, "rdv", "appointment.yaml", database="s.db", extra=providers)
    return Remote(emulator, config)


@pytest.fixture
async def demo_url(tmp_path: Path) -> AsyncIterator[str]:
    """`causette demo` served on loopback: its RBM webhook answers the handshake."""
    port = unused_port()
    demo = await build_demo(f"http://127.0.0.1:{port}", tmp_path / "demo.db", greet=None)
    server = TestServer(demo.app, host="127.0.0.1", port=port)
    await server.start_server()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await server.close()


async def test_the_whole_script_step_by_step_then_again_duplicates_nothing(
    remote: Remote, demo_url: str, tmp_path: Path
) -> None:
    emulator = remote.emulator
    webhook = f"{demo_url}{RBM_WEBHOOK_PATH}"
    out = await remote.ok("brands", "create", "Cabinet dentaire des Tilleuls")
    assert "created" in out
    out = await remote.ok("agents", "create", str(SPEC))
    assert "brand 'Cabinet dentaire des Tilleuls' found" in out
    (agent,) = emulator.agents
    agent_id = agent.rsplit("/", 1)[-1]
    assert f"agent id: {agent_id}" in out

    steps: list[tuple[str, ...]] = [
        ("brands", "create", "Cabinet dentaire des Tilleuls"),
        ("agents", "create", str(SPEC)),
        ("agents", "webhook", agent_id, "--url", webhook),
        ("agents", "testers", "add", agent_id, *TESTERS),
        ("agents", "verify", "Dentiste des Tilleuls", "--spec", str(SPEC)),
        ("agents", "launch", agent, "--spec", str(SPEC), "--region", "orange-fr"),
    ]
    for step in steps[2:]:
        await remote.ok(*step)
    # The handshake went to the demo's own endpoint, which echoed the secret.
    assert [(a.kind, a.status) for a in emulator.webhooks.attempts] == [("handshake", 200)]
    assert emulator.agents[agent].verification["verificationState"] == "PENDING"
    emulator.verify(agent)
    emulator.launch(agent, ["/v1/regions/orange-fr"])

    # A second region joins the launch by its update; the launched one is not asked again.
    regions = ("--region", "orange-fr", "--region", "sfr-fr")
    out = await remote.ok("agents", "launch", agent, "--spec", str(SPEC), *regions)
    assert "orange-fr already launched" in out
    assert "launch extended to sfr-fr" in out
    assert f"PATCH /v1/{agent}/launch" in emulator.calls

    shown = await remote.as_json("agents", "status", agent_id)
    assert shown["verification"] == "VERIFIED"
    assert shown["launch"] == {"orange-fr": "LAUNCHED", "sfr-fr": "PENDING"}
    assert shown["local_state"] == "launched"
    assert shown["last_sent_at"] is None
    assert shown["inactive"] is None

    # Every step again: only look-ups, and each says what it found.
    before = len(emulator.calls)
    writes = remote.writes()
    outputs = [await remote.ok(*step) for step in steps]
    assert remote.writes() == writes, emulator.calls[before:]
    assert "found" in outputs[0]
    assert "webhook already" in outputs[2]
    assert outputs[3].count("already invited") == 2
    assert "verification already verified" in outputs[4]
    assert "orange-fr already launched" in outputs[5]
    assert len(emulator.brands) == 1
    assert len(emulator.agents) == 1
    assert len(emulator.integrations[agent]) == 1
    assert sorted(phone for _, phone in emulator.testers.testers) == [
        "+33465711235",
        "+33612345678",
        "+33698765432",
    ]
    launch = emulator.agents[agent].launch
    assert launch is not None
    assert sorted(launch["rcsBusinessMessaging"]["launchDetails"]) == [
        "/v1/regions/orange-fr",
        "/v1/regions/sfr-fr",
    ]
    assert len([a for a in emulator.webhooks.attempts if a.kind == "handshake"]) == 1

    async with SqliteStore(str(tmp_path / "s.db")) as store:
        record = await store.get_agent(agent_id)
        assert record is not None
        assert record.state.value == "launched"


async def test_list_show_and_the_testers_are_masked(remote: Remote) -> None:
    await remote.ok("agents", "create", str(SPEC))
    (agent,) = remote.emulator.agents
    out = await remote.ok("agents", "testers", "add", agent, *TESTERS)
    assert "+33612345678" not in out
    assert "tester +33•••••••78 invited" in out
    listed = await remote.as_json("agents", "testers", "list", agent)
    assert {t["phone"] for t in listed} == {"+33•••••••35", "+33•••••••78", "+33•••••••32"}
    assert {t["invite"] for t in listed} == {"PENDING"}
    out = await remote.ok("agents", "testers", "remove", agent, "0612345678")
    assert "tester +33•••••••78 removed" in out
    out = await remote.ok("agents", "testers", "remove", agent, "0612345678")
    assert "was not invited" in out

    (row,) = await remote.as_json("agents", "list")
    assert row["agent"] == agent
    assert row["brand"] == "Cabinet dentaire des Tilleuls"
    assert row["local_state"] == "unlaunched"
    shown = await remote.as_json("agents", "show", "Dentiste des Tilleuls")
    assert shown["agent"] == agent
    assert shown["verification"] == "UNVERIFIED"
    assert shown["launch"] == {}
    assert shown["hosting_region"] == "EUROPE"
    assert shown["testers"] == {"+33•••••••35": "PENDING", "+33•••••••32": "PENDING"}
    brands = await remote.as_json("brands", "list")
    assert [b["display_name"] for b in brands] == ["Cabinet dentaire des Tilleuls"]


async def test_another_webhook_url_replaces_the_first(remote: Remote, demo_url: str) -> None:
    await remote.ok("agents", "create", str(SPEC))
    (agent,) = remote.emulator.agents
    first = f"{demo_url}{RBM_WEBHOOK_PATH}"
    second = first.replace("127.0.0.1", "localhost")  # the same endpoint, another URL
    await remote.ok("agents", "webhook", agent, "--url", first)
    out = await remote.ok("agents", "webhook", agent, "--url", second)
    assert out.splitlines() == [f"webhook set to {second}", f"webhook {first} removed"]
    (kept,) = remote.emulator.integrations[agent]
    assert kept["agentWebhookIntegration"]["webhookUri"] == second
    shown = await remote.as_json("agents", "show", agent)
    assert shown["webhooks"] == [second]


async def test_a_webhook_failing_the_handshake_is_refused_and_not_kept(
    remote: Remote, demo_url: str
) -> None:
    await remote.ok("agents", "create", str(SPEC))
    (agent,) = remote.emulator.agents
    url = f"{demo_url}{RBM_WEBHOOK_PATH}"
    # Another client token than the demo's: its endpoint refuses the handshake.
    code, _, err = await remote.run(
        "agents", "webhook", agent, "--url", url, env={"RBM_TOKEN": "not-the-demo-token"}
    )
    assert code == 1
    assert "did not answer the verification handshake" in err
    assert "not-the-demo-token" not in err
    assert remote.emulator.integrations.get(agent, []) == []


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("description: ", "x" * 101, "description: 101 characters, the RBM limit is 100"),
        ("display_name: ", "y" * 101, "display_name: 101 characters, the RBM limit is 100"),
        ("brand: ", "z" * 101, "brand: 101 characters, the RBM limit is 100"),
    ],
)
async def test_a_field_over_its_limit_stops_before_any_call(
    remote: Remote, tmp_path: Path, field: str, value: str, expected: str
) -> None:
    lines = SPEC.read_text("utf-8").splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith(field))
    lines[index] = field + value
    spec = tmp_path / "agent.yaml"
    spec.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, _, err = await remote.run("agents", "create", str(spec))
    assert code == 2
    assert f"{spec}:{index + 1}:" in err  # the YAML line of the field
    assert expected in err
    assert remote.emulator.calls == []


async def test_a_spec_with_mistakes_is_refused_before_any_call(
    remote: Remote, tmp_path: Path
) -> None:
    spec = tmp_path / "agent.yaml"
    spec.write_text(SPEC.read_text("utf-8").replace('color: "#', 'colour: "#'), encoding="utf-8")
    code, _, err = await remote.run("agents", "create", str(spec))
    assert code == 2
    assert f"{spec}:" in err
    assert "unknown key `colour` (did you mean `color`?)" in err
    assert remote.emulator.calls == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("brands", "create", "b" * 101), "NAME: 101 characters"),
        (("agents", "webhook", "a_agent", "--url", "http://bots.fr/rbm"), "--url"),
        (("agents", "testers", "add", "a_agent", "+33612345678", "06 12"), "PHONE #2"),
        (("agents", "launch", "a_agent", "--spec", str(SPEC), "--region", "?x"), "--region"),
        (("agents", "verify", "a_agent"), "Missing option '--spec'"),
    ],
)
async def test_bad_values_are_usage_errors_before_any_call(
    remote: Remote, args: tuple[str, ...], message: str
) -> None:
    code, _, err = await remote.run(*args)
    assert code == 2
    assert message in err
    assert remote.emulator.calls == []


async def test_refusals_exit_1(remote: Remote) -> None:
    code, _, err = await remote.run("agents", "status", "nobody_agent")
    assert code == 1
    assert "no agent is called 'nobody_agent'" in err
    remote.emulator.fail_next(403)
    code, _, err = await remote.run("brands", "list")
    assert code == 1
    assert err.startswith("Google refused: RBM management GET brands: HTTP 403")


async def test_a_launch_needs_the_verification_first(remote: Remote) -> None:
    await remote.ok("agents", "create", str(SPEC))
    (agent,) = remote.emulator.agents
    code, _, err = await remote.run("agents", "launch", agent, "--spec", str(SPEC))
    assert code == 1
    assert "FAILED_PRECONDITION" in err


def test_every_command_has_help() -> None:
    commands = [
        ("brands", "create"),
        ("brands", "list"),
        *[("agents", c) for c in ("create", "list", "show", "status", "sync", "reactivate")],
        *[("agents", c) for c in ("webhook", "verify", "launch")],
        *[("agents", "testers", c) for c in ("add", "list", "remove")],
    ]
    for command in commands:
        code, out, _ = run_cli(*command, "--help")
        assert (code, "Usage:" in out) == (0, True), command


def test_reactivate_records_the_revalidation(tmp_path: Path) -> None:
    config = write_config(tmp_path, "rdv", "appointment.yaml", database="s.db")
    code, out, _ = run_cli("agents", "reactivate", "cabinet_agent", "--config", str(config))
    assert code == 0
    assert out.startswith("cabinet_agent: reactivated at")

    async def read() -> None:
        async with SqliteStore(str(tmp_path / "s.db")) as store:
            record = await store.get_agent("cabinet_agent")
            assert record is not None
            assert record.reactivated_at is not None

    asyncio.run(read())
