"""The four example bots, end to end over loopback HTTP, on an RCS phone and on an SMS phone.

Each conversation starts as `causette demo` starts it (the business writes first), then the
person answers through the phone simulator's API: chips by their postback on Ana's RCS phone,
numbers or labels by text on Bruno's SMS phone (Time2Chat). The bot's answers travel the real
path: runtime, outbox, RBM or smsmode client, emulator, phone book; the person's go back by the
emulators' webhooks. Every path runs to the flow's end: the store forgets an ended conversation,
and keeps a handed-off one as `handed_off`.

Each `Expect` reads exactly the bot's next message on the phone: nothing is skipped, so a
duplicated or missing message fails the path.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest

from store.records import Conversation, ConversationStatus, HistoryEntry, OutboxStatus
from store.records import Direction as Way
from tests.e2e.conftest import (
    ANA,
    BRUNO,
    SECRETS,
    WAIT,
    Answer,
    BackendCall,
    Demo,
    Person,
)

# --- Paths through the flows -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Expect:
    """The bot's next message on the phone shows every one of these fragments."""

    fragments: tuple[str, ...]

    def __init__(self, *fragments: str) -> None:
        object.__setattr__(self, "fragments", fragments)

    async def run(self, person: Person) -> None:
        await person.expect(*self.fragments)


@dataclass(frozen=True, slots=True)
class Say:
    text: str

    async def run(self, person: Person) -> None:
        await person.say(self.text)


@dataclass(frozen=True, slots=True)
class Tap:
    """Tap the chip with this label (its postback is read from the message that offered it)."""

    label: str

    async def run(self, person: Person) -> None:
        await person.tap(self.label)


@dataclass(frozen=True, slots=True)
class Share:
    latitude: float
    longitude: float

    async def run(self, person: Person) -> None:
        await person.share_location(self.latitude, self.longitude)


Step = Expect | Say | Tap | Share


@dataclass(frozen=True, slots=True)
class FlowPath:
    """One way through a flow, to its end."""

    steps: tuple[Step, ...]
    state: str
    """The state the conversation ends in."""
    status: ConversationStatus
    answers: tuple[tuple[str, Answer], ...] = ()
    """Backend answers other than the defaults, in call order: `(route, (status, body))`."""
    vars: tuple[tuple[str, Any], ...] = ()
    """Some variables of the ended conversation (a dict value: some of its keys)."""
    calls: tuple[tuple[str, str, dict[str, Any]], ...] = ()
    """The backend calls made, in order: method, path, some of the JSON body's fields."""


ENDED, HANDED_OFF = ConversationStatus.ENDED, ConversationStatus.HANDED_OFF
DELIVERY_DATE = "/carrier/parcels/RC482913574FR/delivery-date"

