"""Content rendered as SMS text (FLOWS.md "SMS rendering", "Suggestions")."""

from __future__ import annotations

import re
from typing import Any, ClassVar

import pytest
from pydantic import TypeAdapter

from messaging.choices import ChoiceMap
from messaging.content import Content
from messaging.encoding import Encoding, split
from messaging.renderers.sms import SmsMessage, render_sms

_CONTENT: TypeAdapter[Content] = TypeAdapter(Content)


def content(value: Any) -> Content:
    """A content as a flow file gives it (FLOWS.md "Content")."""
    return _CONTENT.validate_python(value)


def sms(value: Any, *, stop_mention: str | None = None) -> SmsMessage:
    return render_sms(content(value), stop_mention=stop_mention)


APPOINTMENT = {
    "text": "Bonjour Ana, votre rendez-vous du 12 décembre tient-il toujours ?",
    "suggestions": [
        {"reply": "Je confirme", "data": "confirm"},
        {"reply": "Annuler", "data": "cancel"},
        {"reply": "Déplacer", "data": "move"},
        {"dial": "+33491000000", "label": "Appeler le cabinet"},
    ],
}


class TestAppointmentExample:
    def test_text(self) -> None:
        assert sms(APPOINTMENT).text == (
            "Bonjour Ana, votre rendez-vous du 12 décembre tient-il toujours ?\n"
            "1 Je confirme\n"
            "2 Annuler\n"
            "3 Déplacer\n"
            "Appeler le cabinet : 04 91 00 00 00"
        )

    @pytest.mark.parametrize("answer", ["2", "annuler", "Annuler", "ANNULER", " annuler ! "])
    def test_number_or_label_reads_back_as_cancel(self, answer: str) -> None:
        assert sms(APPOINTMENT).choices.match(answer) == "cancel"

    @pytest.mark.parametrize("answer", ["annulé", "4", "0", "Appeler le cabinet"])
    def test_other_answers_pick_nothing(self, answer: str) -> None:
        assert sms(APPOINTMENT).choices.match(answer) is None

    def test_choices_are_those_of_the_choice_map(self) -> None:
        message = sms(APPOINTMENT)
        assert message.choices == ChoiceMap.of(content(APPOINTMENT))
        assert [(c.number, c.data) for c in message.choices.choices] == [
            (1, "confirm"),
            (2, "cancel"),
            (3, "move"),
        ]

    def test_segments(self) -> None:
        message = sms(APPOINTMENT)
        assert message.segments == split(message.text)
        assert (message.segments.encoding, message.segments.count) == (Encoding.GSM7, 1)
        assert message.segments.units == len(message.text)


class TestText:
    def test_plain_text_has_no_choices(self) -> None:
        message = render_sms(content("Merci, à bientôt !"))
        assert message.text == "Merci, à bientôt !"
        assert not message.choices

    def test_default_data_is_the_slug_of_the_label(self) -> None:
        message = sms({"text": "Alors ?", "suggestions": [{"reply": "Je confirme"}]})
        assert message.text == "Alors ?\n1 Je confirme"
        assert message.choices.match("1") == "je_confirme"

    def test_choices_come_before_actions_whatever_their_order(self) -> None:
        message = sms(
            {
                "text": "Votre commande",
                "suggestions": [
                    {"url": "https://shop.example/suivi", "label": "Suivre"},
                    {"reply": "Oui"},
                    {"share_location": "Ma position"},
                    {"reply": "Non"},
                ],
            }
        )
        assert message.text == ("Votre commande\n1 Oui\n2 Non\nSuivre : https://shop.example/suivi")

    def test_no_empty_line_nor_trailing_space(self) -> None:
        message = sms({"text": "Bonjour  \n\n  \nLigne deux \n", "suggestions": [{"reply": "Ok"}]})
        assert message.text == "Bonjour\nLigne deux\n1 Ok"


