"""The `dispatch:` section and each bot's RCS delivery rules in `bots.yaml`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fallback.policy import DispatchPolicy, RcsPolicy
from tests.bots.test_config import load, problems

PROVIDERS = """\
        providers:
          rbm: {credentials_env: KEY, client_token_env: TOKEN}
"""
ENV = {"KEY": "{}", "TOKEN": "t"}


def test_defaults_are_the_documented_ones(folder: Path) -> None:
    settings = load(
        folder,
        PROVIDERS
        + """\
        bots:
          - id: appointment
            flow: flows/appointment.yaml
            rcs: {agent: cabinet_agent}
        """,
        ENV,
    )
    assert settings.dispatch.policy() == DispatchPolicy()
    rcs = settings.bots[0].rcs
    assert rcs is not None
    assert rcs.policy() == RcsPolicy(fallback_after=timedelta(seconds=60), rate=50.0)


def test_every_knob_is_read(folder: Path) -> None:
    settings = load(
        folder,
        PROVIDERS
        + """\
        dispatch:
          in_flight: 8
          capability_check: false
          capability_ttl: 10m
          revoke_grace: 2s
          sms_margin: 30m
          sms_unknown_outcome: retry
          retry: {first: 1s, factor: 3, longest: 1m}
          breaker: {failures: 2, cool_down: 1m}
        bots:
          - id: appointment
            flow: flows/appointment.yaml
            rcs: {agent: cabinet_agent, fallback_after: 10m, rate: 5}
        """,
        ENV,
    )
    policy = settings.dispatch.policy()
    assert policy.in_flight == 8
    assert not policy.capability_check
    assert policy.capability_ttl == timedelta(minutes=10)
    assert policy.revoke_grace == timedelta(seconds=2)
    assert policy.sms_margin == timedelta(minutes=30)
    assert policy.sms_unknown_outcome == "retry"
    assert policy.retry.factor == 3
    assert policy.retry.longest == timedelta(minutes=1)
    assert policy.breaker.failures == 2
    assert policy.breaker.cool_down == timedelta(minutes=1)
    rcs = settings.bots[0].rcs
    assert rcs is not None
    assert rcs.policy() == RcsPolicy(fallback_after=timedelta(minutes=10), rate=5.0)


def test_mistakes_are_located(folder: Path) -> None:
    assert problems(
        folder,
        PROVIDERS
        + """\
        dispatch:
          in_flight: 0
          sms_unknown_outcome: maybe
          breaker: {failures: 2, cooldown: 1m}
        bots:
          - id: appointment
            flow: flows/appointment.yaml
            rcs: {agent: cabinet_agent, fallback_after: soon, rate: 0}
        """,
        ENV,
    ) == [
        "bots.yaml:4:14: dispatch.in_flight: Input should be greater than or equal to 1",
        "bots.yaml:5:24: dispatch.sms_unknown_outcome:"
        " Input should be 'confirm', 'fail' or 'retry'",
        "bots.yaml:6:26: dispatch.breaker: unknown key `cooldown` (did you mean `cool_down`?)",
        "bots.yaml:10:49: bots[0].rcs.fallback_after: bad duration 'soon': write a number and"
        " a unit s, m, h or d (30s, 10m, 2h, 1d, 1h30m)",
        "bots.yaml:10:61: bots[0].rcs.rate: Input should be greater than 0",
    ]
