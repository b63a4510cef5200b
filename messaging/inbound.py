"""What a recipient sends: text, a tapped chip (postback), a location or a file."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Inbound(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class InboundText(_Inbound):
    kind: Literal["text"] = "text"
    text: str


class InboundPostback(_Inbound):
    """A tapped reply chip or card button: its postback data and the label shown."""

    kind: Literal["postback"] = "postback"
    data: str
    text: str = ""


class InboundLocation(_Inbound):
    kind: Literal["location"] = "location"
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)


class InboundFile(_Inbound):
    kind: Literal["file"] = "file"
    url: str
    content_type: str = ""
    name: str = ""
    size: int | None = Field(default=None, ge=0)


Inbound = Annotated[
    InboundText | InboundPostback | InboundLocation | InboundFile, Field(discriminator="kind")
]
