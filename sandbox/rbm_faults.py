"""The fault knobs of the RBM emulator (`RbmFaults`) and their JSON patching.

Separate from the emulator because the knobs are plain data: the emulator reads them at each use,
tests set them as attributes, and the control API (`sandbox.rbm_control`) reads and patches them
as JSON, with the conversions and checks of `RbmFaults.update`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, is_dataclass
from typing import Any, Literal

from messaging.phone import Phone
from sandbox.webhook_client import WebhookPolicy


@dataclass
class RbmFaults:
    """Knobs of the emulator, read at each use: change them at any time (or PATCH them)."""

    latency: float = 0.0
    """Seconds between the 200 of a send and the delivery to an online phone."""
    error_rates: dict[int, float] = field(default_factory=dict)
    """Probability of answering an API call with this status instead, e.g. {500: 0.1}."""
    retry_after: int | None = None
    """Seconds announced in `Retry-After` on every 429 (Google-wide convention [?]); None: no
    header."""
    timeout_rate: float = 0.0
    """Probability that an API call is held until `release_held()`, then carried out."""
    drop_receipts: float = 0.0
    """Probability that a DELIVERED or READ user event is never posted."""
    offline: set[str] = field(default_factory=set)
    """Phones that are switched off: messages wait (use `set_offline` to flush on return)."""
    not_launched: set[str] = field(default_factory=set)
    """Phones on a carrier where the agent is not launched: sends answer `not_launched_status`."""
    not_launched_status: int = 404
    features: dict[str, list[str]] = field(default_factory=dict)
    """Capability features by phone; absent phones have all of `FEATURES`."""
    revoke_race: bool = False
    """A revoke answers 200 but the message is still delivered (rbm.md §2 race)."""
    ttl_revoke_fails: bool = False
    """On expiry, post TTL_EXPIRATION_REVOKE_FAILED and keep the message queued."""
    reused_id: Literal["original", "already_exists"] = "original"
    agent_id_suffix: bool = False
    """Write `agentId` in webhook payloads with `@rbm.goog` (third-party code shows it, [3P])."""
    card_suggestions_max: int = 4
    webhooks: WebhookPolicy = field(default_factory=WebhookPolicy)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["offline"], data["not_launched"] = sorted(self.offline), sorted(self.not_launched)
        return data

    def update(self, data: dict[str, Any]) -> None:
        """Apply a JSON patch such as `{"latency": 0.5, "webhooks": {"queue": "agent"}}`."""
        _patch(self, data)


def _patch(target: Any, data: Any) -> None:
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    names = {f.name for f in fields(target)}
    for name, value in data.items():
        if name not in names:
            raise ValueError(f"unknown knob {name!r}")
        current = getattr(target, name)
        if is_dataclass(current):
            _patch(current, value)
            continue
        try:
            setattr(target, name, _convert(name, current, value))
        except (TypeError, ValueError, AttributeError) as error:
            raise ValueError(f"bad value for {name!r}: {error}") from None


def _convert(name: str, current: Any, value: Any) -> Any:
    if name == "retry_waits":
        return None if value is None else [float(wait) for wait in value]
    if name == "retry_after":
        if value is not None and (type(value) is not int or value < 0):
            raise ValueError("a whole number of seconds, or null")
        return value
    if name == "error_rates":
        return {int(status): float(rate) for status, rate in value.items()}
    if name == "features":
        return {Phone(phone).e164: [str(f) for f in names] for phone, names in value.items()}
    if isinstance(current, set):
        return {Phone(phone).e164 for phone in value}
    choices = {"reused_id": ("original", "already_exists"), "queue": ("partner", "agent", "none")}
    if name in choices and value not in choices[name]:
        raise ValueError(f"one of {choices[name]}")
    if type(value) is not type(current) and not (isinstance(current, float) and type(value) is int):
        raise TypeError(f"expected {type(current).__name__}")
    return float(value) if isinstance(current, float) else value
