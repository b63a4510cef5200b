"""The admin API's conversations and handoff queue: pages, channel decisions, a person's
answers through the bot's channels, release and end (FLOWS.md `handoff`; bots/handoff.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from store.records import Claim, ConversationStatus, OutboxStatus, TurnWrite
from tests.bots.admin_client import PHONE, URL, Api, ClientFactory, error_of, make_api


@pytest.fixture
async def api(aiohttp_client: ClientFactory, tmp_path: Path) -> AsyncIterator[Api]:
    api = await make_api(aiohttp_client, tmp_path)
    yield api
    await api.runtime.close()


async def handed_off(api: Api) -> str:
    """A conversation of `rdv` with `PHONE`, handed to a person after one message."""
    conversation = await api.started()
    await api.says("Conseiller", "m1", data="human")
    await api.says("Bonjour, j'ai une question", "m2")
    await api.says("C'est urgent", "m3")
    return conversation


async def answer(api: Api, conversation: str, body: Any, key: str = "a-1") -> tuple[int, Any]:
    url = f"{URL}/{conversation}/messages"
    return await api.call("POST", url, json=body, headers={"Idempotency-Key": key})


async def test_the_handoff_queue_shows_the_queue_and_what_the_person_wrote(api: Api) -> None:
    conversation = await handed_off(api)
    status, page = await api.call("GET", "/v1/bots/rdv/handoffs")
    assert status == 200
    (handoff,) = page["handoffs"]
    assert page["next_cursor"] is None
    assert handoff["queue"] == "accueil"
    assert handoff["conversation"]["id"] == conversation
    assert handoff["conversation"]["status"] == "handed_off"
    assert handoff["conversation"]["phone"] == "+33•••••••78"
    # Since the handoff's own message, oldest first: not the chip that asked for a person.
    texts = [line["body"]["message"]["text"] for line in handoff["messages"]]
    assert texts == ["Bonjour, j'ai une question", "C'est urgent"]
    assert {line["source"] for line in handoff["messages"]} == {"flow"}
    # The bot stayed silent: the start's question and the handoff's message only.
    assert [m.content["text"] for m in api.sender.sent] == [
        "Bonjour Ana, le 12 décembre ?",
        "Un conseiller vous répond.",
    ]
    assert (await api.call("GET", "/v1/bots/colis/handoffs", token=api.everything))[1][
        "handoffs"
    ] == []


async def test_a_person_answers_through_the_bots_channels_once_per_key(api: Api) -> None:
    conversation = await handed_off(api)
    body = {"text": "Bonjour, je regarde.", "suggestions": [{"reply": "Merci"}]}
    status, queued = await answer(api, conversation, body)
    assert status == 202
    assert queued["created"] is True
    assert await answer(api, conversation, body) == (200, {**queued, "created": False})
    status, error = await answer(api, conversation, {"text": "autre chose"})
    assert status == 409
    error_of(error, "idempotency_key_reused")

    await api.runtime.run_until_idle()
    sent = api.sender.sent[-1]
    assert (sent.key, sent.phone, sent.content["text"]) == (queued["key"], PHONE, body["text"])
    assert sent.content["suggestions"] == [{"reply": "Merci"}]
    # A second answer goes after the first; the person's reply reaches the queue.
    assert (await answer(api, conversation, {"text": "C'est noté."}, key="a-2"))[0] == 202
    await api.runtime.run_until_idle()
    assert api.sender.sent[-1].content["text"] == "C'est noté."
    assert api.sender.sent[-1].key > queued["key"]
    await api.says("Super", "m4")
    (handoff,) = (await api.call("GET", "/v1/bots/rdv/handoffs"))[1]["handoffs"]
    sources = [line["source"] for line in handoff["messages"]]
    assert sources == ["flow", "flow", "agent", "agent", "flow"]

    _, shown = await api.call("GET", f"{URL}/{conversation}")
    mine = [m for m in shown["messages"] if m["source"] == "agent"]
    assert [m["content"]["text"] for m in mine] == [body["text"], "C'est noté."]
    assert mine[0]["route"] == "sms"
    assert [line["status"] for line in mine[0]["history"]] == ["queued", "sent"]


async def test_an_answer_needs_a_handed_off_conversation(api: Api) -> None:
    conversation = await api.started()
    status, error = await answer(api, conversation, {"text": "Bonjour"})
    assert status == 409
    error_of(error, "not_handed_off")
    status, error = await answer(api, "rdv-999", {"text": "Bonjour"})
    assert status == 404
    error_of(error, "unknown_conversation")


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"text": ""}, ["body", "text"]),
        ({"text": "a", "suggestions": [{"reply": "x" * 26}]}, ["body", "suggestions", 0, "reply"]),
        ({"text": "a", "suggestions": [{"reply": "A", "data": "d"}] * 2}, ["body"]),
        ({"text": "a", "html": "<b>"}, ["body", "html"]),
    ],
)  # fmt: skip
async def test_an_invalid_answer_is_400_and_sends_nothing(
    api: Api, body: Any, loc: list[Any]
) -> None:
    conversation = await handed_off(api)
    status, error = await answer(api, conversation, body)
    assert status == 400
    assert [d["loc"] for d in error_of(error, "invalid_request")["details"]] == [loc]
    assert len(api.sender.sent) == 2


async def test_a_released_conversation_goes_back_to_the_bot_in_its_state(api: Api) -> None:
    conversation = await handed_off(api)
    url = f"{URL}/{conversation}/release"
    status, released = await api.call("POST", url)
    assert status == 200
    assert (released["status"], released["state"]) == ("active", "human")
    assert await api.call("POST", url) == (200, released)  # idempotent
    status, error = await answer(api, conversation, {"text": "trop tard"})
    assert status == 409
    error_of(error, "not_handed_off")
    # The bot reads the next message against the handoff state's `on`.
    await api.says("merci beaucoup", "m9")
    assert api.sender.sent[-1].content["text"] == "Merci"
    stored = await api.runtime.store.get_conversation_by_id(conversation)
    assert stored is not None
    assert stored.status is ConversationStatus.ENDED
    _, shown = await api.call("GET", f"{URL}/{conversation}")
    admin_lines = [line for line in shown["transcript"] if line["source"] == "admin"]
    assert [line["body"] for line in admin_lines] == [{"kind": "release"}]
    status, error = await api.call("POST", url)
    assert status == 409  # ended now
    error_of(error, "not_handed_off")


async def test_only_a_handed_off_conversation_is_released(api: Api) -> None:
    conversation = await api.started()
    status, error = await api.call("POST", f"{URL}/{conversation}/release")
    assert status == 409
    error_of(error, "not_handed_off")


async def test_an_ended_conversation_lets_the_next_message_start_another(api: Api) -> None:
    conversation = await handed_off(api)
    url = f"{URL}/{conversation}/end"
    status, ended = await api.call("POST", url)
    assert status == 200
    assert ended["status"] == "ended"
    assert await api.call("POST", url) == (200, ended)  # idempotent
    assert await api.runtime.store.get_conversation("rdv", PHONE) is None
    await api.says("Bonjour ?", "m9")
    again = await api.runtime.store.get_conversation("rdv", PHONE)
    assert again is not None
    assert again.id != conversation


async def test_a_turn_and_a_release_do_not_interleave(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A release lands while a worker runs a turn of the handed-off conversation: the turn's
    write is refused (compare-and-set) and the event is handled again from the released state,
    so the bot answers it instead of swallowing it as a handed-off turn would."""
    conversation = await handed_off(api)
    store = api.runtime.store
    commit_turn = store.commit_turn
    releases: list[bool] = []

    async def released_meanwhile(claim: Claim, write: TurnWrite, now: datetime) -> None:
        if not releases:
            releases.append((await api.runtime.changes.release(conversation))[1])
        await commit_turn(claim, write, now)

    monkeypatch.setattr(store, "commit_turn", released_meanwhile)
    await api.says("merci", "m9")
    assert releases == [True]
    assert api.sender.sent[-1].content["text"] == "Merci"
    stored = await store.get_conversation_by_id(conversation)
    assert stored is not None
    assert stored.status is ConversationStatus.ENDED


