"""The one async interface every store implements (the aiogram `fsm/storage` pattern).

`store/sqlite.py` is the embedded default, `store/mongodb.py` the store for many processes.
`tests/store/` runs one contract suite against both; a behaviour described here is a promise
both keep.

Ordering and exactly-once rest on three rules:
- the inbox is append-only and idempotent by `(source, provider_id)`; `seq` orders it;
- a worker handles a conversation only under its lease (`claim`), one event at a time, the
  oldest pending first;
- `commit_turn` writes a handled event's whole outcome as one unit, and records the event's
  `seq` in the conversation (`last_inbox_seq`), so that a replay after a crash is recognised
  and every key it writes (outbox, history, timers, business events) already exists.

The outbox keeps a conversation's order the same way: the dispatcher leases only the oldest
unfinished message of a conversation (`claim_outbound`), and its writes are fenced by its
lease (`mark_outbound(owner=...)`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Self

from store.billing_records import BillingState, CreditPurchase, LedgerEntry
from store.business_events_records import BusinessEvent, EventStatus
from store.campaigns_records import Campaign, CampaignRecipient, RecipientState
from store.compliance_records import Archived, OptOut, RedListed
from store.contacts_records import Contact
from store.numbers_records import NumberRecord
from store.records import (
    LIVE_STATUSES,
    AgentRecord,
    Claim,
    Conversation,
    ConversationStatus,
    FlowVersion,
    HistoryEntry,
    InboxEntry,
    NewInbound,
    NewOutbound,
    OutboxEntry,
    OutboxStatus,
    TimerRecord,
    TurnWrite,
)
from store.tokens_records import ApiToken


class StoreError(Exception):
    """Base of the errors a store raises on purpose."""


class LeaseLost(StoreError):
    """The claim's lease is no longer this claim's (taken over after it expired, released, or
    renewed into a newer claim): drop the turn. A lease that expired but that nobody took over
    still counts as held. Also raised by `Store.mark_outbound` with an `owner` whose lease on
    the outbox entry is gone."""


class VersionConflict(StoreError):
    """The conversation changed since it was read (compare-and-set failed)."""


class Store(ABC):
    """Persistence for the runtime.

    All times are timezone-aware UTC; MongoDB keeps them to the millisecond, SQLite to the
    microsecond. A lease ends at `lease_until` (expired once `now >= lease_until`) and is
    identified by its owner and `lease_until` together, so a claim made stale by `renew`
    is refused like a foreign one.
    """

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.close()

    @abstractmethod
    async def open(self) -> None:
        """Connect, and create tables or collections and their indexes if missing."""

    @abstractmethod
    async def close(self) -> None: ...

    # --- flow versions ---------------------------------------------------------------------

    @abstractmethod
    async def save_flow_version(self, version: FlowVersion) -> None:
        """Keep a flow version; saving the same hash again changes nothing."""

    @abstractmethod
    async def get_flow_version(self, content_hash: str) -> FlowVersion | None: ...

    # --- conversations ---------------------------------------------------------------------

    @abstractmethod
    async def get_conversation(self, bot_id: str, phone: str) -> Conversation | None:
        """The conversation of this bot with this phone that has not ended, if any."""

    @abstractmethod
    async def get_conversation_by_id(self, conversation_id: str) -> Conversation | None: ...

    @abstractmethod
    async def list_conversations(
        self,
        bot_id: str,
        *,
        flow_hash: str | None = None,
        statuses: frozenset[ConversationStatus] = LIVE_STATUSES,
        limit: int = 1000,
    ) -> list[Conversation]:
        """Conversations of a bot (live ones by default), oldest first."""

    @abstractmethod
    async def update_conversation(self, conversation: Conversation) -> None:
        """Replace a stored conversation outside a turn (a flow migration, a handoff release).

        `conversation.version` must be the stored version plus one: `VersionConflict`
        otherwise, and also when no such conversation is stored or the change would make a
        second live conversation for the bot and phone.
        """

    @abstractmethod
    async def conversations_after(
        self,
        bot_id: str,
        *,
        statuses: frozenset[ConversationStatus] = LIVE_STATUSES,
        after: tuple[datetime, str] | None = None,
        limit: int = 100,
    ) -> list[Conversation]:
        """A page of a bot's conversations in `statuses`, ordered by `(created_at, id)`: the
        first `limit` strictly after `after` (the previous page's last `(created_at, id)`),
        so that pages neither skip nor repeat one while others are created (the admin API)."""

    @abstractmethod
    async def write_conversation(
        self,
        conversation: Conversation,
        outbound: Sequence[NewOutbound],
        history: Sequence[HistoryEntry],
        now: datetime,
        events: Sequence[BusinessEvent] = (),
    ) -> None:
        """`update_conversation` and what goes with it, outside a turn (a person answering a
        handed-off conversation, its release, its end): the compare-and-set of
        `update_conversation` (`VersionConflict`, and nothing written), then `outbound` queued
        on the conversation at `now` (keeping the first of equal keys), `history` and the
        business `events` added (likewise), as one unit. A turn that read the conversation
        before fails its own compare-and-set and is handled again from what this wrote, so
        the two never interleave. Without transactions (MongoDB without a replica set) the
        conversation is written first: a crash after it loses the messages, never sends them
        twice."""

    # --- inbox -----------------------------------------------------------------------------

    @abstractmethod
    async def append_inbound(self, inbound: NewInbound) -> tuple[InboxEntry, bool]:
        """Append an event durably; returns the entry and whether it is new.

        A second append with the same `(source, provider_id)` returns the first entry and
        False: a provider's retry is stored once.
        """

    @abstractmethod
    async def claim(self, owner: str, now: datetime, lease: timedelta) -> Claim | None:
        """Lease a conversation that has pending events and no live lease, oldest event first.

        The claim carries the conversation's oldest pending entry. A conversation whose lease
        expired (its worker died) can be claimed again. Returns None when nothing is pending.
        """

    @abstractmethod
    async def renew(self, claim: Claim, now: datetime, lease: timedelta) -> Claim:
        """Extend a lease still held; `LeaseLost` when it was taken over."""

    @abstractmethod
    async def release(self, claim: Claim) -> None:
        """Give the conversation back without handling its event (shutdown, error)."""

    @abstractmethod
    async def commit_turn(self, claim: Claim, write: TurnWrite, now: datetime) -> None:
        """Write the outcome of `claim.entry` as one unit, then release the lease.

        In one transaction (or an order that a crash anywhere can replay): the conversation
        is created (version 1) or replaced (compare-and-set on version, `VersionConflict`
        otherwise, also when creating a second live conversation for the bot and phone) with
        `last_inbox_seq = claim.entry.seq`; outbound entries and history lines are added,
        keeping the first of equal keys; timers are cancelled, then armed (same id: replaced;
        an id in both lists ends armed); the inbox entry is marked done. `LeaseLost` when the
        lease is no longer this claim's. After either error nothing is written; after a
        `VersionConflict` the lease is still held, for the caller to release.
        """

    @abstractmethod
    async def skip(self, claim: Claim, now: datetime) -> None:
        """Mark the claimed entry done without other effect (an event already applied, or one
        the runtime refuses), then release the lease; `LeaseLost` as for `commit_turn`."""

    @abstractmethod
    async def inbox_depth(self) -> int:
        """Events not yet handled."""

    # --- timers ----------------------------------------------------------------------------

    @abstractmethod
    async def due_timers(self, now: datetime, limit: int = 100) -> list[TimerRecord]:
        """Armed timers due at or before `now`, soonest first."""

    @abstractmethod
    async def fire_timer(self, timer: TimerRecord, event: NewInbound) -> bool:
        """Turn a due timer into an inbox event, once: appends `event` (idempotent by its
        `(source, provider_id)`) and removes the timer if it is still due at the same time (a
        timer re-armed meanwhile survives), as one unit. True when this call appended it."""

    @abstractmethod
    async def next_timer_due(self) -> datetime | None:
        """When the soonest armed timer falls due (for the timer loop's sleep, and metrics)."""

    # --- outbox ----------------------------------------------------------------------------

    @abstractmethod
    async def claim_outbound(
        self, owner: str, now: datetime, lease: timedelta, limit: int = 100
    ) -> list[OutboxEntry]:
        """Lease up to `limit` entries the dispatcher must act on, oldest key first (keys sort
        in production order), at most one per conversation:
        (a) `queued` or `revoked` entries due at or before `now`;
        (b) `sending` entries whose lease expired (`lease_until <= now`: their dispatcher died);
        (c) `sent` entries whose `deadline_at` passed (the RCS copy is to be revoked).
        Head rule for (a) and (b): an entry is not claimable while an entry of its conversation
        with a smaller key is `queued`, `revoked` or `sending` (a message waiting for its retry
        holds back the later ones of its conversation; `sent` entries hold nothing back).

        Claimed entries become `sending` under a lease of `owner` until `now + lease`, and
        their `attempts` grows by one; no history line (`mark_outbound` writes those), and
        `route`, `deadline_at` and the provider ids stay. Two dispatchers claiming at once
        never lease the same entry.
        """

    @abstractmethod
    async def mark_outbound(
        self,
        key: str,
        status: OutboxStatus,
        now: datetime,
        *,
        provider_id: str | None = None,
        detail: str | None = None,
        route: str | None = None,
        due_at: datetime | None = None,
        deadline_at: datetime | None = None,
        owner: str | None = None,
        valid_from: datetime | None = None,
    ) -> None:
        """Record a status change as one write, and append it to the history as
        `{"at": iso, "status": ..., "detail": ... or None, "channel": route or None}` (the
        route in force after the write). `KeyError` for an unknown key.

        - `provider_id` given: it becomes `provider_id` and is appended to `provider_ids`
          (once: the same id again adds nothing);
        - `route` given: replaces the route; `due_at` given: replaces `due_at` (the retry
          time, a grace period);
        - `deadline_at` is kept only with status `sent`: given, it is set; any other status
          clears it;
        - the lease is cleared unless the new status is `sending`;
        - `owner` given (the dispatcher's fencing): the write applies only while the entry is
          `sending` under a lease of that owner (expired or not, as long as nobody else took
          it over); otherwise `LeaseLost` and nothing is written. Without it (receipts from
          webhooks) the write is unconditional;
        - `valid_from` given: becomes the entry's `valid_from` (a quiet-hours hold);
        - a status in `NEVER_DELIVERED` writes, in the same unit, the `message.failed`
          business event of the entry (once: its id is the entry's key).
        """

    @abstractmethod
    async def get_outbound(self, key: str) -> OutboxEntry | None: ...

    @abstractmethod
    async def find_outbound_by_provider_id(self, provider_id: str) -> OutboxEntry | None:
        """The entry sent under this provider id, whichever of its `provider_ids` it is (a
        late RBM receipt still finds an entry that fell back to SMS since); the oldest entry
        if several share it."""

    @abstractmethod
    async def conversation_outbound(
        self, conversation_id: str, limit: int = 1000
    ) -> list[OutboxEntry]:
        """A conversation's outbound entries, the oldest `limit` in key (production) order,
        with their routes and histories (the channel decisions the admin API shows)."""

    @abstractmethod
    async def outbox_depth(self) -> dict[OutboxStatus, int]:
        """How many entries are in each status (statuses with none are left out)."""

    # --- agents ----------------------------------------------------------------------------

    @abstractmethod
    async def get_agent(self, agent_id: str) -> AgentRecord | None: ...

    @abstractmethod
    async def save_agent(self, record: AgentRecord) -> None:
        """Store the whole record, replacing the stored one of the same `agent_id` if any."""

    @abstractmethod
    async def record_agent_send(self, agent_id: str, at: datetime) -> None:
        """Note a send through the agent: `last_sent_at` becomes `max(last_sent_at, at)` (a
        late report of an older send moves nothing back); `updated_at` stays. A missing agent
        is created `launched` (it just sent) with `updated_at = at`."""

    # --- billing (sessions/ decides, the store keeps) ---------------------------------------

    @abstractmethod
    async def get_billing_state(self, key: str) -> BillingState | None:
        """A session tracker's state for one pair, if any was written."""

    @abstractmethod
    async def commit_billing(
        self, state: BillingState | None, entries: Sequence[LedgerEntry]
    ) -> bool:
        """Write a tracker's new state and the ledger entries it produced, as one unit.

        `state.version` must be the stored version plus one (1 for a new key): False, and
        nothing written, when another writer got there first (read again and retry). `state`
        None writes entries only. Entries whose `id` exists are skipped (idempotency); the
        others are appended. True once written.
        """

    @abstractmethod
    async def ledger(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        bot_id: str | None = None,
    ) -> list[LedgerEntry]:
        """Entries with `since <= at < until` (either bound optional), of one bot or all,
        ordered by `at` then `id`."""

    @abstractmethod
    async def ledger_for(self, reference: str) -> list[LedgerEntry]:
        """Entries whose `id`, `message_key` or `session_id` is `reference`, ordered by `at`
        then `id` (what `causette billing explain` shows)."""

    @abstractmethod
    async def note_ledger_delivery(
        self, message_key: str, at: datetime, operator: str | None = None
    ) -> None:
        """The message `message_key` was delivered at `at`: its entries get `delivered_at` (the
        first report wins) and `operator` when given. Nothing else of an entry ever changes."""

    @abstractmethod
    async def billing_states_due(
        self, prefix: str, before: datetime, limit: int = 100
    ) -> list[BillingState]:
        """States whose key starts with `prefix` and whose `data["due"]` (an ISO instant the
        tracker writes when it has pending work, e.g. RCS messages awaiting a reply) is
        earlier than `before`, soonest first."""

    @abstractmethod
    async def add_credit(self, purchase: CreditPurchase) -> bool:
        """Record a purchase of prepaid credits; False when its id exists (nothing written)."""

    @abstractmethod
    async def credits(self) -> list[CreditPurchase]:
        """Every purchase, oldest first."""

    # --- compliance (compliance/ decides, the store keeps) ----------------------------------

    @abstractmethod
    async def get_opt_out(self, business: str, phone: str) -> OptOut | None:
        """The person's opt-out record with this business, if any was written."""

    @abstractmethod
    async def set_opt_out(self, record: OptOut) -> None:
        """Write (replace) the record of `(record.business, record.phone)`."""

    @abstractmethod
    async def red_list_add(self, entry: RedListed) -> bool:
        """Put a number on a business's red list; False when it already was (kept as it was)."""

    @abstractmethod
    async def red_list_remove(self, business: str, phone: str) -> bool:
        """Take a number off; False when it was not on the list."""

    @abstractmethod
    async def red_listed(self, business: str, phone: str) -> bool: ...

    @abstractmethod
    async def red_list(self, business: str) -> list[RedListed]:
        """A business's red list, oldest first."""

    @abstractmethod
    async def opt_outs(
        self, business: str, *, after: str | None = None, limit: int = 100
    ) -> list[OptOut]:
        """A page of a business's opt-out records (opted back in ones too), by phone: the first
        `limit` whose phone sorts after `after` (the admin API)."""

    @abstractmethod
    async def archive_before(self, before: datetime, limit: int = 1000) -> int:
        """Move message history older than `before` out of the active store (R32): history
        lines, inbox entries already handled, and outbox entries in a final status, each as
        one `Archived` record, in one unit per batch; returns how many records moved (at most
        `limit`; call again until 0). Records of live conversations move too: their age, not
        their conversation's, counts."""

    @abstractmethod
    async def purge_archive_before(self, before: datetime, limit: int = 1000) -> int:
        """Delete archived records older than `before` for good (R32); how many (at most
        `limit`)."""

    @abstractmethod
    async def archived(self, phone: str) -> list[Archived]:
        """A person's archived records, oldest first (for access requests, R34)."""

    @abstractmethod
    async def erase_phone(self, phone: str, hashed: str) -> dict[str, int]:
        """Remove everything the store holds about the E.164 number `phone` (R34): its
        conversations (with their history and timers), inbox and outbox entries (with their
        provider ids), leases, billing tracker states, archived records, red-list entries; in
        the opt-out records and the ledger the number is replaced by `hashed` (the ledger keeps
        its amounts, the opt-out keeps the person opted out); the address book loses their
        contact, with its list memberships (under `contacts`). Returns how many records each
        table or collection lost or changed, by name. One unit where the backend allows."""

    # --- history ---------------------------------------------------------------------------

    @abstractmethod
    async def history(self, conversation_id: str, limit: int = 1000) -> list[HistoryEntry]:
        """A conversation's transcript, oldest first (the oldest `limit` lines), in the order
        written."""

    # --- business events (bots/business_webhooks.py posts them, the store keeps) ------------

    @abstractmethod
    async def add_business_events(self, events: Sequence[BusinessEvent]) -> int:
        """Keep new events, each once by id (a fact reported twice keeps the first); how many
        were new. `commit_turn` and `mark_outbound` write theirs in their own unit."""

    @abstractmethod
    async def claim_business_events(
        self, now: datetime, lease: timedelta, limit: int = 50
    ) -> list[BusinessEvent]:
        """Pending events due at `now` (`next_at` None or passed), oldest first, each pushed
        to `now + lease` as it is taken so that another process does not post it meanwhile;
        each comes with `attempts` counting this one."""

    @abstractmethod
    async def settle_business_event(
        self,
        event_id: str,
        status: EventStatus,
        now: datetime,
        *,
        next_at: datetime | None = None,
        error: str | None = None,
    ) -> None:
        """Record an attempt's outcome: `pending` again at `next_at` (a retry), or a final
        status (`settled_at` = now). `error` becomes `last_error`. Unknown ids are ignored
        (the person was erased meanwhile)."""

    @abstractmethod
    async def business_events(
        self,
        *,
        bot_id: str | None = None,
        status: EventStatus | None = None,
        limit: int = 100,
    ) -> list[BusinessEvent]:
        """The newest events first (by creation, then id), optionally of one bot or status."""

    @abstractmethod
    async def purge_business_events(self, before: datetime) -> int:
        """Delete the settled events settled before `before` (retention); how many."""

    # --- admin API tokens (bots/admin/ decides, the store keeps) ---------------------------

    @abstractmethod
    async def save_token(self, record: ApiToken) -> None:
        """Keep a token (by its id, replacing one of the same id). Only its hash is stored."""

    @abstractmethod
    async def token_by_hash(self, token_hash: str) -> ApiToken | None:
        """The token whose secret hashes to `token_hash`, revoked or not; None if unknown."""

    @abstractmethod
    async def list_tokens(self) -> list[ApiToken]:
        """Every token, revoked ones included, oldest first (ties by id)."""

    @abstractmethod
    async def revoke_token(self, token_id: str, at: datetime) -> bool:
        """Mark a token revoked at `at`; False when it is unknown or already revoked (its
        first revocation time stays)."""

    # --- Time2Chat 09 numbers (R11; bots/cli_numbers.py decides, the store keeps) ----------

    @abstractmethod
    async def declare_number(self, record: NumberRecord) -> bool:
        """Keep a number's declaration; False (nothing written) when the number is already
        declared and not released. A released number's record is replaced."""

    @abstractmethod
    async def get_number(self, number: str) -> NumberRecord | None:
        """The record of `number` (E.164), released or not; None if never declared."""

    @abstractmethod
    async def list_numbers(self) -> list[NumberRecord]:
        """Every declared number, released ones included, by number."""

    @abstractmethod
    async def assign_number(self, number: str, bot_id: str, at: datetime) -> bool:
        """Give a declared number to `bot_id` (replacing its bot, if any); False when the
        number is unknown or released."""

    @abstractmethod
    async def release_number(self, number: str, at: datetime) -> bool:
        """Mark a number released at `at`, clearing its bot; False when it is unknown or
        already released (its first release time stays)."""

    # --- address book (R6; bots/cli_contacts.py reads and checks, the store keeps) ----------

    @abstractmethod
    async def upsert_contacts(
        self, contacts: Sequence[Contact], list_name: str | None = None
    ) -> tuple[int, int]:
        """Write contacts (numbers in E.164, already checked) as one unit, never a part of
        them: a new number is created; a known one keeps its `created_at` and its fields
        absent from the new contact, the others replaced (a number given twice is merged the
        same way, in order). With `list_name`, every one of them joins that list (a list is
        made by its first member). Returns how many numbers were (created, updated)."""

    @abstractmethod
    async def get_contact(self, phone: str) -> Contact | None: ...

    @abstractmethod
    async def contacts(self, list_name: str | None = None) -> list[Contact]:
        """Every contact, or a list's members, by number."""

    @abstractmethod
    async def contacts_after(
        self, list_name: str | None = None, *, after: str | None = None, limit: int = 100
    ) -> list[Contact]:
        """A page of `contacts(list_name)`: the first `limit` whose number sorts after `after`
        (the admin API)."""

    @abstractmethod
    async def lists(self) -> dict[str, int]:
        """Every list's name and number of members, by name."""

    @abstractmethod
    async def leave_list(self, list_name: str, phones: Sequence[str] | None = None) -> int:
        """Take numbers (E.164) off a list, or every member with None (the list is gone once
        empty); their contacts stay. How many left it."""

    # --- campaigns (bots/campaigns.py runs them, the store keeps) -----------------------------

    @abstractmethod
    async def save_campaign(self, campaign: Campaign) -> bool:
        """Keep a new campaign; False (nothing written) when its id exists."""

    @abstractmethod
    async def get_campaign(self, campaign_id: str) -> Campaign | None: ...

    @abstractmethod
    async def list_campaigns(self) -> list[Campaign]:
        """Every campaign, oldest first (ties by id)."""

    @abstractmethod
    async def update_campaign(self, campaign: Campaign) -> bool:
        """Replace a stored campaign: `campaign.version` must be the stored version plus one;
        False, and nothing written, otherwise (another writer got there first, or no such
        campaign)."""

    @abstractmethod
    async def add_campaign_recipients(
        self, campaign_id: str, recipients: Sequence[CampaignRecipient]
    ) -> int:
        """Write a batch of a campaign's recipients (numbers in E.164), `pending`, as one
        unit where the backend allows. A number the campaign already has, or given twice in
        the batch, is kept as first written (R5); returns how many were new."""

    @abstractmethod
    async def campaign_recipients(
        self,
        campaign_id: str,
        *,
        state: RecipientState | None = None,
        after: int = -1,
        limit: int = 1000,
    ) -> list[CampaignRecipient]:
        """A page of a campaign's recipients with `seq > after` (of one state, or all), by
        `seq`: the runner's next pending ones, or a listing."""

    @abstractmethod
    async def mark_campaign_recipients(
        self, campaign_id: str, states: Mapping[str, RecipientState]
    ) -> int:
        """Set the state of a campaign's recipients, by number; how many were found."""

    @abstractmethod
    async def campaign_counts(self, campaign_id: str) -> dict[RecipientState, int]:
        """How many of a campaign's recipients are in each state (every state, zeros too)."""

    @abstractmethod
    async def delete_campaign_recipients(self, campaign_id: str) -> int:
        """Remove all of a campaign's recipients (an import started again); how many."""

    @abstractmethod
    async def list_phones(self, list_name: str, after: str = "", limit: int = 1000) -> list[str]:
        """A page of an address book list's numbers greater than `after`, in order: how a
        campaign reads a list without holding it whole."""