PATHS: dict[tuple[str, str], FlowPath] = {
    # Appointment, RCS: "Déplacer" by its chip, an hour outside opening hours, then the agenda
    # accepts the slot (BOOKING_URL).
    ("appointment", ANA): FlowPath(
        (
            Expect("Ana, le cabinet dentaire du Prado", "Le maintenez-vous ?", "[Déplacer]"),
            Tap("Déplacer"),
            Expect("Quel jour vous arrangerait ?"),
            Say("15/12"),
            Expect("À quelle heure ? Le cabinet reçoit de 9h à 19h."),
            Say("21h"),
            Expect("Le cabinet est fermé à cette heure-là (dernier rendez-vous à 18h30)."),
            Expect("À quelle heure ?"),
            Say("14h30"),
            Expect(
                "Rendez-vous déplacé",
                "-12-15 à 14:30 avec le Dr Martin.",
                "[Ajouter à l'agenda]",
            ),
        ),
        state="moved",
        status=ENDED,
        vars=(("new_time", "14:30"), ("slot", {"available": True})),
        calls=(("POST", "/booking/appointments/RDV-48213/move", {"time": "14:30"}),),
    ),
    # Appointment, SMS: "3" to move, the agenda says the slot is taken, another day is free.
    ("appointment", BRUNO): FlowPath(
        (
            Expect("Bruno, le cabinet dentaire du Prado", "\n1 Je confirme\n2 Annuler\n3 Déplacer"),
            Say("3"),
            Expect("Quel jour vous arrangerait ?"),
            Say("le 14/12"),
            Expect("À quelle heure ?"),
            Say("11h"),
            Expect("Ce créneau est déjà pris. Essayons un autre jour."),
            Expect("Quel jour vous arrangerait ?"),
            Say("16/12"),
            Expect("À quelle heure ?"),
            Say("9h"),
            Expect("Rendez-vous déplacé", "-12-16 à 09:00 avec le Dr Martin."),
        ),
        state="moved",
        status=ENDED,
        answers=(("booking", (200, {"available": False})),),
        vars=(("new_time", "09:00"),),
        calls=(
            ("POST", "/booking/appointments/RDV-48213/move", {"time": "11:00"}),
            ("POST", "/booking/appointments/RDV-48213/move", {"time": "09:00"}),
        ),
    ),
    # Parcel, RCS: the drop-off place by its carousel chip, a text where a location is wanted,
    # the shared location, then no photo.
    ("parcel", ANA): FlowPath(
        (
            Expect("Bonjour Ana, votre colis Rapidcolis RC482913574FR arrive jeudi 3 décembre"),
            Expect("À domicile", "Lieu de dépôt", "Point relais", "[Indiquer le lieu]"),
            Tap("Indiquer le lieu"),
            Expect("Partagez la position exacte", "[Partager ma position]"),
            Say("derrière le portail"),
            Expect("Touchez « Partager ma position »"),
            Share(43.2965, 5.3698),
            Expect("envoyez une photo de votre boîte aux lettres", "[Passer]"),
            Tap("Passer"),
            Expect("C'est enregistré", "à l'endroit indiqué. Le livreur", "[Suivre mon colis]"),
        ),
        state="safe_place_done",
        status=ENDED,
        vars=(("drop_point", {"latitude": 43.2965, "longitude": 5.3698}),),
    ),
    # Parcel, SMS: "4" for another day, refused by the carrier once (CARRIER_URL), then taken.
    ("parcel", BRUNO): FlowPath(
        (
            Expect("Bonjour Bruno, votre colis Rapidcolis RC482913574FR arrive jeudi 3 décembre"),
            Expect("Comment souhaitez-vous le recevoir ?\n1 À domicile\n2 Lieu de dépôt\n3"),
            Say("4"),
            Expect("Quel jour vous arrange ? Nous livrons du lundi au samedi."),
            Say("dimanche"),
            Expect("Nous ne pouvons pas livrer ce jour-là, désolé."),
            Expect("Quel jour vous arrange ?"),
            Say("le 5/12"),
            Expect("C'est noté : nouvelle livraison le ", "-12-05, entre 8h et 12h."),
        ),
        state="rescheduled",
        status=ENDED,
        answers=(("carrier", (200, {"accepted": False})),),
        calls=(("PUT", DELIVERY_DATE, {}), ("PUT", DELIVERY_DATE, {})),
    ),
    # Survey, RCS: yes by its chip, a 10 (promoter: review link, video), an offer's card chip.
    ("survey", ANA): FlowPath(
        (
            Expect("Bonjour Ana, merci pour votre passage chez Cycles Duval !", "[Oui, allons-y]"),
            Tap("Oui, allons-y"),
            Expect("De 0 à 10, quelle est la probabilité que vous recommandiez Cycles Duval"),
            Say("10"),
            Expect("Merci Ana, toute l'équipe est ravie !", "[Laisser un avis]"),
            Expect("Et pour les curieux, une journée à l'atelier en une minute :"),
            Expect("https://www.cyclesduval.fr/video/atelier.mp4"),
            Expect("Révision -20 %", "Casque urbain -15 %", "Antivol offert", "[Ça m'intéresse]"),
            Tap("Ça m'intéresse"),
            Expect("Votre code : ANTIVOL", "[Y aller]"),
        ),
        state="offer_taken",
        status=ENDED,
        vars=(("score", 10), ("offer", "offer_lock")),
    ),
    # Survey, SMS: an invalid score, a detractor's comment, then the manager takes over.
    ("survey", BRUNO): FlowPath(
        (
            Expect("Bonjour Bruno", "\n1 Oui, allons-y\n2 Pas maintenant"),
            Say("1"),
            Expect("De 0 à 10"),
            Say("douze"),
            Expect("Merci de répondre par une note de 0 à 10"),
            Say("3"),
            Expect("Nous sommes désolés. Que s'est-il passé ?"),
            Say("Mon vélo n'était pas prêt à la date prévue."),
            Expect("Souhaitez-vous que le responsable de l'atelier vous rappelle ?\n1 Oui\n2 Non"),
            Say("1"),
            Expect("Julien, responsable de l'atelier, prend le relais"),
        ),
        state="manager",
        status=HANDED_OFF,
        vars=(("score", 3), ("callback", True)),
    ),
    # Lead, RCS: six answers (chips for yes/no, this number and the time), sent to the CRM.
    ("lead", ANA): FlowPath(
        (
            Expect("Bonjour Ana, merci pour votre demande d'étude solaire", "[C'est parti]"),
            Tap("C'est parti"),
            Expect("Êtes-vous propriétaire de votre maison ?", "[Oui]", "[Non]"),
            Tap("Oui"),
            Expect("Quel est le code postal du logement ?"),
            Say("34170"),
            Expect("Quelle surface de toit est disponible, en m² ?"),
            Say("environ 45 m²"),
            Expect("Combien payez-vous d'électricité par mois"),
            Say("95"),
            Expect("À quelle adresse e-mail vous envoyer l'étude ?"),
            Say("C'est ana.durand@exemple.fr"),
            Expect("À quel numéro un conseiller peut-il vous rappeler ?", "[Ce numéro-ci]"),
            Tap("Ce numéro-ci"),
            Expect("Quand préférez-vous être rappelé ?", "[Le matin]", "[L'après-midi]"),
            Tap("L'après-midi"),
            Expect(
                "Merci Ana ! Votre demande n° L-20931 est enregistrée : un conseiller vous "
                "appellera l'après-midi sous 48 h."
            ),
            Expect("En attendant, découvrez une installation en une minute :"),
            Expect("https://www.soleil-doc-energie.fr/video/installation.mp4"),
        ),
        state="done",
        status=ENDED,
        vars=(("phone", ANA), ("roof_area", 45), ("lead", {"id": "L-20931", "status": "new"})),
        calls=(
            (
                "POST",
                "/crm/leads",
                {
                    "first_name": "Ana",
                    "phone": ANA,
                    "email": "ana.durand@exemple.fr",
                    "owner": True,
                    "postcode": "34170",
                    "roof_area_m2": 45,
                    "monthly_bill_eur": 95,
                    "callback": "afternoon",
                    "channel": "rcs",
                },
            ),
        ),
    ),
    # Lead, SMS: typed answers with a wrong postcode and a wrong e-mail; the CRM answers 500
    # and an adviser takes over.
    ("lead", BRUNO): FlowPath(
        (
            Expect("Bonjour Bruno", "\n1 C'est parti\n2 Plus tard"),
            Say("c'est parti"),
            Expect("Êtes-vous propriétaire de votre maison ?\n1 Oui\n2 Non"),
            Say("1"),
            Expect("Quel est le code postal du logement ?"),
            Say("3100"),
            Expect("Un code postal compte 5 chiffres"),
            Say("31000"),
            Expect("Quelle surface de toit"),
            Say("120"),
            Expect("Combien payez-vous d'électricité"),
            Say("110,50"),
            Expect("adresse e-mail"),
            Say("bruno@"),
            Expect("Cette adresse ne semble pas valide"),
            Say("bruno.martin@exemple.fr"),
            Expect("À quel numéro un conseiller peut-il vous rappeler ?"),
            Say("06 12 34 56 78"),
            Expect("Quand préférez-vous être rappelé ?\n1 Le matin\n2 L'après-midi\n3 En soirée"),
            Say("EN SOIREE"),
            Expect("Un conseiller Soleil d'Oc prend le relais et vous répond ici même"),
        ),
        state="human",
        status=HANDED_OFF,
        answers=(("crm", (500, {"error": "internal"})),),
        vars=(("phone", "+33612345678"), ("monthly_bill", 110.5), ("lead", None)),
        calls=(("POST", "/crm/leads", {"callback": "en_soiree", "channel": "t2c"}),),
    ),
}

