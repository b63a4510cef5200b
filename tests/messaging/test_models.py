"""The messaging vocabulary: phones, content and its RBM limits, choices, text, clock, inbound."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from messaging.channel import Channel
from messaging.choices import ChoiceMap
from messaging.clock import FakeClock, SystemClock
from messaging.content import Content, Image, RichCard, RichCarousel, Text
from messaging.inbound import (
    Inbound,
    InboundFile,
    InboundLocation,
    InboundPostback,
    InboundText,
)
from messaging.limits import deferred_context
from messaging.phone import InvalidPhoneError, Phone
from messaging.suggestions import AddToCalendar, Dial, OpenUrl, Reply, ShareLocation
from messaging.text import fold, slug, words

CONTENT: TypeAdapter[Content] = TypeAdapter(Content)
INBOUND: TypeAdapter[Inbound] = TypeAdapter(Inbound)
IMAGE = "https://example.org/a.png"
DEFERRED = deferred_context(lambda s: "{{" in s)


def content(value: Any) -> Content:
    return CONTENT.validate_python(value)


def content_error(value: Any, **kwargs: Any) -> str:
    """The validation message for an invalid content."""
    with pytest.raises(ValidationError) as raised:
        CONTENT.validate_python(value, **kwargs)
    return str(raised.value)


def with_chips(*suggestions: dict[str, Any]) -> dict[str, Any]:
    return {"text": "t", "suggestions": list(suggestions)}


def calendar(**event: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "title": "RDV",
        "start": "2026-01-12T10:00:00+01:00",
        "end": "2026-01-12T11:00:00+01:00",
    }
    return with_chips({"calendar": base | event, "label": "Agenda"})


# --- Phone -------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["06 12 34 56 78", "+33612345678", "0033612345678", "0612345678"])
def test_phone_forms_are_equal(raw: str) -> None:
    phone = Phone(raw)
    assert phone == Phone("+33612345678")
    assert hash(phone) == hash(Phone("+33612345678"))
    assert phone.e164 == "+33612345678"
    assert str(phone) == "+33612345678"
    assert phone.national == "06 12 34 56 78"
    assert phone.region == "FR"


def test_phone_is_not_equal_to_its_string() -> None:
    assert Phone("0612345678") != "+33612345678"


def test_phone_in_a_set_collapses_its_forms() -> None:
    assert len({Phone("06 12 34 56 78"), Phone("+33612345678"), Phone("0033612345678")}) == 1


@pytest.mark.parametrize(
    ("raw", "country"), [("+33612345678", "33"), ("+590690001234", "590"), ("+12025550123", "1")]
)
def test_masked_phone_hides_the_middle_digits(raw: str, country: str) -> None:
    phone = Phone(raw)
    assert phone.masked.startswith(f"+{country}")
    assert phone.masked.endswith(raw[-2:])
    # Only the country code and the last two digits survive.
    assert re.sub(r"\D", "", phone.masked) == country + raw[-2:]
    assert repr(phone) == f"Phone({phone.masked!r})"


@pytest.mark.parametrize("raw", ["", "12", "abc", "06 12 34", "+33 6 12 34 56 78 90 12"])
def test_invalid_phone_names_its_input(raw: str) -> None:
    with pytest.raises(InvalidPhoneError) as raised:
        Phone(raw)
    assert repr(raw) in str(raised.value)
    assert raised.value.raw == raw
    assert isinstance(raised.value, ValueError)


class _Contact(BaseModel):
    phone: Phone


def test_pydantic_phone_field_validates_and_serialises_as_e164() -> None:
    contact = _Contact.model_validate({"phone": "06 12 34 56 78"})
    assert contact.phone == Phone("+33612345678")
    assert contact.model_dump() == {"phone": "+33612345678"}
    assert contact.model_dump_json() == '{"phone":"+33612345678"}'
    assert _Contact.model_validate_json('{"phone": "0033612345678"}') == contact
    assert _Contact(phone=Phone("0612345678")) == contact


def test_pydantic_phone_field_error_names_the_input() -> None:
    with pytest.raises(ValidationError, match="'12' is not a valid phone number"):
        _Contact.model_validate({"phone": "12"})
    with pytest.raises(ValidationError, match="must be a string"):
        _Contact.model_validate({"phone": 612345678})


def test_pydantic_phone_json_schema_is_a_string() -> None:
    assert _Contact.model_json_schema()["properties"]["phone"]["type"] == "string"


# --- Content kinds -----------------------------------------------------------------------------


def test_a_string_is_a_text() -> None:
    assert content("Bonjour") == Text(text="Bonjour")


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ({"text": "x"}, Text),
        ({"card": {"title": "t"}}, RichCard),
        ({"carousel": {"cards": [{"title": "a"}, {"title": "b"}]}}, RichCarousel),
        ({"image": IMAGE, "text": "Voici"}, Image),
    ],
)
def test_content_kind_is_found_by_key(value: dict[str, Any], kind: type) -> None:
    assert isinstance(content(value), kind)


@pytest.mark.parametrize(
    ("value", "found"),
    [
        ({"card": {"title": "t"}, "image": IMAGE}, "found card and image"),
        ({}, "found none"),
        ({"sms": "Bonjour"}, "found none"),
    ],
)
def test_content_needs_exactly_one_kind(value: dict[str, Any], found: str) -> None:
    message = content_error(value)
    assert "a content needs exactly one of text, card, carousel, image, video, file" in message
    assert found in message


def test_text_beside_a_card_is_two_kinds() -> None:
    assert "found text and card" in content_error({"text": "x", "card": {"title": "t"}})


def test_content_round_trips_through_json() -> None:
    value = content({"text": "Oui ?", "suggestions": [{"reply": "Oui"}], "sms": "Oui ? 1 Oui"})
    assert CONTENT.validate_json(CONTENT.dump_json(value)) == value
    assert CONTENT.validate_python(CONTENT.dump_python(value)) == value


def test_content_is_frozen() -> None:
    value = Text(text="x")
    with pytest.raises(ValidationError):
        value.text = "y"  # type: ignore[misc]


def test_replies_are_in_display_order() -> None:
    value = content(
        {
            "carousel": {
                "cards": [
                    {
                        "title": "A",
                        "suggestions": [{"reply": "Un"}, {"dial": "0491000000", "label": "Tél"}],
                    },
                    {"title": "B", "suggestions": [{"reply": "Deux"}]},
                ]
            }
        }
    )
    assert [r.reply for r in value.replies] == ["Un", "Deux"]
    assert len(value.suggestions_in_order) == 3


# --- RBM limits (rbm.md §1.6) ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "limit", "what"),
    [
        (lambda s: {"text": s}, 3072, "text"),
        (lambda s: with_chips({"reply": s}), 25, "label"),
        (lambda s: with_chips({"reply": "ok", "data": s}), 2048, "data"),
        (lambda s: with_chips({"url": IMAGE, "label": "ok", "data": s}), 2048, "data"),
        (lambda s: with_chips({"share_location": s}), 25, "label"),
        (lambda s: {"card": {"title": s}}, 200, "card title"),
        (lambda s: {"card": {"description": s}}, 2000, "card description"),
        (lambda s: calendar(title=s), 100, "calendar title"),
        (lambda s: calendar(description=s), 500, "calendar description"),
        (lambda s: {"image": IMAGE, "text": s}, 3072, "text"),
    ],
)
def test_string_limits(make: Any, limit: int, what: str) -> None:
    content(make("é" * limit))
    message = content_error(make("é" * (limit + 1)))
    assert f"{what} is {limit + 1} characters long; RBM allows at most {limit}" in message


def test_url_limit() -> None:
    url = "https://example.org/" + "p" * (2048 - 20)
    content({"image": url})
    assert "URL is 2049 characters long" in content_error({"image": url + "p"})


@pytest.mark.parametrize(
    "url", ["ftp://example.org/a", "example.org", "https://a b", "javascript:x"]
)
def test_url_must_be_http(url: str) -> None:
    assert "is not an http(s) URL" in content_error(with_chips({"url": url, "label": "Voir"}))
    assert "is not an http(s) URL" in content_error({"card": {"title": "t", "image": url}})


def test_http_url_is_accepted() -> None:
    content({"video": "http://example.org/v.mp4"})


def test_at_most_eleven_chips() -> None:
    chips = [{"reply": f"R{n}"} for n in range(12)]
    content(with_chips(*chips[:11]))
    assert "at most 11 items" in content_error(with_chips(*chips))


def test_at_most_four_suggestions_per_card() -> None:
    chips = [{"reply": f"R{n}"} for n in range(5)]
    content({"card": {"title": "t", "suggestions": chips[:4]}})
    assert "at most 4 items" in content_error({"card": {"title": "t", "suggestions": chips}})


@pytest.mark.parametrize("count", [2, 10])
def test_carousel_of_two_to_ten_cards(count: int) -> None:
    value = content({"carousel": {"cards": [{"title": str(n)} for n in range(count)]}})
    assert isinstance(value, RichCarousel)
    assert len(value.carousel.cards) == count


@pytest.mark.parametrize(("count", "message"), [(1, "at least 2 items"), (11, "at most 10 items")])
def test_carousel_size_out_of_range(count: int, message: str) -> None:
    cards = [{"title": str(n)} for n in range(count)]
    assert message in content_error({"carousel": {"cards": cards}})


def test_tall_media_not_in_a_small_carousel() -> None:
    cards = [{"title": "a"}, {"title": "b", "image": IMAGE, "height": "tall"}]
    message = content_error({"carousel": {"width": "small", "cards": cards}})
    assert "card 2: tall media is not allowed in a small carousel" in message
    content({"carousel": {"width": "medium", "cards": cards}})


def test_carousel_cards_have_no_orientation() -> None:
    cards = [{"title": "a", "orientation": "vertical"}, {"title": "b"}]
    assert "card 1: orientation applies to a standalone card only" in content_error(
        {"carousel": {"cards": cards}}
    )


def test_horizontal_card_with_media_needs_more_than_media() -> None:
    alone = {"card": {"image": IMAGE, "orientation": "horizontal"}}
    assert "a horizontal card with media also needs" in content_error(alone)
    content({"card": {"image": IMAGE, "orientation": "vertical"}})
    content({"card": {"image": IMAGE, "orientation": "horizontal", "title": "t"}})
    content(
        {"card": {"image": IMAGE, "orientation": "horizontal", "suggestions": [{"reply": "Ok"}]}}
    )


def test_card_needs_something_to_show() -> None:
    assert "a card needs at least a title, a description or a media" in content_error({"card": {}})


def test_card_has_an_image_or_a_video_not_both() -> None:
    card = {"card": {"image": IMAGE, "video": "https://example.org/v.mp4"}}
    assert "an image or a video, not both" in content_error(card)


# --- Suggestions -------------------------------------------------------------------------------


def test_reply_data_defaults_to_the_slug_of_its_label() -> None:
    value = content(with_chips({"reply": "Je confirme"}, {"reply": "Déplacer", "data": "move"}))
    assert isinstance(value, Text)
    first, second = value.suggestions
    assert isinstance(first, Reply)
    assert (first.data, first.postback) == ("je_confirme", "je_confirme")
    assert second.data == "move"


def test_action_data_defaults_to_the_slug_of_its_label() -> None:
    value = content(with_chips({"url": IMAGE, "label": "Voir l'image"}))
    assert isinstance(value, Text)
    assert isinstance(value.suggestions[0], OpenUrl)
    assert value.suggestions[0].postback == "voir_l_image"


@pytest.mark.parametrize(
    ("value", "found"),
    [({"reply": "a", "url": IMAGE}, "found reply and url"), ({"label": "a"}, "found none")],
)
def test_suggestion_needs_exactly_one_kind(value: dict[str, Any], found: str) -> None:
    message = content_error(with_chips(value))
    assert "a suggestion needs exactly one of reply, url, dial" in message
    assert found in message


def test_dial_is_normalised_to_e164() -> None:
    value = content(with_chips({"dial": "04 91 00 00 00", "label": "Appeler"}))
    assert isinstance(value, Text)
    dial = value.suggestions[0]
    assert isinstance(dial, Dial)
    assert dial.dial == "+33491000000"
    assert dial.phone == Phone("0491000000")


def test_dial_error_names_the_number() -> None:
    assert "'12' is not a valid phone number" in content_error(
        with_chips({"dial": "12", "label": "Appeler"})
    )


@pytest.mark.parametrize(
    ("place", "message"),
    [
        ({"lat": 43.3}, "needs both lat and lng"),
        ({"lat": 43.3, "lng": 5.4, "query": "Marseille"}, "either {lat, lng} or {query}"),
        ({}, "either {lat, lng} or {query}"),
    ],
)
def test_location_is_a_point_or_a_query(place: dict[str, Any], message: str) -> None:
    assert message in content_error(with_chips({"location": place, "label": "Plan"}))


def test_location_coordinates_are_in_range() -> None:
    content_error(with_chips({"location": {"lat": 500, "lng": 5.4}, "label": "Plan"}))


def test_share_location_label() -> None:
    value = content(with_chips({"share_location": "Ma position"}))
    assert isinstance(value, Text)
    share = value.suggestions[0]
    assert isinstance(share, ShareLocation)
    assert (share.text, share.postback) == ("Ma position", "ma_position")


def test_calendar_event_rules() -> None:
    value = content(calendar())
    assert isinstance(value, Text)
    event = value.suggestions[0]
    assert isinstance(event, AddToCalendar)
    assert event.calendar.start == datetime(2026, 1, 12, 9, tzinfo=UTC)
    assert "calendar end is before its start" in content_error(
        calendar(end="2026-01-12T09:00:00+01:00")
    )
    assert "both have a time zone, or neither" in content_error(calendar(end="2026-01-12T11:00"))
    content(calendar(start="2026-01-12T10:00", end="2026-01-12T11:00"))


# --- Deferred validation (templates) -----------------------------------------------------------


def test_templates_skip_limits_under_the_deferred_context() -> None:
    long_template = "{{ vars.x }}" + "x" * 3100
    value = {
        "text": long_template,
        "suggestions": [
            {"reply": "{{ vars.label_that_is_long }}"},
            {"url": "{{ env.BOOKING_URL }}/slots", "label": "Réserver"},
            {"dial": "{{ contact.phone }}", "label": "Appeler"},
            {"location": {"lat": "{{ vars.lat }}", "lng": "{{ vars.lng }}"}, "label": "Plan"},
            {
                "calendar": {"title": "RDV", "start": "{{ vars.start }}", "end": "{{ vars.end }}"},
                "label": "Agenda",
            },
        ],
    }
    deferred = CONTENT.validate_python(value, context=DEFERRED)
    assert isinstance(deferred, Text)
    assert deferred.text == long_template
    assert "RBM allows at most 3072" in content_error(value)


def test_plain_strings_keep_their_limits_under_the_deferred_context() -> None:
    message = content_error({"text": "x" * 3073}, context=DEFERRED)
    assert "RBM allows at most 3072" in message


# --- ChoiceMap ---------------------------------------------------------------------------------

APPOINTMENT = with_chips(
    {"reply": "Je confirme", "data": "confirm"},
    {"reply": "Annuler", "data": "cancel"},
    {"dial": "+33491000000", "label": "Appeler le cabinet"},
    {"reply": "Déplacer", "data": "move"},
)


def test_choice_map_numbers_replies_only() -> None:
    choices = ChoiceMap.of(content(APPOINTMENT))
    assert [(c.number, c.label, c.data) for c in choices.choices] == [
        (1, "Je confirme", "confirm"),
        (2, "Annuler", "cancel"),
        (3, "Déplacer", "move"),
    ]
    assert choices


@pytest.mark.parametrize(
    ("typed", "data"),
    [
        ("2", "cancel"),
        (" 2. ", "cancel"),
        ("annuler", "cancel"),
        ("ANNULER", "cancel"),
        ("Annulér !", "cancel"),
        ("deplacer", "move"),
        ("je  confirme", "confirm"),
        ("4", None),
        ("Appeler le cabinet", None),
        ("peut-être", None),
    ],
)
def test_choice_map_match(typed: str, data: str | None) -> None:
    assert ChoiceMap.of(content(APPOINTMENT)).match(typed) == data


def test_choice_map_without_numbers_matches_labels_only() -> None:
    choices = ChoiceMap.of(content(APPOINTMENT))
    assert choices.match("2", numbers=False) is None
    assert choices.match("Annuler", numbers=False) == "cancel"


def test_choice_map_without_numbers_still_matches_a_digit_label() -> None:
    rating = content(with_chips({"reply": "1"}, {"reply": "5"}))
    assert ChoiceMap.of(rating).match("5", numbers=False) == "5"


def test_carousel_choices_number_across_cards_with_title_alias() -> None:
    carousel = {
        "carousel": {
            "cards": [
                {"title": "Lundi 9h", "suggestions": [{"reply": "Choisir", "data": "mon"}]},
                {
                    "title": "Mardi 10h",
                    "suggestions": [
                        {"reply": "Réserver", "data": "tue"},
                        {"reply": "Détails", "data": "tue_info"},
                    ],
                },
            ]
        }
    }
    choices = ChoiceMap.of(content(carousel))
    assert [(c.number, c.data, c.aliases) for c in choices.choices] == [
        (1, "mon", ("Lundi 9h",)),
        (2, "tue", ()),
        (3, "tue_info", ()),
    ]
    assert choices.match("lundi 9H") == "mon"
    assert choices.match("Lundi 9h", numbers=False) == "mon"
    assert choices.match("mardi 10h") is None  # two replies: the title picks neither
    assert choices.match("3") == "tue_info"


def test_content_without_replies_has_no_choices() -> None:
    for value in ("Quelle date ?", {"image": IMAGE, "text": "Voici"}):
        choices = ChoiceMap.of(content(value))
        assert not choices
        assert choices.match("1") is None


def test_first_choice_wins_a_shared_label() -> None:
    choices = ChoiceMap.of(content(with_chips({"reply": "Oui", "data": "a"}, {"reply": "OUI"})))
    assert choices.match("oui") == "a"


# --- Text folding ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Annuler", "annuler"),
        ("ANNULER", "annuler"),
        (" annuler ! ", "annuler"),
        ("Ànnulér", "annuler"),
        ("Œuvre", "oeuvre"),
        ("«  Je   confirme  »", "je confirme"),
        ("Straße", "strasse"),
    ],
)
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("Je confirme", "je_confirme"),
        ("Déplacer", "deplacer"),
        ("Ajouter à l'agenda", "ajouter_a_l_agenda"),
        ("  Oui !!  ", "oui"),
        ("RDV 12/12", "rdv_12_12"),
        ("?!", "choice"),
    ],
)
def test_slug(label: str, expected: str) -> None:
    assert slug(label) == expected


def test_words() -> None:
    assert words("Aide, MENU : je veux l'accueil !") == (
        "aide",
        "menu",
        "je",
        "veux",
        "l",
        "accueil",
    )
    assert words("Rendez-vous") == ("rendez", "vous")
    assert words("") == ()


# --- Clock -------------------------------------------------------------------------------------


def test_fake_clock_starts_at_a_fixed_aware_instant() -> None:
    assert FakeClock().now() == datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def test_fake_clock_normalises_its_start_to_utc() -> None:
    clock = FakeClock(datetime(2026, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))))
    assert clock.now() == datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
    assert clock.now().utcoffset() == timedelta(0)


def test_fake_clock_advances() -> None:
    clock = FakeClock()
    start = clock.now()
    assert clock.advance(timedelta(hours=25)) == start + timedelta(hours=25)
    assert clock.now() == start + timedelta(hours=25)
    assert clock.advance(timedelta(0)) == start + timedelta(hours=25)


def test_fake_clock_refuses_to_go_backwards() -> None:
    clock = FakeClock()
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(timedelta(seconds=-1))
    with pytest.raises(ValueError, match="backwards"):
        clock.set(clock.now() - timedelta(seconds=1))


def test_fake_clock_set_moves_to_an_instant() -> None:
    clock = FakeClock()
    target = datetime(2026, 2, 1, 12, 0, tzinfo=timezone(timedelta(hours=1)))
    clock.set(target)
    assert clock.now() == target
    assert clock.now().tzinfo is UTC


def test_fake_clock_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        FakeClock(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        FakeClock().set(datetime(2027, 1, 1))


def test_system_clock_is_aware_utc() -> None:
    assert SystemClock().now().utcoffset() == timedelta(0)


# --- Inbound events ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ({"kind": "text", "text": "oui"}, InboundText),
        ({"kind": "postback", "data": "confirm", "text": "Je confirme"}, InboundPostback),
        ({"kind": "location", "latitude": 48.85, "longitude": 2.35}, InboundLocation),
        ({"kind": "file", "url": "https://x/a.jpg", "content_type": "image/jpeg"}, InboundFile),
    ],
)
def test_inbound_is_a_union_discriminated_by_kind(value: dict[str, Any], kind: type) -> None:
    event = INBOUND.validate_python(value)
    assert isinstance(event, kind)
    assert INBOUND.validate_json(INBOUND.dump_json(event)) == event


def test_inbound_postback_text_defaults_to_empty() -> None:
    assert INBOUND.validate_python({"kind": "postback", "data": "x"}) == InboundPostback(data="x")


@pytest.mark.parametrize(
    "value",
    [
        {"kind": "sticker"},
        {"text": "no kind"},
        {"kind": "text", "text": "x", "extra": 1},
        {"kind": "file", "url": "https://x", "size": -1},
    ],
)
def test_invalid_inbound_is_refused(value: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        INBOUND.validate_python(value)


@pytest.mark.parametrize(
    ("latitude", "longitude", "valid"),
    [
        (90, 180, True),
        (-90, -180, True),
        (90.0001, 0, False),
        (-91, 0, False),
        (0, 180.5, False),
        (0, -181, False),
    ],
)
def test_inbound_location_ranges(latitude: float, longitude: float, valid: bool) -> None:
    value = {"kind": "location", "latitude": latitude, "longitude": longitude}
    if valid:
        INBOUND.validate_python(value)
    else:
        with pytest.raises(ValidationError):
            INBOUND.validate_python(value)


def test_inbound_is_frozen() -> None:
    event = InboundText(text="x")
    with pytest.raises(ValidationError):
        event.text = "y"  # type: ignore[misc]


# --- Channel -----------------------------------------------------------------------------------


def test_only_rcs_is_rich() -> None:
    assert not Channel.RCS.is_sms
    assert Channel.SMS.is_sms
    assert Channel.T2C.is_sms
