"""Stores opened over data an earlier version of the code wrote: SQLite files of schema
versions 1 to 9, MongoDB outbox documents from before the fallback router."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from pathlib import Path
from uuid import uuid4

import pytest
from pymongo import AsyncMongoClient

from store.billing_records import BillingState
from store.campaigns_records import Campaign, CampaignRecipient, CampaignStatus, RecipientState
from store.compliance_records import OptOut, RedListed
from store.contacts_records import Contact
from store.numbers_records import NumberRecord
from store.records import AgentRecord, AgentState, OutboxEntry, OutboxStatus
from store.sqlite import SqliteStore
from store.sqlite_schema import SCHEMA_VERSION, to_us
from store.sqlite_tables import V9_CAMPAIGNS
from store.tokens_records import ApiToken
from tests.store import LEASE, PHONE, T0, sec

# The tables of schema version 1, as that version created them.
V1_TABLES = (
    """CREATE TABLE flow_versions (
        content_hash TEXT PRIMARY KEY, flow_id TEXT NOT NULL, source TEXT NOT NULL,
        path TEXT NOT NULL, created_at INTEGER NOT NULL)""",
    """CREATE TABLE conversations (
        id TEXT PRIMARY KEY, bot_id TEXT NOT NULL, phone TEXT NOT NULL,
        flow_id TEXT NOT NULL, flow_hash TEXT NOT NULL, state TEXT NOT NULL,
        vars TEXT NOT NULL, choices TEXT NOT NULL, status TEXT NOT NULL,
        attempts INTEGER NOT NULL, epoch INTEGER NOT NULL, contact TEXT NOT NULL,
        channel TEXT NOT NULL, version INTEGER NOT NULL, last_inbox_seq INTEGER NOT NULL,
        created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)""",
    """CREATE UNIQUE INDEX conversations_live
        ON conversations (bot_id, phone) WHERE status != 'ended'""",
    "CREATE INDEX conversations_bot ON conversations (bot_id, created_at)",
    """CREATE TABLE inbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT NOT NULL,
        provider_id TEXT NOT NULL, bot_id TEXT NOT NULL, phone TEXT NOT NULL,
        event TEXT NOT NULL, received_at INTEGER NOT NULL, done INTEGER NOT NULL DEFAULT 0,
        UNIQUE (source, provider_id))""",
    "CREATE INDEX inbox_pending_seq ON inbox (seq) WHERE done = 0",
    """CREATE TABLE leases (
        bot_id TEXT NOT NULL, phone TEXT NOT NULL, owner TEXT NOT NULL,
        until INTEGER NOT NULL, PRIMARY KEY (bot_id, phone)) WITHOUT ROWID""",
    """CREATE TABLE timers (
        id TEXT PRIMARY KEY, conversation_id TEXT NOT NULL, bot_id TEXT NOT NULL,
        phone TEXT NOT NULL, key TEXT NOT NULL, due_at INTEGER NOT NULL)""",
    "CREATE INDEX timers_due ON timers (due_at, id)",
    """CREATE TABLE outbox (
        key TEXT PRIMARY KEY, conversation_id TEXT NOT NULL, bot_id TEXT NOT NULL,
        phone TEXT NOT NULL, content TEXT NOT NULL, channel TEXT NOT NULL,
        status TEXT NOT NULL, due_at INTEGER NOT NULL, created_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, provider_id TEXT, history TEXT NOT NULL,
        lease_owner TEXT, lease_until INTEGER)""",
    "CREATE INDEX outbox_provider ON outbox (provider_id)",
    "CREATE INDEX outbox_due ON outbox (status, due_at)",
    """CREATE TABLE history (
        key TEXT PRIMARY KEY, conversation_id TEXT NOT NULL, direction TEXT NOT NULL,
        body TEXT NOT NULL, at INTEGER NOT NULL)""",
    "CREATE INDEX history_conversation ON history (conversation_id, at)",
)
# What version 2 changed, applied to the tables of version 1 (as `UPGRADES[1]` does).
V2_CHANGES = (
    "ALTER TABLE outbox ADD COLUMN route TEXT",
    "ALTER TABLE outbox ADD COLUMN deadline_at INTEGER",
    "ALTER TABLE outbox ADD COLUMN provider_ids TEXT NOT NULL DEFAULT '[]'",
    """CREATE TABLE outbox_providers (
        provider_id TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY (provider_id, key))
        WITHOUT ROWID""",
    "DROP INDEX outbox_provider",
    """CREATE INDEX outbox_waiting ON outbox (key, status, due_at, lease_until, conversation_id)
        WHERE status IN ('queued', 'revoked', 'sending')""",
    """CREATE INDEX outbox_conversation_waiting ON outbox (conversation_id, key, status)
        WHERE status IN ('queued', 'revoked', 'sending')""",
    "CREATE INDEX outbox_deadline ON outbox (deadline_at) WHERE deadline_at IS NOT NULL",
    """CREATE TABLE agents (
        agent_id TEXT PRIMARY KEY, state TEXT NOT NULL, last_sent_at INTEGER,
        reactivated_at INTEGER, updated_at INTEGER NOT NULL) WITHOUT ROWID""",
)
# What version 3 added: the billing tables (store/sqlite_billing.py).
V3_CHANGES = (
    """CREATE TABLE billing_states (
        key TEXT PRIMARY KEY, data TEXT NOT NULL, version INTEGER NOT NULL, due_at INTEGER)
        WITHOUT ROWID""",
    """CREATE INDEX billing_states_due
        ON billing_states (due_at, key) WHERE due_at IS NOT NULL""",
    """CREATE TABLE ledger (
        id TEXT PRIMARY KEY, kind TEXT NOT NULL, billing_class TEXT NOT NULL,
        bot_id TEXT NOT NULL, sender TEXT NOT NULL, sender_type TEXT NOT NULL,
        recipient TEXT NOT NULL, channel TEXT NOT NULL, country TEXT NOT NULL,
        quantity INTEGER NOT NULL, unit_price TEXT NOT NULL, currency TEXT NOT NULL,
        at INTEGER NOT NULL, rule TEXT NOT NULL, message_key TEXT, session_id TEXT,
        delivered_at INTEGER, operator TEXT)""",
    "CREATE INDEX ledger_at ON ledger (at, id)",
    "CREATE INDEX ledger_bot ON ledger (bot_id, at, id)",
    "CREATE INDEX ledger_message ON ledger (message_key) WHERE message_key IS NOT NULL",
    "CREATE INDEX ledger_session ON ledger (session_id) WHERE session_id IS NOT NULL",
    """CREATE TABLE credits (
        id TEXT PRIMARY KEY, amount TEXT NOT NULL, currency TEXT NOT NULL,
        purchased_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, note TEXT NOT NULL)""",
    "CREATE INDEX credits_purchased ON credits (purchased_at, id)",
)
SENT_LINE = {"at": sec(1).isoformat(), "status": "sent", "detail": None}
SENT = OutboxEntry(
    key="000000000001:000",
    conversation_id="conv-1",
    bot_id="bot-a",
    phone="+33612345678",
    content={"text": "Bonjour"},
    channel="rcs",
    status=OutboxStatus.SENT,
    due_at=T0,
    created_at=T0,
    attempts=1,
    provider_id="rbm-1",
    history=[SENT_LINE],
)
QUEUED = OutboxEntry(
    key="000000000002:000",
    conversation_id="conv-2",
    bot_id="bot-a",
    phone="+33612345679",
    content={"text": "Au revoir"},
    channel="rcs",
    status=OutboxStatus.QUEUED,
    due_at=T0,
    created_at=T0,
)
"""Entries as version 1 wrote them, and as they read after the upgrade (the new fields at
their defaults, but for `provider_ids`, which holds the one id an entry had)."""


def _write_v1(path: Path) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    try:
        for statement in V1_TABLES:
            db.execute(statement)
        for e in (SENT, QUEUED):
            db.execute(
                "INSERT INTO outbox VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
                (
                    *(e.key, e.conversation_id, e.bot_id, e.phone, json.dumps(e.content)),
                    *(e.channel, e.status.value, to_us(e.due_at), to_us(e.created_at)),
                    *(e.attempts, e.provider_id, json.dumps(e.history)),
                ),
            )
        db.execute("PRAGMA user_version = 1")
    finally:
        db.close()


async def test_a_version_1_sqlite_file_is_migrated_on_open(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    _write_v1(path)
    async with SqliteStore(path) as store:
        upgraded = replace(SENT, provider_ids=("rbm-1",))
        assert await store.get_outbound(SENT.key) == upgraded
        assert await store.get_outbound(QUEUED.key) == QUEUED
        assert await store.find_outbound_by_provider_id("rbm-1") == upgraded
        await store.mark_outbound(SENT.key, OutboxStatus.SENT, sec(2), provider_id="sms-1")
        (claimed,) = await store.claim_outbound("d1", T0, LEASE)
        assert claimed.key == QUEUED.key
    async with SqliteStore(path) as again:  # opening a version 2 file changes nothing
        found = await again.find_outbound_by_provider_id("rbm-1")
        assert found is not None
        assert found.provider_ids == ("rbm-1", "sms-1")
        assert await again.find_outbound_by_provider_id("sms-1") == found
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        indexes = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        assert "outbox_provider" not in indexes
    finally:
        db.close()
    assert _layout(path) == await _fresh_layout(tmp_path)


def _write_v2(path: Path, agent: AgentRecord) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    try:
        for statement in (*V1_TABLES, *V2_CHANGES):
            db.execute(statement)
        a = agent
        db.execute(
            "INSERT INTO agents VALUES (?, ?, NULL, NULL, ?)",
            (a.agent_id, a.state.value, to_us(a.updated_at)),
        )
        db.execute("PRAGMA user_version = 2")
    finally:
        db.close()


def _layout(path: Path) -> dict[str, object]:
    """A file's tables with their columns, and its indexes with their columns and condition:
    what code reads, whichever statements made it."""
    db = sqlite3.connect(path)
    try:
        layout: dict[str, object] = {}
        for kind, name, sql in db.execute("SELECT type, name, sql FROM sqlite_master"):
            if kind == "table":
                columns = db.execute(f"PRAGMA table_info({name})").fetchall()
                layout[name] = sorted((c[1], c[2], c[3], c[4], c[5]) for c in columns)
            elif kind == "index":
                where = None if sql is None else " ".join(sql.split()).partition(" WHERE ")[2]
                keys = [c[2] for c in db.execute(f"PRAGMA index_info({name})")]
                layout[name] = (keys, where)
        return layout
    finally:
        db.close()


async def _fresh_layout(tmp_path: Path) -> dict[str, object]:
    fresh = tmp_path / "fresh.db"
    async with SqliteStore(fresh):
        pass
    return _layout(fresh)


async def test_a_version_2_sqlite_file_gains_the_later_tables_on_open(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    agent = AgentRecord("causette-demo-agent", AgentState.LAUNCHED, None, None, T0)
    _write_v2(path, agent)
    async with SqliteStore(path) as store:
        assert await store.get_agent(agent.agent_id) == agent
        first = BillingState("rcs:agent:+33612345678", {"due": sec(5).isoformat()}, 1)
        assert await store.commit_billing(first, [])
        assert await store.billing_states_due("rcs:", sec(6)) == [first]
    assert _layout(path) == await _fresh_layout(tmp_path)
    async with SqliteStore(path) as again:  # opening a current file changes nothing
        assert await again.get_billing_state(first.key) == first
    assert _version(path) == SCHEMA_VERSION == 10


def _version(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        version: int = db.execute("PRAGMA user_version").fetchone()[0]
        return version
    finally:
        db.close()


def _drop_campaigns(db: sqlite3.Connection) -> None:
    """Remove what versions 9 and 10 added for campaigns, from a current file made older."""
    db.execute("DROP TABLE campaign_recipients")
    db.execute("DROP TABLE campaigns")


def _write_v3(path: Path) -> None:
    """A version 3 file holding one old exchange: a handled event, its history line, a
    delivered message (with its provider id) and what it was billed."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        for statement in (*V1_TABLES, *V2_CHANGES, *V3_CHANGES):
            db.execute(statement)
        phone, at = "+33612345678", to_us(T0)
        db.execute(
            "INSERT INTO inbox VALUES (1, 'smsmode', 'mo-1', 'bot-a', ?, '{}', ?, 1)", (phone, at)
        )
        db.execute("INSERT INTO history VALUES ('h-1', 'conv-1', 'in', '{}', ?)", (at,))
        e = replace(SENT, status=OutboxStatus.DELIVERED, provider_ids=("rbm-1",), route="rcs")
        db.execute(
            f"INSERT INTO outbox VALUES ({', '.join('?' * 12)}, NULL, NULL, ?, NULL, ?)",
            (
                *(e.key, e.conversation_id, e.bot_id, e.phone, json.dumps(e.content)),
                *(e.channel, e.status.value, to_us(e.due_at), to_us(e.created_at)),
                *(e.attempts, e.provider_id, json.dumps(e.history), e.route),
                json.dumps(e.provider_ids),
            ),
        )
        db.execute("INSERT INTO outbox_providers VALUES ('rbm-1', ?)", (e.key,))
        db.execute("INSERT INTO billing_states VALUES (?, '{}', 1, NULL)", (f"rcs:agent:{phone}",))
        db.execute(
            """INSERT INTO ledger VALUES ('message:x', 'message', 'rcs_basic', 'bot-a', 'agent',
                'rcs_agent', ?, 'rcs', 'FR', 1, '0.0450', 'EUR', ?, 'R21', ?, NULL, NULL, NULL)""",
            (phone, at, e.key),
        )
        db.execute("PRAGMA user_version = 3")
    finally:
        db.close()


