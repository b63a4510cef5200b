"""Content as an RCS phone shows it, in plain text: for conversation tests, logs and terminals.

Text first (a card's title and description, each carousel card in turn, a media's text and
URL), then every suggestion's label on its own line in brackets: `[Je confirme]`.
"""

from __future__ import annotations

from typing import assert_never

from messaging.content import Card, Content, File, Image, RichCard, RichCarousel, Text, Video


def preview_text(content: Content) -> str:
    lines: list[str] = []
    match content:
        case Text():
            lines.append(content.text)
        case RichCard():
            lines.extend(_card_lines(content.card))
        case RichCarousel():
            for card in content.carousel.cards:
                lines.extend(_card_lines(card))
        case Image() | Video() | File():
            if content.text:
                lines.append(content.text)
            lines.append(content.url)
        case _:
            assert_never(content)
    lines.extend(f"[{suggestion.text}]" for suggestion in content.suggestions_in_order)
    return "\n".join(lines)


def _card_lines(card: Card) -> list[str]:
    lines = [text for text in (card.title, card.description) if text]
    if card.media and not lines:
        lines.append(card.media)
    return lines
