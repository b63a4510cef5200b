"""Drawing bot messages in a terminal: RCS content as boxes with chips, SMS as exact text."""

from __future__ import annotations

from rich.columns import Columns
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.text import Text as RichText

from flows.simulator import BotMessage
from messaging.content import Card, Content, File, Image, RichCard, RichCarousel, Text, Video
from messaging.suggestions import Reply, Suggestion


def draw(message: BotMessage) -> RenderableType:
    if message.sms is not None:
        segments = message.sms.segments
        unit = "segment" if segments.count == 1 else "segments"
        title = f"SMS · {segments.count} {unit} · {segments.encoding.value}"
        return Panel(RichText(message.sms.text), title=title, title_align="left", expand=False)
    return _draw_rcs(message.content)


def _draw_rcs(content: Content) -> RenderableType:
    match content:
        case Text():
            body: RenderableType = RichText(content.text)
        case RichCard():
            body = _card(content.card)
        case RichCarousel():
            body = Columns([_card(card) for card in content.carousel.cards])
        case Image() | Video() | File():
            lines = [content.text] if content.text else []
            body = RichText("\n".join([*lines, f"[{content.kind}] {content.url}"]))
    parts: list[RenderableType] = [body]
    if isinstance(content, Text) and content.suggestions:
        parts.append(_chips(content.suggestions))
    return Panel(Group(*parts), title="RCS", title_align="left", expand=False, border_style="cyan")


def _card(card: Card) -> Panel:
    lines: list[RenderableType] = []
    if card.media:
        lines.append(RichText(f"🖼  {card.media}", style="dim"))
    if card.title:
        lines.append(RichText(card.title, style="bold"))
    if card.description:
        lines.append(RichText(card.description))
    if card.suggestions:
        lines.append(_chips(card.suggestions))
    return Panel(Group(*lines), expand=False, width=44)


def _chips(suggestions: list[Suggestion]) -> RichText:
    chips = RichText()
    for suggestion in suggestions:
        style = "bold cyan" if isinstance(suggestion, Reply) else "magenta"
        icon = "" if isinstance(suggestion, Reply) else _ACTION_ICONS.get(suggestion.kind, "")
        chips.append(f" {icon}{suggestion.text} ", style=f"{style} reverse")
        chips.append("  ")
    return chips


_ACTION_ICONS = {
    "url": "🔗 ",
    "dial": "📞 ",
    "location": "📍 ",
    "share_location": "📍 ",
    "calendar": "📅 ",
}
