"""RBM rendering: exact AgentMessage JSON for every content and suggestion (rbm.md §1)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import TypeAdapter

from messaging.content import Content
from messaging.limits import deferred_context
from messaging.renderers.rbm import (
    MAX_AGENT_MESSAGE_BYTES,
    TrafficType,
    agent_message_bytes,
    rbm_duration,
    rbm_timestamp,
    render_rbm,
    render_rbm_messages,
    traffic_for_flow,
)

CONTENT: TypeAdapter[Content] = TypeAdapter(Content)
IMAGE = "https://example.org/a.png"


def content(value: Any) -> Content:
    return CONTENT.validate_python(value)


def message_of(value: Any) -> dict[str, Any]:
    """The `contentMessage` of the single AgentMessage rendering `value`."""
    body: dict[str, Any] = render_rbm(content(value))["contentMessage"]
    return body


def suggestion_of(value: dict[str, Any]) -> dict[str, Any]:
    """The RBM JSON of one suggestion, rendered as the only chip of a text."""
    suggestions: list[dict[str, Any]] = message_of({"text": "t", "suggestions": [value]})[
        "suggestions"
    ]
    assert len(suggestions) == 1
    return suggestions[0]


# --- AgentMessage envelope ---------------------------------------------------------------------


def test_plain_string_is_a_text_message_with_default_traffic() -> None:
    assert render_rbm(content("Bonjour")) == {
        "contentMessage": {"text": "Bonjour"},
        "messageTrafficType": "TRANSACTION",
    }


def test_traffic_type_is_sent() -> None:
    message = render_rbm(content("Promo"), traffic=TrafficType.PROMOTION)
    assert message["messageTrafficType"] == "PROMOTION"


@pytest.mark.parametrize(
    ("word", "expected"),
    [("transactional", TrafficType.TRANSACTION), ("marketing", TrafficType.PROMOTION)],
)
def test_flow_traffic_words_map_to_rbm(word: str, expected: TrafficType) -> None:
    assert traffic_for_flow(word) is expected


def test_unknown_flow_traffic_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="'promotional'"):
        traffic_for_flow("promotional")


def test_traffic_type_values_are_the_rbm_enum() -> None:
    assert {t.value for t in TrafficType} == {
        "TRANSACTION",
        "PROMOTION",
        "AUTHENTICATION",
        "SERVICEREQUEST",
        "ACKNOWLEDGEMENT",
    }


# --- Validity: ttl and expireTime --------------------------------------------------------------


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        (timedelta(hours=1), "3600s"),
        (timedelta(seconds=3.5), "3.5s"),
        (timedelta(seconds=10, microseconds=1), "10.000001s"),
        (timedelta(milliseconds=250), "0.25s"),
        (timedelta(days=15), "1296000s"),
        (timedelta(seconds=-0.5), "-0.5s"),
        (timedelta(seconds=-2), "-2s"),
    ],
)
def test_duration_format(duration: timedelta, expected: str) -> None:
    assert rbm_duration(duration) == expected


def test_ttl_is_a_protobuf_duration() -> None:
    message = render_rbm(content("x"), ttl=timedelta(seconds=3.5))
    assert message == {
        "contentMessage": {"text": "x"},
        "messageTrafficType": "TRANSACTION",
        "ttl": "3.5s",
    }


def test_ttl_of_fifteen_days_is_allowed() -> None:
    assert render_rbm(content("x"), ttl=timedelta(days=15))["ttl"] == "1296000s"


def test_ttl_over_fifteen_days_is_refused() -> None:
    with pytest.raises(ValueError, match="ttl is 1296001s; RBM allows at most 15 days"):
        render_rbm(content("x"), ttl=timedelta(days=15, seconds=1))


@pytest.mark.parametrize("ttl", [timedelta(0), timedelta(seconds=-1)])
def test_ttl_must_be_positive(ttl: timedelta) -> None:
    with pytest.raises(ValueError, match="positive"):
        render_rbm(content("x"), ttl=ttl)


def test_expire_time_is_rfc3339_utc() -> None:
    paris_winter = timezone(timedelta(hours=1))
    expire = datetime(2026, 1, 1, 11, 0, tzinfo=paris_winter)
    message = render_rbm(content("x"), expire_time=expire)
    assert message == {
        "contentMessage": {"text": "x"},
        "messageTrafficType": "TRANSACTION",
        "expireTime": "2026-01-01T10:00:00Z",
    }


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        (datetime(2026, 1, 1, 10, 0, 0, 500_000, tzinfo=UTC), "2026-01-01T10:00:00.500Z"),
        (datetime(2026, 1, 1, 10, 0, 0, 123_456, tzinfo=UTC), "2026-01-01T10:00:00.123456Z"),
    ],
)
def test_timestamp_fractions(instant: datetime, expected: str) -> None:
    assert rbm_timestamp(instant) == expected


def test_naive_expire_time_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        render_rbm(content("x"), expire_time=datetime(2026, 1, 1, 10, 0))


def test_ttl_and_expire_time_are_mutually_exclusive() -> None:
    with pytest.raises(ValueError, match="mutually exclusive"):
        render_rbm(
            content("x"),
            ttl=timedelta(hours=1),
            expire_time=datetime(2026, 1, 1, tzinfo=UTC),
        )


def test_expire_time_is_capped_at_fifteen_days_after_now() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    ok = render_rbm(content("x"), expire_time=now + timedelta(days=15), now=now)
    assert ok["expireTime"] == "2026-01-16T00:00:00Z"
    with pytest.raises(ValueError, match="15 days"):
        render_rbm(content("x"), expire_time=now + timedelta(days=15, seconds=1), now=now)


def test_expire_time_in_the_past_is_refused() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="not after now"):
        render_rbm(content("x"), expire_time=now, now=now)


# --- Content kinds (§1.2, §1.3) ----------------------------------------------------------------


def test_text_with_suggestions() -> None:
    assert message_of({"text": "Oui ?", "suggestions": [{"reply": "Je confirme"}]}) == {
        "text": "Oui ?",
        "suggestions": [{"reply": {"text": "Je confirme", "postbackData": "je_confirme"}}],
    }


def test_vertical_card_with_everything() -> None:
    card = {
        "card": {
            "title": "Commande 42",
            "description": "Expédiée",
            "image": IMAGE,
            "height": "tall",
            "suggestions": [{"reply": "Suivre", "data": "track_42"}],
        }
    }
    assert message_of(card) == {
        "richCard": {
            "standaloneCard": {
                "cardOrientation": "VERTICAL",
                "cardContent": {
                    "title": "Commande 42",
                    "description": "Expédiée",
                    "media": {"height": "TALL", "contentInfo": {"fileUrl": IMAGE}},
                    "suggestions": [{"reply": {"text": "Suivre", "postbackData": "track_42"}}],
                },
            }
        }
    }


def test_card_without_media_has_only_its_fields() -> None:
    assert message_of({"card": {"title": "Seul"}}) == {
        "richCard": {
            "standaloneCard": {"cardOrientation": "VERTICAL", "cardContent": {"title": "Seul"}}
        }
    }


def test_horizontal_card_has_a_thumbnail_alignment_and_default_height() -> None:
    video = "https://example.org/v.mp4"
    card = {"card": {"description": "Vidéo", "video": video, "orientation": "horizontal"}}
    assert message_of(card) == {
        "richCard": {
            "standaloneCard": {
                "cardOrientation": "HORIZONTAL",
                "thumbnailImageAlignment": "LEFT",
                "cardContent": {
                    "description": "Vidéo",
                    "media": {"height": "MEDIUM", "contentInfo": {"fileUrl": video}},
                },
            }
        }
    }


def test_carousel() -> None:
    carousel = {
        "carousel": {
            "width": "small",
            "cards": [
                {"title": "A", "image": IMAGE, "height": "short"},
                {"title": "B", "suggestions": [{"reply": "Choisir B"}]},
            ],
        }
    }
    assert message_of(carousel) == {
        "richCard": {
            "carouselCard": {
                "cardWidth": "SMALL",
                "cardContents": [
                    {
                        "title": "A",
                        "media": {"height": "SHORT", "contentInfo": {"fileUrl": IMAGE}},
                    },
                    {
                        "title": "B",
                        "suggestions": [
                            {"reply": {"text": "Choisir B", "postbackData": "choisir_b"}}
                        ],
                    },
                ],
            }
        }
    }


def test_carousel_width_defaults_to_medium() -> None:
    carousel = {"carousel": {"cards": [{"title": "A"}, {"title": "B"}]}}
    assert message_of(carousel)["richCard"]["carouselCard"]["cardWidth"] == "MEDIUM"


@pytest.mark.parametrize("kind", ["image", "video", "file"])
def test_media_alone_is_one_content_info_message(kind: str) -> None:
    url = f"https://example.org/{kind}"
    assert render_rbm(content({kind: url}), ttl=timedelta(minutes=10)) == {
        "contentMessage": {"contentInfo": {"fileUrl": url}},
        "messageTrafficType": "TRANSACTION",
        "ttl": "600s",
    }


@pytest.mark.parametrize("kind", ["image", "video", "file"])
def test_media_with_text_is_two_messages_text_first(kind: str) -> None:
    url = f"https://example.org/{kind}"
    messages = render_rbm_messages(
        content({kind: url, "text": "Voici"}), traffic=TrafficType.PROMOTION, ttl=timedelta(1)
    )
    assert messages == [
        {
            "contentMessage": {"text": "Voici"},
            "messageTrafficType": "PROMOTION",
            "ttl": "86400s",
        },
        {
            "contentMessage": {"contentInfo": {"fileUrl": url}},
            "messageTrafficType": "PROMOTION",
            "ttl": "86400s",
        },
    ]


def test_render_rbm_refuses_media_with_text() -> None:
    with pytest.raises(ValueError, match="render_rbm_messages"):
        render_rbm(content({"image": IMAGE, "text": "Voici"}))


def test_single_message_contents_give_one_message() -> None:
    assert render_rbm_messages(content("Bonjour")) == [render_rbm(content("Bonjour"))]


def test_sms_text_is_ignored() -> None:
    assert message_of({"text": "Riche", "sms": "Pauvre"}) == {"text": "Riche"}


# --- Suggestions (§1.2) ------------------------------------------------------------------------


def test_reply_with_explicit_data() -> None:
    assert suggestion_of({"reply": "Annuler", "data": "cancel"}) == {
        "reply": {"text": "Annuler", "postbackData": "cancel"}
    }


def test_open_url() -> None:
    assert suggestion_of({"url": "https://example.org/x", "label": "Voir"}) == {
        "action": {
            "text": "Voir",
            "postbackData": "voir",
            "openUrlAction": {"url": "https://example.org/x"},
        }
    }


def test_dial_is_e164() -> None:
    assert suggestion_of({"dial": "04 91 00 00 00", "label": "Appeler", "data": "call"}) == {
        "action": {
            "text": "Appeler",
            "postbackData": "call",
            "dialAction": {"phoneNumber": "+33491000000"},
        }
    }


def test_view_location_by_coordinates() -> None:
    place = {"location": {"lat": 43.2965, "lng": 5.3698}, "label": "Le cabinet"}
    assert suggestion_of(place) == {
        "action": {
            "text": "Le cabinet",
            "postbackData": "le_cabinet",
            "viewLocationAction": {
                "latLong": {"latitude": 43.2965, "longitude": 5.3698},
                "label": "Le cabinet",
            },
        }
    }


def test_view_location_by_query() -> None:
    place = {"location": {"query": "1 rue de la Paix, Paris"}, "label": "Plan", "data": "map"}
    assert suggestion_of(place) == {
        "action": {
            "text": "Plan",
            "postbackData": "map",
            "viewLocationAction": {"query": "1 rue de la Paix, Paris"},
        }
    }


def test_share_location() -> None:
    assert suggestion_of({"share_location": "Ma position"}) == {
        "action": {"text": "Ma position", "postbackData": "ma_position", "shareLocationAction": {}}
    }


def test_calendar_with_aware_times_in_utc() -> None:
    event = {
        "calendar": {
            "title": "Dentiste",
            "start": "2026-06-12T10:00:00+02:00",
            "end": "2026-06-12T10:30:00+02:00",
            "description": "Cabinet du Prado",
        },
        "label": "Ajouter à l'agenda",
    }
    assert suggestion_of(event) == {
        "action": {
            "text": "Ajouter à l'agenda",
            "postbackData": "ajouter_a_l_agenda",
            "createCalendarEventAction": {
                "startTime": "2026-06-12T08:00:00Z",
                "endTime": "2026-06-12T08:30:00Z",
                "title": "Dentiste",
                "description": "Cabinet du Prado",
            },
        }
    }


@pytest.mark.parametrize(
    ("local", "utc"),
    [
        ("2026-01-12T10:00:00", "2026-01-12T09:00:00Z"),  # winter: UTC+1
        ("2026-07-12T10:00:00", "2026-07-12T08:00:00Z"),  # summer: UTC+2
    ],
)
def test_calendar_naive_times_are_paris_local_time(local: str, utc: str) -> None:
    event = {"calendar": {"title": "RDV", "start": local, "end": local}, "label": "Agenda"}
    assert suggestion_of(event)["action"]["createCalendarEventAction"] == {
        "startTime": utc,
        "endTime": utc,
        "title": "RDV",
    }


def test_card_suggestions_are_rendered_like_chips() -> None:
    card = {"card": {"title": "T", "suggestions": [{"share_location": "Position"}]}}
    rendered = message_of(card)["richCard"]["standaloneCard"]["cardContent"]["suggestions"]
    assert rendered == [suggestion_of({"share_location": "Position"})]


# --- Unrendered templates ----------------------------------------------------------------------

DEFERRED = deferred_context(lambda s: "{{" in s)


def deferred(value: Any) -> Content:
    return CONTENT.validate_python(value, context=DEFERRED)


def test_template_left_in_a_dial_is_refused() -> None:
    templated = deferred({"text": "t", "suggestions": [{"dial": "{{ tel }}", "label": "Appel"}]})
    with pytest.raises(ValueError, match="tel"):
        render_rbm(templated)


def test_template_left_in_a_calendar_time_is_refused() -> None:
    event = {"title": "T", "start": "{{ vars.start }}", "end": "2026-01-01T10:00:00+00:00"}
    templated = deferred({"text": "t", "suggestions": [{"calendar": event, "label": "A"}]})
    with pytest.raises(ValueError, match="calendar start"):
        render_rbm(templated)


def test_template_left_in_coordinates_is_refused() -> None:
    place = {"lat": "{{ vars.lat }}", "lng": 2.0}
    templated = deferred({"text": "t", "suggestions": [{"location": place, "label": "Ici"}]})
    with pytest.raises(ValueError, match="pair of numbers"):
        render_rbm(templated)


# --- 250 KB cap (§1.6) -------------------------------------------------------------------------


def big_carousel(data_character: str) -> Content:
    """10 cards x 4 URL buttons with 2048-character data: the largest content the limits allow."""
    url = "https://example.org/" + "p" * 2000
    cards = [
        {
            "title": "T" * 200,
            "description": "é" * 2000,
            "suggestions": [
                {"url": url, "label": f"Lien {n}", "data": f"{c:02}{n}" + data_character * 2045}
                for n in range(4)
            ],
        }
        for c in range(10)
    ]
    return content({"carousel": {"cards": cards}})


def test_agent_message_bytes_is_compact_utf8() -> None:
    message = render_rbm(content("Été"))
    assert agent_message_bytes(message) == json.dumps(
        message, ensure_ascii=False, separators=(",", ":")
    ).encode("utf-8")
    assert "Été".encode() in agent_message_bytes(message)


def test_largest_ascii_carousel_fits() -> None:
    message = render_rbm(big_carousel("d"))
    assert len(agent_message_bytes(message)) <= MAX_AGENT_MESSAGE_BYTES


def test_message_over_250_kb_is_refused_with_its_size() -> None:
    with pytest.raises(ValueError, match=r"is \d+ bytes once stringified") as raised:
        render_rbm(big_carousel("é"))
    size = int(str(raised.value).split(" is ")[1].split()[0])
    assert size > MAX_AGENT_MESSAGE_BYTES
