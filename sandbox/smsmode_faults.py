"""The fault knobs of the smsmode emulator (`SmsmodeFaults`): latency, error and hang rates,
dropped and duplicated callbacks, unreachable phones.

Separate from the emulator because the knobs are a validated model of their own: the emulator
reads them at each request, delivery and callback, tests assign them, and the control API
replaces them from a JSON patch, all through the checks below.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Annotated, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from messaging.phone import Phone

FAULT_STATUSES: Final = (429, 500, 503)


def _rate(value: float) -> float:
    if not 0 <= value <= 1:
        raise ValueError("a rate is between 0 and 1")
    return value


Rate = Annotated[float, AfterValidator(_rate)]


class SmsmodeFaults(BaseModel):
    """Fault knobs, read at each request, delivery and callback: change them at any time."""

    model_config = ConfigDict(validate_assignment=True, extra="forbid", ser_json_temporal="seconds")

    latency: Annotated[timedelta, Field(ge=timedelta(0))] = timedelta(0)
    """From acceptance (or `sentDate`) to delivery and report; from a reply to its MO."""
    error_rates: dict[int, Rate] = Field(default_factory=dict)
    """Share of authenticated requests answered 429, 500 or 503 instead of taken."""
    hang_rate: Rate = 0.0
    """Share of requests left unanswered until `release_hung()` or shutdown, then 504."""
    drop_dlr_rate: Rate = 0.0
    """Share of delivery reports never POSTed."""
    duplicate_callback_rate: Rate = 0.0
    """Share of callbacks (reports and MO) POSTed twice."""
    unreachable: frozenset[str] = frozenset()
    """Phones switched off (any form, kept E.164): their SMS wait, at most until validity."""

    @field_validator("error_rates")
    @classmethod
    def _known_statuses(cls, rates: dict[int, float]) -> dict[int, float]:
        if unknown := set(rates) - set(FAULT_STATUSES):
            raise ValueError(f"error rates apply to {FAULT_STATUSES}, not {sorted(unknown)}")
        if sum(rates.values()) > 1:
            raise ValueError("error rates add up to more than 1")
        return rates

    @field_validator("unreachable")
    @classmethod
    def _e164(cls, numbers: frozenset[str]) -> frozenset[str]:
        return frozenset(Phone(number).e164 for number in numbers)

    def draw(self, rng: random.Random) -> int | Literal["hang"] | None:
        """The fault a request meets: an HTTP status, a hang, or None (one draw of `rng`)."""
        if not self.error_rates and not self.hang_rate:
            return None
        roll, bound = rng.random(), 0.0
        for status in FAULT_STATUSES:
            bound += self.error_rates.get(status, 0.0)
            if roll < bound:
                return status
        return "hang" if roll < bound + self.hang_rate else None