async def test_a_version_3_sqlite_file_gains_the_compliance_tables_on_open(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v3.db"
    _write_v3(path)
    phone = "+33612345678"
    async with SqliteStore(path) as store:
        assert await store.find_outbound_by_provider_id("rbm-1") is not None
        # The records version 3 wrote are found by the new indexes: archived, then erased.
        assert await store.archive_before(sec(1)) == 3
        assert await store.find_outbound_by_provider_id("rbm-1") is None
        assert [a.kind for a in await store.archived(phone)] == ["inbox", "outbox"]
        opted = OptOut("business", phone, True, T0, "sms:STOP")
        await store.set_opt_out(opted)
        assert await store.red_list_add(RedListed("business", phone, T0))
        erased = await store.erase_phone(phone, "hash:1")
        assert {name: n for name, n in erased.items() if n} == {
            "archive": 2,
            "billing_states": 1,
            "ledger": 1,
            "opt_outs": 1,
            "red_list": 1,
        }
        assert await store.get_opt_out("business", "hash:1") == replace(opted, phone="hash:1")
    assert _layout(path) == await _fresh_layout(tmp_path)
    assert _version(path) == SCHEMA_VERSION


async def test_a_version_5_sqlite_file_gains_the_token_table_on_open(tmp_path: Path) -> None:
    """Version 6 only added `api_tokens`: a version 5 file (the current tables but that one)
    keeps what it holds and can keep tokens."""
    path = tmp_path / "v5.db"
    async with SqliteStore(path) as store:
        agent = AgentRecord("causette-demo-agent", AgentState.LAUNCHED, None, None, T0)
        await store.save_agent(agent)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("DROP TABLE api_tokens")
        _drop_campaigns(db)
        db.execute("PRAGMA user_version = 5")
    finally:
        db.close()
    async with SqliteStore(path) as store:
        assert await store.get_agent(agent.agent_id) == agent
        record = ApiToken("tok-1", "crm", "hash-1", ("rdv",), T0)
        await store.save_token(record)
        assert await store.token_by_hash("hash-1") == record
    assert _layout(path) == await _fresh_layout(tmp_path)
    assert _version(path) == SCHEMA_VERSION


async def test_a_version_6_sqlite_file_gains_the_numbers_table_on_open(tmp_path: Path) -> None:
    """Version 7 only added `t2c_numbers`: a version 6 file (the current tables but that one)
    keeps what it holds and can keep numbers."""
    path = tmp_path / "v6.db"
    record = ApiToken("tok-1", "crm", "hash-1", ("rdv",), T0)
    async with SqliteStore(path) as store:
        await store.save_token(record)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("DROP TABLE t2c_numbers")
        _drop_campaigns(db)
        db.execute("PRAGMA user_version = 6")
    finally:
        db.close()
    async with SqliteStore(path) as store:
        assert await store.token_by_hash("hash-1") == record
        number = NumberRecord("+33937000001", {"client_name": "Garage Martin"}, T0)
        assert await store.declare_number(number)
        assert await store.get_number(number.number) == number
    assert _layout(path) == await _fresh_layout(tmp_path)
    assert _version(path) == SCHEMA_VERSION


async def test_a_version_7_sqlite_file_gains_the_address_book_on_open(tmp_path: Path) -> None:
    """Version 8 only added `contacts` and `contact_lists`: a version 7 file keeps what it
    holds and can keep contacts."""
    path = tmp_path / "v7.db"
    number = NumberRecord("+33937000001", {"client_name": "Garage Martin"}, T0)
    async with SqliteStore(path) as store:
        assert await store.declare_number(number)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("DROP TABLE contact_lists")
        db.execute("DROP TABLE contacts")
        _drop_campaigns(db)
        db.execute("PRAGMA user_version = 7")
    finally:
        db.close()
    async with SqliteStore(path) as store:
        assert await store.get_number(number.number) == number
        zoe = Contact("+33612345678", {"first_name": "Zoé"}, T0, T0)
        assert await store.upsert_contacts([zoe], "clients") == (1, 0)
        assert await store.contacts("clients") == [zoe]
    assert _layout(path) == await _fresh_layout(tmp_path)
    assert _version(path) == SCHEMA_VERSION


async def test_a_version_8_sqlite_file_gains_the_campaigns_table_on_open(tmp_path: Path) -> None:
    """Version 9 only added `campaigns`: a version 8 file keeps what it holds and can keep
    campaigns."""
    path = tmp_path / "v8.db"
    zoe = Contact("+33612345678", {"first_name": "Zoé"}, T0, T0)
    async with SqliteStore(path) as store:
        assert await store.upsert_contacts([zoe], "clients") == (1, 0)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        _drop_campaigns(db)
        db.execute("PRAGMA user_version = 8")
    finally:
        db.close()
    async with SqliteStore(path) as store:
        assert await store.contacts("clients") == [zoe]
        campaign = Campaign(
            "soldes", "rdv", "clients", (), {}, T0, None, CampaignStatus.SCHEDULED, T0, T0
        )
        assert await store.save_campaign(campaign)
        assert await store.get_campaign("soldes") == campaign
    assert _layout(path) == await _fresh_layout(tmp_path)
    assert _version(path) == SCHEMA_VERSION


async def test_a_version_9_sqlite_file_gains_the_campaign_recipients_on_open(
    tmp_path: Path,
) -> None:
    """Version 10 added the runner's columns to `campaigns` and the `campaign_recipients`
    table: a version 9 campaign reads as it was (its own recipients, its pace per minute)."""
    path = tmp_path / "v9.db"
    async with SqliteStore(path):
        pass
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("DROP TABLE campaign_recipients")
        db.execute("DROP TABLE campaigns")
        db.execute(V9_CAMPAIGNS)
        db.execute("CREATE INDEX campaigns_created ON campaigns (created_at, id)")
        db.execute(
            """INSERT INTO campaigns VALUES ('soldes', 'rdv', NULL,
                '[{"phone": "06 12 34 56 78", "vars": {"prenom": "Zoé"}}]', '{}', ?, 30.0,
                'scheduled', 0, 0, 0, 1, ?, ?)""",
            (to_us(T0), to_us(T0), to_us(T0)),
        )
        db.execute("PRAGMA user_version = 9")
    finally:
        db.close()
    async with SqliteStore(path) as store:
        old = await store.get_campaign("soldes")
        assert old == Campaign(
            "soldes",
            "rdv",
            None,
            (CampaignRecipient("06 12 34 56 78", {"prenom": "Zoé"}),),
            {},
            T0,
            30.0,
            CampaignStatus.SCHEDULED,
            T0,
            T0,
        )
        assert old.pace == 0.5
        assert await store.add_campaign_recipients("soldes", [CampaignRecipient(PHONE, {}, 1)])
        assert await store.campaign_counts("soldes") == {
            RecipientState.PENDING: 1,
            RecipientState.STARTED: 0,
            RecipientState.OPTED_OUT: 0,
            RecipientState.RED_LISTED: 0,
        }
    assert _layout(path) == await _fresh_layout(tmp_path)
    assert _version(path) == SCHEMA_VERSION


async def test_mongodb_outbox_documents_from_before_the_router_read_as_defaults(
    mongodb_uri: str,
) -> None:
    module = pytest.importorskip("store.mongodb")
    database = f"causette_test_{uuid4().hex}"
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    try:
        await client[database]["outbox"].insert_many([_legacy_doc(SENT), _legacy_doc(QUEUED)])
        async with module.MongoStore(mongodb_uri, database=database) as store:
            upgraded = replace(SENT, provider_ids=("rbm-1",))
            assert await store.get_outbound(SENT.key) == upgraded
            assert await store.get_outbound(QUEUED.key) == QUEUED
            assert await store.find_outbound_by_provider_id("rbm-1") == upgraded
            await store.mark_outbound(SENT.key, OutboxStatus.SENT, sec(2), provider_id="sms-1")
            found = await store.find_outbound_by_provider_id("rbm-1")
            assert found is not None
            assert found.provider_ids == ("rbm-1", "sms-1")
    finally:
        await client.drop_database(database)
        await client.close()


def _legacy_doc(entry: OutboxEntry) -> dict[str, object]:
    e = entry
    return {
        "_id": e.key,
        "conversation_id": e.conversation_id,
        "bot_id": e.bot_id,
        "phone": e.phone,
        "content": e.content,
        "channel": e.channel,
        "status": e.status.value,
        "due_at": e.due_at,
        "created_at": e.created_at,
        "attempts": e.attempts,
        "provider_id": e.provider_id,
        "history": e.history,
    }


async def test_mongodb_campaign_documents_of_version_9_read_as_defaults(mongodb_uri: str) -> None:
    module = pytest.importorskip("store.mongodb")
    database = f"causette_test_{uuid4().hex}"
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    try:
        await client[database]["campaigns"].insert_one(
            {
                "_id": "soldes",
                "bot_id": "rdv",
                "list_name": "clients",
                "recipients": [],
                "vars": {},
                "send_at": T0,
                "per_minute": 30.0,
                "status": "scheduled",
                "started": 0,
                "merged": 0,
                "invalid": 0,
                "version": 1,
                "created_at": T0,
                "updated_at": T0,
            }
        )
        async with module.MongoStore(mongodb_uri, database=database) as store:
            old = await store.get_campaign("soldes")
            expected = Campaign(
                "soldes", "rdv", "clients", (), {}, T0, 30.0, CampaignStatus.SCHEDULED, T0, T0
            )
            assert old == expected
            assert old.pace == 0.5
    finally:
        await client.drop_database(database)
        await client.close()
