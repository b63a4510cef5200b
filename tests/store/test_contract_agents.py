"""Contract: the registry of RCS agents (launch state, last send, re-validation)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from store.base import Store
from store.records import AgentRecord, AgentState
from tests.store import T0, StoreFactory, sec

AGENT = "causette-demo-agent"


def agent(**changes: Any) -> AgentRecord:
    record = AgentRecord(AGENT, AgentState.UNLAUNCHED, None, None, T0)
    return replace(record, **changes)


async def test_an_unknown_agent_is_none(store: Store) -> None:
    assert await store.get_agent(AGENT) is None


async def test_a_saved_agent_is_read_back(store: Store) -> None:
    await store.save_agent(agent())
    assert await store.get_agent(AGENT) == agent()
    assert await store.get_agent("another") is None


async def test_saving_replaces_the_whole_record(store: Store) -> None:
    await store.save_agent(agent(state=AgentState.LAUNCHED, last_sent_at=sec(5)))
    suspended = agent(state=AgentState.SUSPENDED, reactivated_at=sec(7), updated_at=sec(8))
    await store.save_agent(suspended)
    assert await store.get_agent(AGENT) == suspended  # last_sent_at back to None, as saved


async def test_a_send_through_an_unknown_agent_registers_it_launched(store: Store) -> None:
    await store.record_agent_send(AGENT, sec(3))
    assert await store.get_agent(AGENT) == AgentRecord(
        AGENT, AgentState.LAUNCHED, last_sent_at=sec(3), reactivated_at=None, updated_at=sec(3)
    )


async def test_the_last_send_only_moves_forward(store: Store) -> None:
    saved = agent(state=AgentState.SUSPENDED, reactivated_at=sec(1))
    await store.save_agent(saved)
    await store.record_agent_send(AGENT, sec(10))  # from no send at all
    assert await store.get_agent(AGENT) == replace(saved, last_sent_at=sec(10))
    await store.record_agent_send(AGENT, sec(4))  # a late report of an older send
    assert await store.get_agent(AGENT) == replace(saved, last_sent_at=sec(10))
    await store.record_agent_send(AGENT, sec(20))
    # State and updated_at stay: a send is not a change of registration.
    assert await store.get_agent(AGENT) == replace(saved, last_sent_at=sec(20))


async def test_agents_outlive_the_process_that_saved_them(backing: StoreFactory) -> None:
    async with backing() as first:
        await first.save_agent(agent(state=AgentState.LAUNCHED))
        await first.record_agent_send("other-agent", sec(2))
    async with backing() as second:
        assert await second.get_agent(AGENT) == agent(state=AgentState.LAUNCHED)
        other = await second.get_agent("other-agent")
        assert other is not None
        assert other.last_sent_at == sec(2)