async def test_conversations_are_paged_by_cursor_and_filtered(api: Api) -> None:
    phones = [f"+3361234560{n}" for n in range(5)]
    for n, phone in enumerate(phones):
        status, _, _ = await api.post({"phone": phone}, key=f"k-{n}")
        assert status == 202
        await api.runtime.run_until_idle()
        api.clock.advance(timedelta(seconds=1))
    first = (await api.call("GET", URL, params={"limit": "2"}))[1]
    assert [c["phone"][-2:] for c in first["conversations"]] == ["00", "01"]
    cursor = first["next_cursor"]
    second = (await api.call("GET", URL, params={"limit": "2", "cursor": cursor}))[1]
    assert [c["phone"][-2:] for c in second["conversations"]] == ["02", "03"]
    params = {"limit": "2", "cursor": second["next_cursor"]}
    last = (await api.call("GET", URL, params=params))[1]
    assert ([c["phone"][-2:] for c in last["conversations"]], last["next_cursor"]) == (["04"], None)
    ended = (await api.call("GET", URL, params={"status": "ended"}))[1]
    assert ended["conversations"] == []
    for params, loc in (
        ({"cursor": "nope"}, "cursor"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"status": "gone"}, "status"),
        ({"page": "2"}, "page"),
    ):
        status, error = await api.call("GET", URL, params=params)
        assert status == 400, params
        assert error_of(error, "invalid_request")["details"][0]["loc"] == ["query", loc]


async def test_show_gives_each_message_with_its_channel_decisions(api: Api) -> None:
    conversation = await api.started()
    _, shown = await api.call("GET", f"{URL}/{conversation}")
    (message,) = shown["messages"]
    assert (message["source"], message["channel"], message["route"]) == ("flow", "sms", "sms")
    assert message["status"] == OutboxStatus.SENT.value
    assert message["content"]["text"] == "Bonjour Ana, le 12 décembre ?"
    assert [line["status"] for line in message["history"]] == ["queued", "sent"]
    assert all(set(line) == {"at", "status", "detail", "channel"} for line in message["history"])


async def test_the_handoff_queue_is_paged(api: Api) -> None:
    phones = ["+33612345601", "+33612345602"]
    for n, phone in enumerate(phones):
        assert (await api.post({"phone": phone}, key=f"k-{n}"))[0] == 202
        await api.runtime.run_until_idle()
        await api.says("Conseiller", f"m{n}", data="human", phone=phone)
    _, first = await api.call("GET", "/v1/bots/rdv/handoffs", params={"limit": "1"})
    assert [h["conversation"]["phone"][-2:] for h in first["handoffs"]] == ["01"]
    params = {"limit": "1", "cursor": first["next_cursor"]}
    _, second = await api.call("GET", "/v1/bots/rdv/handoffs", params=params)
    assert [h["conversation"]["phone"][-2:] for h in second["handoffs"]] == ["02"]
    params["cursor"] = second["next_cursor"]
    assert (await api.call("GET", "/v1/bots/rdv/handoffs", params=params))[1] == {
        "handoffs": [],
        "next_cursor": None,
    }