CHANNELS = {ANA: "rcs", BRUNO: "t2c"}
PHONE_NAMES = {ANA: "rcs-phone", BRUNO: "sms-phone"}


async def final_conversation(demo: Demo, bot: str, number: str) -> Conversation:
    """The bot's latest conversation with `number`, whatever its status."""
    everything = frozenset(ConversationStatus)
    found = await demo.runtime.store.list_conversations(bot, statuses=everything)
    return [c for c in found if c.phone == number][-1]


@pytest.mark.parametrize(
    ("bot", "number"), list(PATHS), ids=[f"{bot}-{PHONE_NAMES[n]}" for bot, n in PATHS]
)
async def test_example_flow_runs_to_its_end(demo: Demo, bot: str, number: str) -> None:
    path = PATHS[bot, number]
    for route, answer in path.answers:
        demo.backend.script(route, answer)
    person = demo.person(number)

    await demo.start(bot, number, CHANNELS[number])
    for step in path.steps:
        await step.run(person)

    live = await demo.conversation(bot, number)
    if path.status is ENDED:
        assert live is None, f"the conversation did not end: {live}"
    else:
        assert live is not None
        assert live.status is path.status
    final = await final_conversation(demo, bot, number)
    assert (final.state, final.status) == (path.state, path.status)
    assert final.channel == CHANNELS[number]
    for name, value in path.vars:
        expected = value if not isinstance(value, dict) else final.vars[name] | value
        assert final.vars[name] == expected, name
    # Every message reached the phone on its own network, and the person acted on it there.
    phone = demo.phonebook.get(number)
    assert phone is not None
    assert {m.channel for m in phone.messages} == {"rcs" if number == ANA else "sms"}
    assert OutboxStatus.FAILED not in await demo.runtime.store.outbox_depth()
    # The transcript holds the start, then each of the person's messages once.
    history = await demo.runtime.store.history(final.id)
    inbound = [h.body.get("kind") for h in history if h.direction is Way.IN]
    actions = [step for step in path.steps if not isinstance(step, Expect)]
    assert inbound == ["start"] + ["inbound"] * len(actions), inbound
    # The flow's calls reached the backend with what the bot's environment gives (env_allow).
    calls = demo.backend.calls
    assert [(c.method, c.path) for c in calls] == [(m, p) for m, p, _ in path.calls]
    for call, (_, _, fields) in zip(calls, path.calls, strict=True):
        assert {key: call.json[key] for key in fields} == fields
        assert_secrets(call, CHANNELS[number])


