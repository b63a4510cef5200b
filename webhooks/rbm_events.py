"""The JSON the RBM platform posts to a webhook, as pydantic models (reference/rbm.md §5).

An envelope (Pub/Sub push shape) carries, base64-encoded in `message.data`, one of three
payloads told apart by their fields (§5.4):

- `UserMessage`: `senderPhoneNumber` and exactly one of `text`, `suggestionResponse`,
  `location`, `userFile`;
- `UserEvent`: `senderPhoneNumber` and `eventType` (DELIVERED, READ, IS_TYPING, SUBSCRIBE,
  UNSUBSCRIBE);
- `ServerEvent`: `phoneNumber` and `eventType` (TTL_EXPIRATION_REVOKED,
  TTL_EXPIRATION_REVOKE_FAILED).

Fields are named as on the wire. Fields we do not use are ignored (US traffic adds
`richMessageClassification` and `carrier`), and so is an event type we do not know yet: it is
accepted (200) and nothing is stored, so that a new event type never blocks the partner's
queue with 7 days of retries.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints, model_validator

from webhooks.common import Id, ProviderModel, Text, bad_request, validate

Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]
MAX_SIZE = 10**18 - 1
Digits = Annotated[Text, StringConstraints(pattern=r"^[0-9]{1,18}$")]


class Envelope(ProviderModel):
    class Message(ProviderModel):
        data: Text
        """Base64 of the UTF-8 JSON payload; the only field Google's samples rely on."""
        messageId: Text | None = None
        publishTime: Text | None = None
        attributes: dict[str, Any] | None = None

    message: Message
    subscription: Text | None = None


class Handshake(ProviderModel):
    """The verification request (§5.2): answered with `secret` when `clientToken` is ours."""

    clientToken: Text
    secret: Text


class SuggestionResponse(ProviderModel):
    postbackData: Text
    text: Text = ""
    type: Text = "UNKNOWN"
    """UNKNOWN, ACTION or REPLY."""


class LatLng(ProviderModel):
    latitude: Latitude
    longitude: Longitude


class FileInfo(ProviderModel):
    fileUri: Annotated[Text, StringConstraints(min_length=1)]
    mimeType: Text = ""
    fileName: Text = ""
    fileSizeBytes: Annotated[int, Field(ge=0, le=MAX_SIZE)] | Digits | None = None
    """A number in the documented examples; a string of digits in proto3's JSON of int64.
    Bounded so that every store can keep it (BSON integers are 64-bit)."""

    @property
    def size(self) -> int | None:
        return None if self.fileSizeBytes is None else int(self.fileSizeBytes)


class UserFile(ProviderModel):
    payload: FileInfo
    thumbnail: FileInfo | None = None


CONTENT_FIELDS = ("text", "suggestionResponse", "location", "userFile")


class UserMessage(ProviderModel):
    senderPhoneNumber: Text
    messageId: Id
    """Assigned by the user's RCS client: the inbox's provider id."""
    agentId: Text | None = None
    sendTime: Text | None = None
    text: Text | None = None
    suggestionResponse: SuggestionResponse | None = None
    location: LatLng | None = None
    userFile: UserFile | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_content(cls, value: Any) -> Any:
        if isinstance(value, dict):
            found = [name for name in CONTENT_FIELDS if value.get(name) is not None]
            if len(found) != 1:
                what = " and ".join(found) if found else "none"
                raise ValueError(
                    f"a user message has exactly one of {', '.join(CONTENT_FIELDS)} (found {what})"
                )
        return value


class UserEvent(ProviderModel):
    senderPhoneNumber: Text
    eventType: Annotated[Text, StringConstraints(min_length=1)]
    messageId: Id | None = None
    """The agent's message id; present for DELIVERED and READ only."""
    eventId: Text | None = None
    agentId: Text | None = None
    sendTime: Text | None = None


class ServerEvent(ProviderModel):
    phoneNumber: Text
    eventType: Annotated[Text, StringConstraints(min_length=1)]
    messageId: Id | None = None
    eventId: Text | None = None
    agentId: Text | None = None
    sendTime: Text | None = None


Payload = UserMessage | UserEvent | ServerEvent


def parse_payload(value: dict[str, Any]) -> Payload:
    """The decoded `message.data`, by the fields it has (§5.4); 400 when it is none of them."""
    if "senderPhoneNumber" in value:
        if "eventType" in value:
            return validate(UserEvent, value, "user event")
        return validate(UserMessage, value, "user message")
    if "phoneNumber" in value and "eventType" in value:
        return validate(ServerEvent, value, "server event")
    raise bad_request("payload is neither a user message, a user event nor a server event")
