"""The SQLite store's registry of RCS agents."""

from __future__ import annotations

from datetime import datetime

from store.records import AgentRecord, AgentState
from store.sqlite_schema import Connected, agent_of, agent_params, to_us

# `max()` of SQLite is NULL when an argument is: an agent that never sent has no time yet.
_RECORD_SEND = f"""INSERT INTO agents VALUES (?, '{AgentState.LAUNCHED.value}', ?, NULL, ?)
    ON CONFLICT (agent_id) DO UPDATE SET last_sent_at =
        max(COALESCE(last_sent_at, excluded.last_sent_at), excluded.last_sent_at)"""


class SqliteAgents(Connected):
    async def get_agent(self, agent_id: str) -> AgentRecord | None:
        sql = "SELECT * FROM agents WHERE agent_id = ?"
        row = self._conn.execute(sql, (agent_id,)).fetchone()
        return None if row is None else agent_of(row)

    async def save_agent(self, record: AgentRecord) -> None:
        sql = "INSERT OR REPLACE INTO agents VALUES (?, ?, ?, ?, ?)"
        self._conn.execute(sql, agent_params(record))

    async def record_agent_send(self, agent_id: str, at: datetime) -> None:
        self._conn.execute(_RECORD_SEND, (agent_id, to_us(at), to_us(at)))