class TestActionLines:
    @staticmethod
    def action_line(suggestion: dict[str, Any]) -> str:
        return sms({"text": "Infos", "suggestions": [suggestion]}).text.removeprefix("Infos\n")

    def test_url(self) -> None:
        line = self.action_line({"url": "https://example.org/rdv?id=3", "label": "Voir"})
        assert line == "Voir : https://example.org/rdv?id=3"

    def test_dial_in_french_national_format(self) -> None:
        line = self.action_line({"dial": "+33612345678", "label": "Appeler"})
        assert line == "Appeler : 06 12 34 56 78"

    def test_dial_overseas_department_in_national_format(self) -> None:
        line = self.action_line({"dial": "+590590271234", "label": "Appeler"})
        assert line == "Appeler : 0590 27 12 34"

    def test_dial_foreign_number_stays_international(self) -> None:
        # "012 34 56 78", Belgium's national form, would not reach Belgium from a French phone.
        line = self.action_line({"dial": "+3212345678", "label": "Appeler"})
        assert line == "Appeler : +3212345678"

    def test_location_coordinates(self) -> None:
        line = self.action_line({"location": {"lat": 43.2965, "lng": 5.3698}, "label": "Plan"})
        assert line == "Plan : https://maps.google.com/?q=43.2965,5.3698"

    def test_location_whole_and_negative_coordinates(self) -> None:
        line = self.action_line({"location": {"lat": 48, "lng": -1.5}, "label": "Plan"})
        assert line == "Plan : https://maps.google.com/?q=48,-1.5"

    def test_location_query_is_url_encoded(self) -> None:
        suggestion = {"location": {"query": "12 rue de l'Église, Marseille"}, "label": "Plan"}
        assert self.action_line(suggestion) == (
            "Plan : https://maps.google.com/?q=12+rue+de+l%27%C3%89glise,+Marseille"
        )

    def test_share_location_is_dropped(self) -> None:
        message = sms({"text": "Où êtes-vous ?", "suggestions": [{"share_location": "Envoyer"}]})
        assert message.text == "Où êtes-vous ?"
        assert not message.choices

    def test_calendar_same_day(self) -> None:
        line = self.action_line(
            {
                "calendar": {
                    "title": "Dentiste",
                    "start": "2026-12-12T10:00:00+01:00",
                    "end": "2026-12-12T11:00:00+01:00",
                },
                "label": "Ajouter à l'agenda",
            }
        )
        assert line == "Ajouter à l'agenda : 12/12/2026 10:00 - 11:00"

    def test_calendar_over_several_days(self) -> None:
        line = self.action_line(
            {
                "calendar": {
                    "title": "Salon",
                    "start": "2026-12-12T10:00:00+01:00",
                    "end": "2026-12-13T09:00:00+01:00",
                },
                "label": "Agenda",
            }
        )
        assert line == "Agenda : 12/12/2026 10:00 - 13/12/2026 09:00"

    def test_calendar_keeps_each_datetime_in_its_own_offset(self) -> None:
        line = self.action_line(
            {
                "calendar": {
                    "title": "Appel",
                    "start": "2026-07-01T23:30:00+02:00",
                    "end": "2026-07-01T22:00:00Z",
                },
                "label": "Agenda",
            }
        )
        assert line == "Agenda : 01/07/2026 23:30 - 22:00"

    def test_calendar_without_time_zone(self) -> None:
        line = self.action_line(
            {
                "calendar": {
                    "title": "RDV",
                    "start": "2026-01-05T08:05",
                    "end": "2026-01-05T08:35",
                },
                "label": "Agenda",
            }
        )
        assert line == "Agenda : 05/01/2026 08:05 - 08:35"

    def test_calendar_range_stays_gsm7(self) -> None:
        # The typographic en dash would switch the whole message to UCS-2 (sms.md §2).
        message = sms(
            {
                "text": "Rappel",
                "suggestions": [
                    {
                        "calendar": {
                            "title": "RDV",
                            "start": "2026-01-05T08:00",
                            "end": "2026-01-05T09:00",
                        },
                        "label": "Agenda",
                    }
                ],
            }
        )
        assert message.segments.encoding is Encoding.GSM7


