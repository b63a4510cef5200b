"""A bot's `webhook:` block in `bots.yaml`: where its business's own systems are told of
conversations that end, handoffs and messages that never arrive (bots/business_webhooks.py
posts them, docs/business-webhooks.md describes what they receive)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import AfterValidator, AnyHttpUrl, Field

from bots.config_fields import ConfigModel, Duration, check_env_name
from store.business_events_records import EventKind

TOLD = frozenset(
    {EventKind.CONVERSATION_ENDED, EventKind.HANDOFF_REQUESTED, EventKind.MESSAGE_FAILED}
)
"""The kinds a business may ask for (`ping` is only sent by `causette webhooks ping`)."""


def _told(kinds: list[EventKind]) -> list[EventKind]:
    for kind in kinds:
        if kind not in TOLD:
            raise ValueError(f"`{kind.value}` is not an event a webhook can take")
    return kinds


class BusinessWebhookSettings(ConfigModel):
    """```yaml
    webhook:
      url: https://crm.example.fr/causette
      secret_env: CRM_WEBHOOK_SECRET   # the HMAC key, from the environment
      events: [conversation.ended, handoff.requested, message.failed]   # the default
    ```"""

    url: AnyHttpUrl
    secret_env: Annotated[str, AfterValidator(check_env_name)]
    """The environment variable holding the key each body is signed with (HMAC-SHA256)."""
    events: Annotated[list[EventKind], AfterValidator(_told)] = Field(
        default_factory=lambda: sorted(TOLD)
    )
    timeout: Duration = timedelta(seconds=10)
    """How long one post may take before it counts as failed (and is tried again)."""
    give_up_after: Duration = timedelta(hours=24)
    """An event still undelivered this long after it happened is marked `failed`."""

    def kinds(self) -> frozenset[EventKind]:
        return frozenset(self.events)
