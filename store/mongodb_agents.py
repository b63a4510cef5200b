"""The MongoDB store's registry of RCS agents: one document per agent, `_id` its id."""

from __future__ import annotations

from datetime import datetime

from pymongo.errors import DuplicateKeyError

from store.mongodb_documents import Connected, Doc, ms
from store.records import AgentRecord, AgentState


def _optional_ms(moment: datetime | None) -> datetime | None:
    return None if moment is None else ms(moment)


def agent_doc(record: AgentRecord) -> Doc:
    a = record
    return {
        "_id": a.agent_id,
        "state": a.state.value,
        "last_sent_at": _optional_ms(a.last_sent_at),
        "reactivated_at": _optional_ms(a.reactivated_at),
        "updated_at": ms(a.updated_at),
    }


def agent_of(doc: Doc) -> AgentRecord:
    return AgentRecord(
        agent_id=doc["_id"],
        state=AgentState(doc["state"]),
        last_sent_at=doc["last_sent_at"],
        reactivated_at=doc["reactivated_at"],
        updated_at=doc["updated_at"],
    )


class MongoAgents(Connected):
    async def get_agent(self, agent_id: str) -> AgentRecord | None:
        doc = await self._c.agents.find_one({"_id": agent_id})
        return None if doc is None else agent_of(doc)

    async def save_agent(self, record: AgentRecord) -> None:
        doc = agent_doc(record)
        await self._c.agents.replace_one({"_id": doc["_id"]}, doc, upsert=True)

    async def record_agent_send(self, agent_id: str, at: datetime) -> None:
        # `$max` over a null `last_sent_at` takes `at`: null sorts before every date.
        new = agent_doc(AgentRecord(agent_id, AgentState.LAUNCHED, None, None, at))
        del new["_id"], new["last_sent_at"]
        update = {"$max": {"last_sent_at": ms(at)}, "$setOnInsert": new}
        try:
            await self._c.agents.update_one({"_id": agent_id}, update, upsert=True)
        except DuplicateKeyError:
            # Two first sends at once: both upserts inserted, one lost; it is an update now.
            await self._c.agents.update_one({"_id": agent_id}, update, upsert=True)