class TestCard:
    def test_title_description_choices_then_actions_media_dropped(self) -> None:
        message = sms(
            {
                "card": {
                    "title": "Rendez-vous déplacé",
                    "description": "Nouveau créneau : 13/12 à 10h",
                    "image": "https://example.org/calendar.png",
                    "suggestions": [
                        {"url": "https://example.org/rdv", "label": "Détails"},
                        {"reply": "Merci", "data": "thanks"},
                        {"reply": "Annuler", "data": "cancel"},
                    ],
                }
            }
        )
        assert message.text == (
            "Rendez-vous déplacé\n"
            "Nouveau créneau : 13/12 à 10h\n"
            "1 Merci\n"
            "2 Annuler\n"
            "Détails : https://example.org/rdv"
        )
        assert [(c.number, c.data) for c in message.choices.choices] == [
            (1, "thanks"),
            (2, "cancel"),
        ]

    def test_missing_title_or_description_is_skipped(self) -> None:
        assert sms({"card": {"title": "Titre seul"}}).text == "Titre seul"
        assert sms({"card": {"description": "Description seule"}}).text == "Description seule"

    def test_a_card_with_only_media_shows_its_url(self) -> None:
        message = sms(
            {"card": {"video": "https://example.org/v.mp4", "suggestions": [{"reply": "Ok"}]}}
        )
        assert message.text == "https://example.org/v.mp4\n1 Ok"


CAROUSEL = {
    "carousel": {
        "cards": [
            {
                "title": "Margherita",
                "description": "Tomate, mozzarella - 9,50 €",
                "image": "https://pizza.example/margherita.jpg",
                "suggestions": [
                    {"reply": "Choisir", "data": "margherita"},
                    {"url": "https://pizza.example/margherita", "label": "Voir"},
                ],
            },
            {
                "title": "Regina",
                "description": "Jambon, champignons",
                "suggestions": [
                    {"reply": "Petite", "data": "regina_small"},
                    {"reply": "Grande", "data": "regina_large"},
                ],
            },
            {
                "title": "Nos horaires",
                "description": "Tous les jours de 18h à 23h",
                "suggestions": [{"dial": "+33491000000", "label": "Appeler"}],
            },
            {
                "description": "Sans titre",
                "suggestions": [{"reply": "Calzone", "data": "calzone"}],
            },
        ]
    }
}


class TestCarousel:
    def test_text(self) -> None:
        assert sms(CAROUSEL).text == (
            "1 Margherita\n"
            "Tomate, mozzarella - 9,50 €\n"
            "Regina\n"
            "Jambon, champignons\n"
            "2 Petite\n"
            "3 Grande\n"
            "Nos horaires\n"
            "Tous les jours de 18h à 23h\n"
            "4 Calzone\n"
            "Sans titre\n"
            "Voir : https://pizza.example/margherita\n"
            "Appeler : 04 91 00 00 00"
        )

    def test_numbering_is_the_choice_map(self) -> None:
        message = sms(CAROUSEL)
        assert message.choices == ChoiceMap.of(content(CAROUSEL))
        numbered = [
            (int(number), shown)
            for number, shown in re.findall(r"^(\d+) (.+)$", message.text, re.MULTILINE)
        ]
        assert [n for n, _ in numbered] == [c.number for c in message.choices.choices]
        assert [n for n, _ in numbered] == [1, 2, 3, 4]
        # What a numbered line shows, typed back, picks the same choice as its number.
        for number, shown in numbered:
            assert message.choices.match(shown) == message.choices.match(str(number))

    @pytest.mark.parametrize(
        ("answer", "data"),
        [
            ("1", "margherita"),
            ("margherita", "margherita"),
            ("Choisir", "margherita"),
            ("3", "regina_large"),
            ("grande", "regina_large"),
            ("4", "calzone"),
        ],
    )
    def test_answers(self, answer: str, data: str) -> None:
        assert sms(CAROUSEL).choices.match(answer) == data

    def test_a_card_with_one_reply_and_only_media(self) -> None:
        message = sms(
            {
                "carousel": {
                    "cards": [
                        {"image": "https://ex.org/a.png", "suggestions": [{"reply": "A"}]},
                        {"image": "https://ex.org/b.png", "suggestions": [{"reply": "B"}]},
                    ]
                }
            }
        )
        assert message.text == "1 A\nhttps://ex.org/a.png\n2 B\nhttps://ex.org/b.png"


