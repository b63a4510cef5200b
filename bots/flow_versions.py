"""The flow versions a runtime runs: each bot's current one, and older ones still in use.

A conversation stays on the flow version it started with (DESIGN.md "Flows at run time"): a
changed file becomes the current version for new conversations, while live ones keep running
their version, loaded back from the store by content hash after a restart.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from flows.compiler import CompiledFlow, content_hash
from flows.problems import FlowError, Problem
from flows.validation import compile_text
from messaging.clock import Clock
from store.base import Store
from store.records import FlowVersion

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Reloaded:
    bot_id: str
    old_hash: str
    new_hash: str


class UnknownFlowVersion(LookupError):
    """A conversation names a flow version that neither memory nor the store holds."""


class FlowVersions:
    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._paths: dict[str, Path] = {}
        self._current: dict[str, CompiledFlow] = {}
        self._by_hash: dict[str, CompiledFlow] = {}

    async def load(self, flows: Mapping[str, Path]) -> None:
        """Compile every bot's flow file; `FlowError` (every problem of every file) if any fails."""
        problems = []
        compiled: dict[str, CompiledFlow] = {}
        for bot_id, path in flows.items():
            try:
                compiled[bot_id] = await self._compile(path)
            except FlowError as error:
                problems.extend(error.problems)
        if problems:
            raise FlowError(problems)
        self._paths = dict(flows)
        self._current = compiled

    async def reload(self) -> list[Reloaded]:
        """Read the flow files again; a file that changed and compiles becomes current.

        A file that no longer compiles keeps its previous version running, and its problems
        are logged: a typo saved in an editor must not stop live conversations.
        """
        changed: list[Reloaded] = []
        for bot_id, path in self._paths.items():
            old = self._current[bot_id]
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as error:
                log.error("cannot read the flow of bot %s: %s", bot_id, error)
                continue
            if content_hash(text) == old.content_hash:
                continue
            try:
                new = await self._compile_text(text, path)
            except FlowError as error:
                log.error("flow of bot %s not reloaded:\n%s", bot_id, error)
                continue
            self._current[bot_id] = new
            changed.append(Reloaded(bot_id, old.content_hash, new.content_hash))
            log.info(
                "bot %s now starts conversations on flow version %s", bot_id, new.content_hash[:12]
            )
        return changed

    def current(self, bot_id: str) -> CompiledFlow:
        return self._current[bot_id]

    async def get(self, flow_hash: str) -> CompiledFlow:
        """The compiled flow of a version, from memory or from the store."""
        found = self._by_hash.get(flow_hash)
        if found is not None:
            return found
        version = await self._store.get_flow_version(flow_hash)
        if version is None:
            raise UnknownFlowVersion(f"flow version {flow_hash[:12]} is not in the store")
        compiled = compile_text(version.source, version.path)
        self._by_hash[flow_hash] = compiled
        return compiled

    async def _compile(self, path: Path) -> CompiledFlow:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise FlowError(
                [Problem(str(path), 1, 1, f"cannot read the flow file: {error}")]
            ) from None
        return await self._compile_text(text, path)

    async def _compile_text(self, text: str, path: Path) -> CompiledFlow:
        compiled = compile_text(text, str(path))
        self._by_hash[compiled.content_hash] = compiled
        await self._store.save_flow_version(
            FlowVersion(compiled.content_hash, compiled.id, text, str(path), self._clock.now())
        )
        return compiled
