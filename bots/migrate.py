"""Moving live conversations from older flow versions to a bot's current one.

A conversation stays on the flow version it started with. When a business fixes a flow and
wants the conversations already running to follow, `causette flows migrate` moves them: each
keeps its variables and goes to the state of the same name in the new version, or to the one
`--map OLD=NEW` names for a renamed state. It lists who would move before moving anyone, and
moves no one when a state has nowhere to go.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from flows.compiler import CompiledFlow
from messaging.clock import Clock
from messaging.phone import Phone
from store.base import Store
from store.records import Conversation


@dataclass(frozen=True, slots=True)
class Move:
    conversation: Conversation
    to_state: str | None
    """None when the state has no counterpart in the new version."""

    @property
    def line(self) -> str:
        c = self.conversation
        target = self.to_state if self.to_state is not None else "?"
        return (
            f"{c.id}  {Phone(c.phone).masked}  {c.flow_hash[:12]}:{c.state}"
            f" -> {target}  ({c.status})"
        )


@dataclass(frozen=True, slots=True)
class MigrationPlan:
    flow: CompiledFlow
    moves: list[Move]

    @property
    def stuck(self) -> list[Move]:
        return [move for move in self.moves if move.to_state is None]


async def plan_migration(
    store: Store, bot_id: str, flow: CompiledFlow, state_map: Mapping[str, str]
) -> MigrationPlan:
    """Who would move to `flow`, and to which state."""
    moves = []
    for conversation in await store.list_conversations(bot_id):
        if conversation.flow_hash == flow.content_hash:
            continue
        state = state_map.get(conversation.state, conversation.state)
        moves.append(Move(conversation, state if state in flow.states else None))
    return MigrationPlan(flow, moves)


async def apply_migration(store: Store, plan: MigrationPlan, clock: Clock) -> int:
    """Move every conversation of the plan (compare-and-set: one changed meanwhile fails).

    The choice map in force is kept: the recipient still has the last message in front of
    them. Timers armed in the old version are left to lapse: their keys name the old state's
    wait, which the engine ignores once the conversation is elsewhere.
    """
    if plan.stuck:
        raise ValueError(f"{len(plan.stuck)} conversation(s) have no state to go to: use --map")
    for move in plan.moves:
        assert move.to_state is not None
        conversation = move.conversation
        await store.update_conversation(
            replace(
                conversation,
                flow_id=plan.flow.id,
                flow_hash=plan.flow.content_hash,
                state=move.to_state,
                attempts=0,
                epoch=conversation.epoch + 1,
                version=conversation.version + 1,
                updated_at=clock.now(),
            )
        )
    return len(plan.moves)
