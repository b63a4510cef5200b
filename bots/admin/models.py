"""The admin API's wire shapes, as pydantic models: the OpenAPI document is generated from
them (bots/admin/openapi.py), and the routes validate and answer with them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from messaging.channel import Channel
from messaging.phone import InvalidPhoneError, Phone

IDEMPOTENCY_KEY = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY = 200


def _e164(raw: str) -> str:
    try:
        return Phone(raw).e164
    except InvalidPhoneError:
        # The message never quotes the number: error bodies carry no input values.
        raise ValueError("not a valid phone number") from None


class StartConversation(BaseModel):
    """Start the bot's flow for one recipient."""

    model_config = ConfigDict(extra="forbid")

    phone: Annotated[str, AfterValidator(_e164)] = Field(
        description="The recipient, in E.164 or French national form; read as E.164.",
        max_length=64,
    )
    vars: dict[str, Any] = Field(
        default_factory=dict, description="Flow variables, over the flow's own `vars`."
    )
    contact: dict[str, Any] = Field(
        default_factory=dict, description="Contact fields, read by the flow as `contact.*`."
    )
    channel: Channel | None = Field(
        default=None, description="Force a channel for this conversation; null: the bot's own."
    )


class StartedConversation(BaseModel):
    """The start request as stored: the conversation starts asynchronously in the worker."""

    inbox_seq: int = Field(description="The stored start event's place in the inbox.")
    created: bool = Field(description="False when this Idempotency-Key was already used.")
    phone: str = Field(description="The recipient, masked (`+33•••••••78`).")


class TranscriptLine(BaseModel):
    direction: Literal["in", "out"] = Field(
        description="`in`: an event (the person's message, a timer, a release or an end);"
        " `out`: a message sent."
    )
    source: Literal["flow", "agent", "admin"] = Field(
        description="`flow`: written by the bot's turns; `agent`: a person's answer in a"
        " handoff; `admin`: a release or an end through this API."
    )
    at: datetime
    body: dict[str, Any] = Field(description="The event (in) or the content sent (out).")


class StatusLine(BaseModel):
    at: str = Field(description="ISO 8601, UTC.")
    status: str
    detail: str | None = Field(description="Why: the router's reason, the provider's error.")
    channel: str | None = Field(description="The route in force after this change.")


class MessageDecision(BaseModel):
    """An outgoing message of the conversation and what the router decided for it."""

    key: str
    source: Literal["flow", "agent"]
    content: dict[str, Any]
    channel: str = Field(description="The conversation's channel when it was queued.")
    route: str | None = Field(
        description="The channel it is or was last sent on (`rcs`, `sms`, `t2c`); null"
        " before the router chose."
    )
    status: str = Field(
        description="`queued`, `sending`, `sent`, `delivered`, `read`, `revoked`, `expired`,"
        " `undeliverable`, `rejected`, `failed`, `blocked`."
    )
    attempts: int
    created_at: datetime
    due_at: datetime
    history: list[StatusLine] = Field(
        description="Status changes, oldest first, with their reasons."
    )


Status = Literal["active", "handed_off", "ended"]


class ConversationView(BaseModel):
    """A conversation as the admin API shows it (the phone masked)."""

    id: str
    bot: str
    phone: str = Field(description="The recipient, masked (`+33•••••••78`).")
    flow: str
    state: str
    status: Status
    channel: str
    created_at: datetime
    updated_at: datetime
    transcript: list[TranscriptLine] | None = Field(
        default=None, description="Oldest first; only when one conversation is asked for."
    )
    messages: list[MessageDecision] | None = Field(
        default=None,
        description="Its outgoing messages with their channel decisions, oldest first; only"
        " when one conversation is asked for.",
    )


class Page(BaseModel):
    next_cursor: str | None = Field(
        description="Give it as `cursor` for the next page; null on the last one."
    )


class ConversationList(Page):
    conversations: list[ConversationView]


LIMIT = Field(default=100, ge=1, le=1000, description="At most this many per page (1 to 1000).")
CURSOR = Field(default="", max_length=512, description="A previous page's `next_cursor`.")


class ConversationQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["live", "active", "handed_off", "ended", "all"] = Field(
        default="live", description="`live`: active or handed off."
    )
    cursor: str = CURSOR
    limit: int = LIMIT


class PageQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cursor: str = CURSOR
    limit: int = LIMIT


class HandedOff(BaseModel):
    """A handed-off conversation waiting for a person, with what the person wrote since."""

    conversation: ConversationView
    queue: str | None = Field(description="The flow's `handoff: {queue}`.")
    messages: list[TranscriptLine] = Field(
        description="The person's messages since the bot's last one, and the agents' answers,"
        " oldest first."
    )


class HandoffList(Page):
    handoffs: list[HandedOff]


class AgentReply(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reply: str = Field(min_length=1, max_length=25, description="The chip's label.")
    data: str | None = Field(
        default=None,
        min_length=1,
        max_length=2048,
        description="The postback data; the label's slug when absent.",
    )


class AgentMessage(BaseModel):
    """What a person answers in a handed-off conversation."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=3072)
    suggestions: list[AgentReply] = Field(
        default_factory=list, max_length=11, description="Reply chips (on SMS: a numbered list)."
    )


class QueuedMessage(BaseModel):
    key: str = Field(description="The outbox entry: see the conversation's `messages`.")
    created: bool = Field(description="False when this Idempotency-Key was already used.")


class ContactView(BaseModel):
    phone: str = Field(description="E.164: the caller manages this address book.")
    fields: dict[str, str]
    created_at: datetime
    updated_at: datetime


class ContactList(Page):
    contacts: list[ContactView]


class ContactQuery(PageQuery):
    list: str = Field(default="", max_length=200, description="Only the members of this list.")


class ListsView(BaseModel):
    lists: dict[str, int] = Field(description="Each list's name and number of members.")


class RedListEntry(BaseModel):
    phone: str = Field(description="E.164.")
    at: datetime
    reason: str


class RedListView(BaseModel):
    business: str
    entries: list[RedListEntry]


class RedListAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: Annotated[str, AfterValidator(_e164)] = Field(max_length=64)
    reason: str = Field(default="", max_length=500)


class RedListChange(BaseModel):
    phone: str = Field(description="E.164.")
    changed: bool = Field(description="False when it already was (or was not) on the list.")


class OptOutView(BaseModel):
    phone: str = Field(description="E.164, or `hash:…` once the person was erased (R34).")
    opted_out: bool = Field(description="False once the person opted back in.")
    at: datetime
    source: str


class OptOutList(Page):
    business: str
    opt_outs: list[OptOutView]


class Erasure(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: Annotated[str, AfterValidator(_e164)] = Field(max_length=64)


class Erased(BaseModel):
    phone: str = Field(description="Masked.")
    counts: dict[str, int] = Field(description="Records each table or collection lost or changed.")


class FieldError(BaseModel):
    loc: list[str | int] = Field(description="Where the error is: `body`/`header` then fields.")
    msg: str


class ErrorBody(BaseModel):
    code: str = Field(description="Stable, snake_case: what went wrong, for programs.")
    message: str = Field(description="What went wrong, for people.")
    details: list[FieldError] | None = None


class ErrorResponse(BaseModel):
    """The body of every error the admin API answers."""

    error: ErrorBody
