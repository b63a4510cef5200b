"""The SQLite store's tables and indexes, by schema version (`store/sqlite_schema.py` creates
or upgrades a file with them)."""

from __future__ import annotations

from store.records import WAITING_OUTBOX, OutboxStatus

SCHEMA_VERSION = 10
"""Kept in `PRAGMA user_version`; `create_schema` migrates from the number it finds there.
Version 3 added the billing tables, version 4 the compliance tables (opt-outs, red list,
archive) and the indexes that archiving and erasure walk, version 6 the admin API's tokens,
version 7 the Time2Chat numbers, version 8 the address book (contacts and their lists),
version 9 the campaigns, version 10 the business events (and the campaigns' recipients):
`TABLES` creates them in an older file as it is."""

WAITING = f"status IN ({', '.join(repr(s.value) for s in sorted(WAITING_OUTBOX))})"
"""The outbox entries still to be (re)sent, which hold back the later ones of their
conversation: the partial indexes on them are small next to the whole outbox, and a query uses
them only when it repeats this term."""

FINAL = f"status IN ({', '.join(repr(s.value) for s in sorted(OutboxStatus) if s.final)})"
"""The outbox entries in a final status, which archiving moves; the same rule as `WAITING`."""

RECIPIENT = "substr(key, length(rtrim(key, replace(key, ':', ''))) + 1)"
"""A billing state's recipient: its key after the last `:` (`rcs:{agent}:{phone}`). The
`rtrim` strips every trailing character that is not a colon; `erase_phone` must repeat the
expression word for word for SQLite to use the index on it."""

BUSINESS_EVENT_TABLES = (
    # `data` is the kind's JSON. Claims walk the pending events by due time (a NULL `next_at`,
    # due at once, sorts first); the listing and the retention purge go by time.
    """CREATE TABLE IF NOT EXISTS business_events (
        id TEXT PRIMARY KEY, bot_id TEXT NOT NULL, kind TEXT NOT NULL, phone TEXT NOT NULL,
        conversation_id TEXT, data TEXT NOT NULL, created_at INTEGER NOT NULL,
        status TEXT NOT NULL, attempts INTEGER NOT NULL, next_at INTEGER, last_error TEXT,
        settled_at INTEGER)""",
    """CREATE INDEX IF NOT EXISTS business_events_due
        ON business_events (next_at, created_at) WHERE status = 'pending'""",
    "CREATE INDEX IF NOT EXISTS business_events_created ON business_events (created_at, id)",
    """CREATE INDEX IF NOT EXISTS business_events_settled
        ON business_events (settled_at) WHERE status != 'pending'""",
    "CREATE INDEX IF NOT EXISTS business_events_phone ON business_events (phone)",
)
"""Version 10: what a business's webhook is told (store/sqlite_business_events.py)."""