class TestMedia:
    @pytest.mark.parametrize("kind", ["image", "video", "file"])
    def test_text_then_url(self, kind: str) -> None:
        url = f"https://cdn.example/{kind}"
        message = sms({kind: url, "text": "Votre facture :"})
        assert message.text == f"Votre facture :\n{url}"
        assert not message.choices

    def test_url_alone(self) -> None:
        assert sms({"image": "https://cdn.example/plan.png"}).text == "https://cdn.example/plan.png"


class TestSmsOverride:
    def test_text_is_exactly_the_override(self) -> None:
        message = sms({**APPOINTMENT, "sms": "Rdv le 12/12 : 1 oui, 2 annuler, 3 deplacer"})
        assert message.text == "Rdv le 12/12 : 1 oui, 2 annuler, 3 deplacer"
        assert message.segments == split(message.text)

    def test_choices_still_come_from_the_replies(self) -> None:
        message = sms({**APPOINTMENT, "sms": "Rdv le 12/12 : 1 oui, 2 annuler"})
        assert message.choices == ChoiceMap.of(content(APPOINTMENT))
        assert message.choices.match("2") == "cancel"

    def test_override_on_a_card(self) -> None:
        assert sms({"card": {"title": "Promo"}, "sms": "-20% ce week-end"}).text == (
            "-20% ce week-end"
        )

    def test_stop_mention_after_the_override(self) -> None:
        message = sms({"text": "Promo", "sms": "Promo -20%\n"}, stop_mention="STOP 36034")
        assert message.text == "Promo -20%\nSTOP 36034"


class TestStopMention:
    def test_on_its_own_last_line(self) -> None:
        message = sms(APPOINTMENT, stop_mention="STOP 36034")
        assert message.text.endswith("Appeler le cabinet : 04 91 00 00 00\nSTOP 36034")

    def test_none_or_empty_adds_nothing(self) -> None:
        assert sms("Promo", stop_mention=None).text == "Promo"
        assert sms("Promo", stop_mention="").text == "Promo"

    def test_can_push_a_message_into_a_second_segment(self) -> None:
        text = "x" * 150
        assert sms(text).segments.count == 1
        with_stop = sms(text, stop_mention="STOP 36034")
        assert with_stop.segments.units == 161
        assert with_stop.segments.count == 2


class TestSegments:
    def test_a_non_gsm_character_switches_the_message_to_ucs2(self) -> None:
        message = sms({"text": "C’est noté", "suggestions": [{"reply": "Ok"}]})
        assert message.segments.encoding is Encoding.UCS2
        assert message.segments.units == len("C’est noté\n1 Ok")

    def test_long_message_is_counted_in_parts(self) -> None:
        message = sms({"text": "é" * 200, "suggestions": [{"reply": "Ok"}]})
        assert message.segments.units == 205
        assert message.segments.count == 2
        assert "".join(message.segments.parts) == message.text


class TestChoicesLabelledWithNumbers:
    """Chips `0` to `10`: positions would contradict the labels, so labels are used."""

    SCORE: ClassVar[dict[str, object]] = {
        "text": "Votre note ?",
        "suggestions": [{"reply": str(n)} for n in range(0, 11, 2)],
    }

    def test_shown_on_one_line_without_positions(self) -> None:
        rendered = sms(self.SCORE)
        assert rendered.text == "Votre note ?\n0 / 2 / 4 / 6 / 8 / 10"

    def test_a_number_picks_the_chip_with_that_label(self) -> None:
        choices = ChoiceMap.of(content(self.SCORE))
        assert not choices.numbered
        assert choices.match("4") == "4"
        assert choices.match("3") is None
