"""Outgoing content, channel-neutral (FLOWS.md "Content").

A string is a text message; otherwise a content has exactly one of `text`, `card`,
`carousel`, `image`, `video`, `file`. Any content may carry `sms:`, the exact text to send when
it goes by SMS. RBM limits are enforced at construction (see `messaging.limits`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    model_validator,
)

from messaging.keyed import present
from messaging.limits import (
    CARD_SUGGESTIONS_MAX,
    CAROUSEL_MAX,
    CAROUSEL_MIN,
    CHIPS_MAX,
    CardDescription,
    CardTitle,
    MessageText,
    Url,
)
from messaging.suggestions import Reply, Suggestion


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MediaHeight(StrEnum):
    SHORT = "short"
    MEDIUM = "medium"
    TALL = "tall"


class CardOrientation(StrEnum):
    VERTICAL = "vertical"
    HORIZONTAL = "horizontal"


class CardWidth(StrEnum):
    SMALL = "small"
    MEDIUM = "medium"


class Card(_Model):
    title: CardTitle | None = None
    description: CardDescription | None = None
    image: Url | None = None
    video: Url | None = None
    height: MediaHeight | None = None
    orientation: CardOrientation | None = None
    suggestions: list[Suggestion] = Field(default_factory=list, max_length=CARD_SUGGESTIONS_MAX)

    @property
    def media(self) -> str | None:
        return self.image or self.video

    @model_validator(mode="after")
    def _rbm_rules(self) -> Self:
        unique_postbacks(self.suggestions)
        if self.image is not None and self.video is not None:
            raise ValueError("a card has an image or a video, not both")
        if self.media is None and self.title is None and self.description is None:
            raise ValueError("a card needs at least a title, a description or a media")
        if (
            self.orientation is CardOrientation.HORIZONTAL
            and self.media is not None
            and self.title is None
            and self.description is None
            and not self.suggestions
        ):
            raise ValueError(
                "a horizontal card with media also needs a title, a description or suggestions"
            )
        return self


def unique_postbacks(suggestions: list[Suggestion], where: str = "") -> None:
    """Two chips of one message with the same data could not be told apart when tapped."""
    seen: set[str] = set()
    for suggestion in suggestions:
        if suggestion.data is None:
            continue  # a templated label: its data is known once rendered
        if suggestion.data in seen:
            shown = suggestion.data if len(suggestion.data) <= 40 else suggestion.data[:40] + "…"
            raise ValueError(f"{where}two suggestions have the same data {shown!r}")
        seen.add(suggestion.data)


class _Content(_Model):
    sms: str | None = None
    """The exact text to send when this content goes by SMS; derived when absent."""

    @property
    def suggestions_in_order(self) -> list[Suggestion]:
        return []

    @property
    def replies(self) -> list[Reply]:
        """Reply chips in display order: what a numbered SMS choice list is made of."""
        return [s for s in self.suggestions_in_order if isinstance(s, Reply)]


class Text(_Content):
    kind: Literal["text"] = "text"
    text: MessageText
    suggestions: list[Suggestion] = Field(default_factory=list, max_length=CHIPS_MAX)

    @property
    def suggestions_in_order(self) -> list[Suggestion]:
        return self.suggestions

    @model_validator(mode="after")
    def _distinct_chips(self) -> Self:
        unique_postbacks(self.suggestions)
        return self


class RichCard(_Content):
    kind: Literal["card"] = "card"
    card: Card

    @property
    def suggestions_in_order(self) -> list[Suggestion]:
        return self.card.suggestions


class Carousel(_Model):
    width: CardWidth = CardWidth.MEDIUM
    cards: list[Card] = Field(min_length=CAROUSEL_MIN, max_length=CAROUSEL_MAX)

    @model_validator(mode="after")
    def _rbm_rules(self) -> Self:
        unique_postbacks([s for card in self.cards for s in card.suggestions], "in this carousel, ")
        for index, card in enumerate(self.cards, 1):
            if card.orientation is not None:
                raise ValueError(f"card {index}: orientation applies to a standalone card only")
            if self.width is CardWidth.SMALL and card.height is MediaHeight.TALL:
                raise ValueError(f"card {index}: tall media is not allowed in a small carousel")
        return self


class RichCarousel(_Content):
    kind: Literal["carousel"] = "carousel"
    carousel: Carousel

    @property
    def suggestions_in_order(self) -> list[Suggestion]:
        return [s for card in self.carousel.cards for s in card.suggestions]


class Image(_Content):
    kind: Literal["image"] = "image"
    image: Url
    text: MessageText | None = None
    """Sent before the media."""

    @property
    def url(self) -> str:
        return self.image


class Video(_Content):
    kind: Literal["video"] = "video"
    video: Url
    text: MessageText | None = None

    @property
    def url(self) -> str:
        return self.video


class File(_Content):
    kind: Literal["file"] = "file"
    file: Url
    text: MessageText | None = None

    @property
    def url(self) -> str:
        return self.file


MEDIA_KINDS = ("card", "carousel", "image", "video", "file")
CONTENT_KINDS = ("text", *MEDIA_KINDS)


def _content_kind(value: Any) -> str | None:
    if isinstance(value, _Content):
        return f"{getattr(value, 'kind', None)} content"
    found = present(value, MEDIA_KINDS)
    if len(found) == 1:
        return f"{found[0]} content"
    return "text content" if not found and "text" in value else None


def _normalise_content(value: Any) -> Any:
    if isinstance(value, str):
        return {"text": value}
    if isinstance(value, dict):
        found = present(value, MEDIA_KINDS)
        if "text" in value and any(kind in found for kind in ("card", "carousel")):
            found.insert(0, "text")  # media messages may carry text; cards and carousels may not
        if len(found) > 1 or (not found and "text" not in value):
            kinds = ", ".join(CONTENT_KINDS)
            what = " and ".join(found) if found else "none"
            raise ValueError(f"a content needs exactly one of {kinds} (found {what})")
    return value


Content = Annotated[
    Annotated[Text, Tag("text content")]
    | Annotated[RichCard, Tag("card content")]
    | Annotated[RichCarousel, Tag("carousel content")]
    | Annotated[Image, Tag("image content")]
    | Annotated[Video, Tag("video content")]
    | Annotated[File, Tag("file content")],
    Discriminator(_content_kind),
    BeforeValidator(_normalise_content),
]
"""Any outgoing content: a string, or a mapping with exactly one kind."""

CONTENT: TypeAdapter[Content] = TypeAdapter(Content)
"""Validates any outgoing content: `CONTENT.validate_python("Bonjour")`."""