COMPLIANCE_TABLES = (
    # Keyed phone first: a business's lookup of a number uses the whole key, and erasure finds
    # a person's rows by its prefix, with no second index.
    """CREATE TABLE IF NOT EXISTS opt_outs (
        phone TEXT NOT NULL, business TEXT NOT NULL, opted_out INTEGER NOT NULL,
        at INTEGER NOT NULL, source TEXT NOT NULL, PRIMARY KEY (phone, business))
        WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS red_list (
        phone TEXT NOT NULL, business TEXT NOT NULL, at INTEGER NOT NULL,
        reason TEXT NOT NULL, PRIMARY KEY (phone, business)) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS red_list_business ON red_list (business, at, phone)",
    # The admin API pages a business's opt-outs by number.
    "CREATE INDEX IF NOT EXISTS opt_outs_business ON opt_outs (business, phone)",
    # A rowid table: its rows carry a whole record's JSON, too large for a WITHOUT ROWID
    # table's b-tree pages.
    """CREATE TABLE IF NOT EXISTS archive (
        kind TEXT NOT NULL, key TEXT NOT NULL, conversation_id TEXT, bot_id TEXT NOT NULL,
        phone TEXT NOT NULL, at INTEGER NOT NULL, body TEXT NOT NULL,
        PRIMARY KEY (kind, key))""",
    "CREATE INDEX IF NOT EXISTS archive_at ON archive (at)",
    "CREATE INDEX IF NOT EXISTS archive_phone ON archive (phone, at)",
    # `archive_before` walks each kind's oldest records and stops after a batch. Partial
    # indexes hold only what may move: handled inbox entries (an entry enters it when its
    # turn marks it done, not on the webhook's append), outbox entries in a final status.
    "CREATE INDEX IF NOT EXISTS history_at ON history (at)",
    "CREATE INDEX IF NOT EXISTS inbox_done_received ON inbox (received_at) WHERE done = 1",
    f"CREATE INDEX IF NOT EXISTS outbox_final ON outbox (created_at) WHERE {FINAL}",
    # `erase_phone` finds a person's rows in every table that names them. Leases are not
    # indexed by phone: only the conversations being handled have one.
    "CREATE INDEX IF NOT EXISTS conversations_phone ON conversations (phone)",
    "CREATE INDEX IF NOT EXISTS inbox_phone ON inbox (phone)",
    "CREATE INDEX IF NOT EXISTS outbox_phone ON outbox (phone)",
    "CREATE INDEX IF NOT EXISTS timers_phone ON timers (phone)",
    "CREATE INDEX IF NOT EXISTS ledger_recipient ON ledger (recipient)",
    f"CREATE INDEX IF NOT EXISTS billing_states_recipient ON billing_states ({RECIPIENT})",
)
"""Version 4: what the sending rules keep (store/sqlite_compliance.py)."""

TABLES = (
    """CREATE TABLE IF NOT EXISTS flow_versions (
        content_hash TEXT PRIMARY KEY, flow_id TEXT NOT NULL, source TEXT NOT NULL,
        path TEXT NOT NULL, created_at INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS conversations (
        id TEXT PRIMARY KEY, bot_id TEXT NOT NULL, phone TEXT NOT NULL,
        flow_id TEXT NOT NULL, flow_hash TEXT NOT NULL, state TEXT NOT NULL,
        vars TEXT NOT NULL, choices TEXT NOT NULL, status TEXT NOT NULL,
        attempts INTEGER NOT NULL, epoch INTEGER NOT NULL, contact TEXT NOT NULL,
        channel TEXT NOT NULL, version INTEGER NOT NULL, last_inbox_seq INTEGER NOT NULL,
        created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)""",
    # Ended conversations stay for history; only the live one must be unique.
    """CREATE UNIQUE INDEX IF NOT EXISTS conversations_live
        ON conversations (bot_id, phone) WHERE status != 'ended'""",
    "CREATE INDEX IF NOT EXISTS conversations_bot ON conversations (bot_id, created_at)",
    # The admin API's pages of a bot's conversations (`conversations_after`).
    "CREATE INDEX IF NOT EXISTS conversations_page ON conversations (bot_id, created_at, id)",
    # AUTOINCREMENT: a seq is never reused, even after the newest entries are purged.
    """CREATE TABLE IF NOT EXISTS inbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT NOT NULL,
        provider_id TEXT NOT NULL, bot_id TEXT NOT NULL, phone TEXT NOT NULL,
        event TEXT NOT NULL, received_at INTEGER NOT NULL, done INTEGER NOT NULL DEFAULT 0,
        UNIQUE (source, provider_id))""",
    # No index on (done, bot_id, phone, seq): nothing reads by it, and every turn's `done = 1`
    # would move an entry in it (benchmarks/store.py).
    "DROP INDEX IF EXISTS inbox_pending",
    # `claim` walks pending entries in arrival order and stops at the first claimable one.
    "CREATE INDEX IF NOT EXISTS inbox_pending_seq ON inbox (seq) WHERE done = 0",
    """CREATE TABLE IF NOT EXISTS leases (
        bot_id TEXT NOT NULL, phone TEXT NOT NULL, owner TEXT NOT NULL,
        until INTEGER NOT NULL, PRIMARY KEY (bot_id, phone)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS timers (
        id TEXT PRIMARY KEY, conversation_id TEXT NOT NULL, bot_id TEXT NOT NULL,
        phone TEXT NOT NULL, key TEXT NOT NULL, due_at INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS timers_due ON timers (due_at, id)",
    # `provider_ids` is a JSON array (the ids in the order sent); `outbox_providers` finds an
    # entry by any of them.
    """CREATE TABLE IF NOT EXISTS outbox (
        key TEXT PRIMARY KEY, conversation_id TEXT NOT NULL, bot_id TEXT NOT NULL,
        phone TEXT NOT NULL, content TEXT NOT NULL, channel TEXT NOT NULL,
        status TEXT NOT NULL, due_at INTEGER NOT NULL, created_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, provider_id TEXT, history TEXT NOT NULL,
        lease_owner TEXT, lease_until INTEGER, route TEXT, deadline_at INTEGER,
        provider_ids TEXT NOT NULL DEFAULT '[]', traffic TEXT,
        reply INTEGER NOT NULL DEFAULT 0, valid_from INTEGER)""",
    """CREATE TABLE IF NOT EXISTS outbox_providers (
        provider_id TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY (provider_id, key))
        WITHOUT ROWID""",
    "DROP INDEX IF EXISTS outbox_provider",  # version 1's, replaced by outbox_providers
    # `outbox_depth` counts statuses in it without reading the entries.
    "CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, due_at)",
    # `claim_outbound` walks the waiting entries in key order (covering: the entries it skips,
    # not due yet or held back, cost no table read), checks that each is its conversation's
    # first waiting one, and looks up the RCS copies whose delivery deadline passed.
    f"""CREATE INDEX IF NOT EXISTS outbox_waiting
        ON outbox (key, status, due_at, lease_until, conversation_id) WHERE {WAITING}""",
    f"""CREATE INDEX IF NOT EXISTS outbox_conversation_waiting
        ON outbox (conversation_id, key, status) WHERE {WAITING}""",
    """CREATE INDEX IF NOT EXISTS outbox_deadline
        ON outbox (deadline_at) WHERE deadline_at IS NOT NULL""",
    # The admin API shows a conversation's messages (`conversation_outbound`), sent or not.
    "CREATE INDEX IF NOT EXISTS outbox_conversation ON outbox (conversation_id, key)",
    # `rowid` breaks ties between lines of one turn written at the same instant.
    """CREATE TABLE IF NOT EXISTS history (
        key TEXT PRIMARY KEY, conversation_id TEXT NOT NULL, direction TEXT NOT NULL,
        body TEXT NOT NULL, at INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS history_conversation ON history (conversation_id, at)",
    """CREATE TABLE IF NOT EXISTS agents (
        agent_id TEXT PRIMARY KEY, state TEXT NOT NULL, last_sent_at INTEGER,
        reactivated_at INTEGER, updated_at INTEGER NOT NULL) WITHOUT ROWID""",
    # Billing (store/sqlite_billing.py). `due_at` is the tracker's `data["due"]` as a number,
    # so that `billing_states_due` walks an index instead of parsing every state's JSON.
    """CREATE TABLE IF NOT EXISTS billing_states (
        key TEXT PRIMARY KEY, data TEXT NOT NULL, version INTEGER NOT NULL, due_at INTEGER)
        WITHOUT ROWID""",
    # Covering: the prefix test reads `key` from the index, so states of another prefix cost
    # no table read.
    """CREATE INDEX IF NOT EXISTS billing_states_due
        ON billing_states (due_at, key) WHERE due_at IS NOT NULL""",
    # Amounts are TEXT: a Decimal's string form round-trips exactly, trailing zeros included
    # (a REAL or NUMERIC column would turn 0.0450 into a float).
    """CREATE TABLE IF NOT EXISTS ledger (
        id TEXT PRIMARY KEY, kind TEXT NOT NULL, billing_class TEXT NOT NULL,
        bot_id TEXT NOT NULL, sender TEXT NOT NULL, sender_type TEXT NOT NULL,
        recipient TEXT NOT NULL, channel TEXT NOT NULL, country TEXT NOT NULL,
        quantity INTEGER NOT NULL, unit_price TEXT NOT NULL, currency TEXT NOT NULL,
        at INTEGER NOT NULL, rule TEXT NOT NULL, message_key TEXT, session_id TEXT,
        delivered_at INTEGER, operator TEXT)""",
    "CREATE INDEX IF NOT EXISTS ledger_at ON ledger (at, id)",
    "CREATE INDEX IF NOT EXISTS ledger_bot ON ledger (bot_id, at, id)",
    # Partial: most entries have no session, and agent fees no message.
    """CREATE INDEX IF NOT EXISTS ledger_message
        ON ledger (message_key) WHERE message_key IS NOT NULL""",
    """CREATE INDEX IF NOT EXISTS ledger_session
        ON ledger (session_id) WHERE session_id IS NOT NULL""",
    """CREATE TABLE IF NOT EXISTS credits (
        id TEXT PRIMARY KEY, amount TEXT NOT NULL, currency TEXT NOT NULL,
        purchased_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, note TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS credits_purchased ON credits (purchased_at, id)",
    *COMPLIANCE_TABLES,
    *BUSINESS_EVENT_TABLES,
    # Version 6: the admin API's bearer tokens (store/sqlite_tokens.py), found by the hash of
    # the secret a request presents; `scopes` is a JSON array of bot ids (or `*`).
    """CREATE TABLE IF NOT EXISTS api_tokens (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, token_hash TEXT NOT NULL UNIQUE,
        scopes TEXT NOT NULL, created_at INTEGER NOT NULL, revoked_at INTEGER)""",
    # Version 7: the Time2Chat 09 numbers and their operator declaration (R11), keyed by the
    # number in E.164 (store/sqlite_numbers.py); `declaration` is its JSON.
    """CREATE TABLE IF NOT EXISTS t2c_numbers (
        number TEXT PRIMARY KEY, declaration TEXT NOT NULL, declared_at INTEGER NOT NULL,
        bot_id TEXT, assigned_at INTEGER, released_at INTEGER)""",
    # Version 8: the address book (store/sqlite_contacts.py). `fields` is a JSON object;
    # a list's members are found by its name, a person's lists (for erasure) by the number.
    """CREATE TABLE IF NOT EXISTS contacts (
        phone TEXT PRIMARY KEY, fields TEXT NOT NULL, created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS contact_lists (
        list_name TEXT NOT NULL, phone TEXT NOT NULL, PRIMARY KEY (list_name, phone))
        WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS contact_lists_phone ON contact_lists (phone)",
    # Version 9: the campaigns (store/sqlite_campaigns.py); `recipients` (a CSV's rows) and
    # `vars` are JSON.
    """CREATE TABLE IF NOT EXISTS campaigns (
        id TEXT PRIMARY KEY, bot_id TEXT NOT NULL, list_name TEXT, recipients TEXT NOT NULL,
        vars TEXT NOT NULL, send_at INTEGER NOT NULL, per_minute REAL, status TEXT NOT NULL,
        started INTEGER NOT NULL, merged INTEGER NOT NULL, invalid INTEGER NOT NULL,
        version INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
        rate REAL, total INTEGER NOT NULL DEFAULT 0, problems TEXT NOT NULL DEFAULT '[]',
        runner TEXT, lease_until INTEGER, cursor INTEGER NOT NULL DEFAULT 0,
        waiting_until INTEGER)""",
    "CREATE INDEX IF NOT EXISTS campaigns_created ON campaigns (created_at, id)",
    # Version 10: the campaigns' recipients, one row per number (store/sqlite_campaigns.py),
    # keyed by campaign and number (R5: once each). The runner walks a campaign's pending
    # rows in input order through `campaign_recipients_state` (which also counts the
    # states); erasure finds a person's rows by number. A version 9 campaign's `recipients`
    # JSON stays readable (new ones write `[]`); its runner imports it into rows.
    """CREATE TABLE IF NOT EXISTS campaign_recipients (
        campaign_id TEXT NOT NULL, phone TEXT NOT NULL, seq INTEGER NOT NULL,
        vars TEXT NOT NULL, state TEXT NOT NULL, PRIMARY KEY (campaign_id, phone))
        WITHOUT ROWID""",
    """CREATE INDEX IF NOT EXISTS campaign_recipients_state
        ON campaign_recipients (campaign_id, state, seq)""",
    "CREATE INDEX IF NOT EXISTS campaign_recipients_phone ON campaign_recipients (phone)",
)

V9_CAMPAIGNS = """CREATE TABLE IF NOT EXISTS campaigns (
    id TEXT PRIMARY KEY, bot_id TEXT NOT NULL, list_name TEXT, recipients TEXT NOT NULL,
    vars TEXT NOT NULL, send_at INTEGER NOT NULL, per_minute REAL, status TEXT NOT NULL,
    started INTEGER NOT NULL, merged INTEGER NOT NULL, invalid INTEGER NOT NULL,
    version INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)"""
"""The campaigns table as schema version 9 made it (`UPGRADES[9]` completes it)."""

UPGRADES: dict[int, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # From version 1: the router's outbox columns; the provider ids of the entries already
    # sent become their `provider_ids`, found through `outbox_providers`.
    1: (
        (
            "ALTER TABLE outbox ADD COLUMN route TEXT",
            "ALTER TABLE outbox ADD COLUMN deadline_at INTEGER",
            "ALTER TABLE outbox ADD COLUMN provider_ids TEXT NOT NULL DEFAULT '[]'",
            "UPDATE outbox SET provider_ids = json_array(provider_id) WHERE provider_id NOTNULL",
        ),
        (
            """INSERT INTO outbox_providers SELECT provider_id, key FROM outbox
                WHERE provider_id NOTNULL ON CONFLICT DO NOTHING""",
        ),
    ),
    # From version 4: the send gate's columns; `blocked` joined the final statuses, so the
    # partial index on them is made again with the new list.
    4: (
        (
            "ALTER TABLE outbox ADD COLUMN traffic TEXT",
            "ALTER TABLE outbox ADD COLUMN reply INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE outbox ADD COLUMN valid_from INTEGER",
            "DROP INDEX IF EXISTS outbox_final",
        ),
        (),
    ),
    # From version 9: the campaign runner's columns (its pace per second, import counts, lease
    # and cursor); the recipients move to `campaign_recipients` (created by `TABLES`). A file
    # older than version 9 first gets the version 9 table, which the same columns complete.
    9: (
        (
            V9_CAMPAIGNS,
            "ALTER TABLE campaigns ADD COLUMN rate REAL",
            "ALTER TABLE campaigns ADD COLUMN total INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE campaigns ADD COLUMN problems TEXT NOT NULL DEFAULT '[]'",
            "ALTER TABLE campaigns ADD COLUMN runner TEXT",
            "ALTER TABLE campaigns ADD COLUMN lease_until INTEGER",
            "ALTER TABLE campaigns ADD COLUMN cursor INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE campaigns ADD COLUMN waiting_until INTEGER",
        ),
        (),
    ),
}
"""For each version that needs one, the statements that bring it to the next one: those run
before `TABLES` (which may index what they add), then those run after (which may fill what
`TABLES` creates)."""
