"""The `dispatch:` section of `bots.yaml` and each bot's RCS delivery rules, read into the
plain policies of `fallback.policy`.

```yaml
dispatch:
  in_flight: 32            # messages handed to providers at once, per process
  capability_ttl: 1h       # how long a phone's RCS reachability is trusted
  revoke_grace: 5s         # after a revoke, wait this long for a racing DELIVERED
  sms_margin: 1h           # RCS ttl ends this long before the 24 h validity
  sms_unknown_outcome: confirm  # an SMS whose send timed out: or fail, or retry
  sms_confirm_wait: 5m     # confirm: how long to wait for smsmode's report before resending
  retry: {first: 2s, factor: 2, longest: 5m}
  breaker: {failures: 5, cool_down: 30s}
bots:
  - id: reminders
    rcs: {agent: reminders_agent, fallback_after: 60s, rate: 50}
```
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import Field

from bots.config_fields import ConfigModel, Duration
from fallback.policy import BreakerPolicy, DispatchPolicy, RcsPolicy, RetryPolicy

Positive = Annotated[int, Field(strict=True, ge=1)]


class RetrySettings(ConfigModel):
    first: Duration = timedelta(seconds=2)
    factor: Annotated[float, Field(ge=1)] = 2.0
    longest: Duration = timedelta(minutes=5)

    def policy(self) -> RetryPolicy:
        return RetryPolicy(self.first, self.factor, self.longest)


class BreakerSettings(ConfigModel):
    failures: Positive = 5
    cool_down: Duration = timedelta(seconds=30)

    def policy(self) -> BreakerPolicy:
        return BreakerPolicy(self.failures, self.cool_down)


class DispatchSettings(ConfigModel):
    """How the outbox is sent, per process (`fallback.policy.DispatchPolicy` explains each)."""

    in_flight: Positive = 32
    capability_ttl: Duration = timedelta(hours=1)
    capability_check: bool = True
    revoke_grace: Duration = timedelta(seconds=5)
    sms_margin: Duration = timedelta(hours=1)
    sms_unknown_outcome: Literal["confirm", "fail", "retry"] = "confirm"
    sms_confirm_wait: Duration = timedelta(minutes=5)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)

    def policy(self) -> DispatchPolicy:
        return DispatchPolicy(
            in_flight=self.in_flight,
            capability_ttl=self.capability_ttl,
            capability_check=self.capability_check,
            revoke_grace=self.revoke_grace,
            sms_margin=self.sms_margin,
            sms_unknown_outcome=self.sms_unknown_outcome,
            sms_confirm_wait=self.sms_confirm_wait,
            retry=self.retry.policy(),
            breaker=self.breaker.policy(),
        )


class RcsSettings(ConfigModel):
    agent: Annotated[str, Field(min_length=1)]
    """The RBM agent id (with or without `@rbm.goog`)."""
    fallback_after: Duration = timedelta(seconds=60)
    """No DELIVERED within this time: revoke the RCS message and send it by SMS."""
    rate: Annotated[float, Field(gt=0)] = 50.0
    """RBM sends per second for this agent, per process (Google documents none, rbm.md §6)."""
    billing: Literal["conversational", "non_conversational"] = "non_conversational"
    """The agent's billing category, chosen when it was created (rbm.md §8.1)."""

    def policy(self) -> RcsPolicy:
        return RcsPolicy(fallback_after=self.fallback_after, rate=self.rate)