def assert_secrets(call: BackendCall, channel: str) -> None:
    """The headers of `examples/flows/*.yaml` filled from `env.*`."""
    route = call.path.split("/")[1]
    if route == "booking":
        assert call.headers["Authorization"] == f"Bearer {SECRETS['BOOKING_TOKEN']}"
    elif route == "carrier":
        assert call.headers["X-Api-Key"] == SECRETS["CARRIER_KEY"]
    else:
        assert call.headers["Authorization"] == f"Bearer {SECRETS['CRM_TOKEN']}"
        assert call.headers["X-Lead-Source"] == f"causette-{channel}"


# --- At-least-once delivery ----------------------------------------------------------------------


async def history_of(demo: Demo, bot: str, number: str) -> list[HistoryEntry]:
    conversation = await demo.conversation(bot, number)
    assert conversation is not None
    return await demo.runtime.store.history(conversation.id)


@pytest.mark.parametrize("number", [ANA, BRUNO], ids=["rbm-webhook", "smsmode-callback"])
async def test_a_duplicated_delivery_is_one_inbox_entry_and_one_reply(
    demo: Demo, number: str
) -> None:
    """RBM posts every webhook twice, smsmode every callback twice: the person's message is
    stored once and answered once."""
    demo.rbm.faults.webhooks.duplicate_rate = 1.0
    demo.sms.faults.duplicate_callback_rate = 1.0
    rcs = number == ANA
    person = demo.person(number)
    await demo.start("survey", number, CHANNELS[number])
    await person.expect("Avez-vous une minute pour nous donner votre avis ?")

    await (person.tap("Oui, allons-y") if rcs else person.say("1"))
    await person.expect("De 0 à 10, quelle est la probabilité")
    # Everything the emulator had to post is posted, the copies included.
    await asyncio.wait_for(demo.rbm.drain() if rcs else demo.sms.drain(), WAIT)

    if rcs:
        events = [a for a in demo.rbm.webhooks.attempts if a.kind == "event"]
        assert events
        assert set(Counter(a.pubsub_id for a in events).values()) == {2}, "each posted twice"
        assert {a.status for a in events} == {200}
    else:
        callbacks = [a for a in demo.sms.callbacks.attempts if a.kind == "mo"]
        assert len(callbacks) == 2
        assert callbacks[0].message_id == callbacks[1].message_id
        assert {a.status for a in callbacks} == {200}
    inbox = demo.inbox_rows(number)
    assert [source for source, _, _ in inbox] == ["start", "rbm" if rcs else "smsmode"], inbox
    assert await demo.runtime.store.inbox_depth() == 0

    # The next message the person gets answers the next thing they say: no second reply
    # (nor a retry prompt for a replayed answer) came in between.
    await person.say("8")
    await person.expect("Que faudrait-il améliorer pour mériter un 10 ?")
    assert [h.direction for h in await history_of(demo, "survey", number)] == [
        Way.IN,  # the start
        Way.OUT,
        Way.IN,
        Way.OUT,
        Way.IN,
        Way.OUT,
    ]
    assert len(person.received) == 3
    assert len(demo.inbox_rows(number)) == 3


