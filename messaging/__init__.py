"""The vocabulary every other package speaks: phones, content, inbound events, channels, time."""

from messaging.channel import Channel
from messaging.choices import Choice, ChoiceMap
from messaging.clock import Clock, FakeClock, SystemClock
from messaging.content import (
    Card,
    CardOrientation,
    CardWidth,
    Carousel,
    Content,
    File,
    Image,
    MediaHeight,
    RichCard,
    RichCarousel,
    Text,
    Video,
)
from messaging.inbound import (
    Inbound,
    InboundFile,
    InboundLocation,
    InboundPostback,
    InboundText,
)
from messaging.phone import InvalidPhoneError, Phone
from messaging.suggestions import (
    AddToCalendar,
    CalendarEvent,
    Dial,
    OpenUrl,
    Place,
    Reply,
    ShareLocation,
    ShowLocation,
    Suggestion,
)

__all__ = [
    "AddToCalendar",
    "CalendarEvent",
    "Card",
    "CardOrientation",
    "CardWidth",
    "Carousel",
    "Channel",
    "Choice",
    "ChoiceMap",
    "Clock",
    "Content",
    "Dial",
    "FakeClock",
    "File",
    "Image",
    "Inbound",
    "InboundFile",
    "InboundLocation",
    "InboundPostback",
    "InboundText",
    "InvalidPhoneError",
    "MediaHeight",
    "OpenUrl",
    "Phone",
    "Place",
    "Reply",
    "RichCard",
    "RichCarousel",
    "ShareLocation",
    "ShowLocation",
    "Suggestion",
    "SystemClock",
    "Text",
    "Video",
]
