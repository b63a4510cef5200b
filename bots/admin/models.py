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
    direction: Literal["in", "out"] = Field(description="`in`: from the person; `out`: the bot.")
    at: datetime
    body: dict[str, Any] = Field(description="The event (in) or the content sent (out).")


class ConversationView(BaseModel):
    """A conversation as the admin API shows it (the phone masked)."""

    id: str
    bot: str
    phone: str = Field(description="The recipient, masked (`+33•••••••78`).")
    flow: str
    state: str
    status: Literal["active", "handed_off", "ended"]
    channel: str
    created_at: datetime
    updated_at: datetime
    transcript: list[TranscriptLine] | None = Field(
        default=None, description="Oldest first; only when one conversation is asked for."
    )


class ConversationList(BaseModel):
    conversations: list[ConversationView]


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


REQUEST_MODELS: tuple[type[BaseModel], ...] = (StartConversation,)
RESPONSE_MODELS: tuple[type[BaseModel], ...] = (
    StartedConversation,
    ConversationView,
    ConversationList,
    ErrorResponse,
)