# --- R20: RCS that cannot reach the phone goes by SMS -------------------------------------------


async def test_rcs_to_a_phone_without_rcs_arrives_by_sms(demo: Demo) -> None:
    """Bruno's phone takes SMS only: RBM answers 404 for it, and the message goes by SMS from
    the bot's SenderID (R20), rendered for SMS."""
    bruno = demo.person(BRUNO)
    await demo.start("appointment", BRUNO, "rcs")

    text = await bruno.expect("Bruno, le cabinet dentaire du Prado", "\n1 Je confirme\n2 Annuler")

    phone = demo.phonebook.get(BRUNO)
    assert phone is not None
    (message,) = phone.messages
    assert message.channel == "sms"
    assert message.body["from"] == "33939000001"  # the 09 number: the fallback can be answered
    assert "[Je confirme]" not in text
    assert not demo.rbm.messages, "RBM accepted nothing for a phone without RCS"
    conversation = await demo.conversation("appointment", BRUNO)
    assert conversation is not None
    assert conversation.channel == "rcs"
    assert OutboxStatus.FAILED not in await demo.runtime.store.outbox_depth()


# --- R25 STOP mention and R20 fallback (both found by these tests) ------------------------------


async def test_marketing_sms_carry_the_stop_mention(demo: Demo) -> None:
    bruno = demo.person(BRUNO)
    await demo.start("survey", BRUNO, "t2c")
    await bruno.expect("Bonjour Bruno", "\n1 Oui, allons-y\n2 Pas maintenant\nSTOP au 36034")


async def test_a_person_can_answer_the_sms_fallback(demo: Demo) -> None:
    bruno = demo.person(BRUNO)
    await demo.start("appointment", BRUNO, "rcs")
    await bruno.expect("\n1 Je confirme\n2 Annuler")

    await bruno.say("2")  # the emulator takes (or drops) the reply before answering

    assert demo.sms.replies, "the reply reached smsmode's callbacks"
