"""The testers of unlaunched agents in the RBM management emulator (reference/rbm.md §7): an
invite is PENDING until the user accepts it on the phone; Google allows 20 invites a day and
200 in all per agent."""

from __future__ import annotations

from typing import Any

from sandbox.rbm_management_http import ApiError

TESTERS_PER_DAY = 20
TESTERS_TOTAL = 200


class TesterBook:
    """Invites by (agent id, E.164), with the per-agent quotas."""

    def __init__(self) -> None:
        self.testers: dict[tuple[str, str], dict[str, Any]] = {}
        self._invited: list[tuple[str, str]] = []  # (agent id, UTC date) of every invite

    def invite(self, agent_id: str, phone: str, today: str) -> dict[str, Any]:
        """A new PENDING invite; 409 when already invited, 429 past a quota."""
        if (agent_id, phone) in self.testers:
            raise ApiError(409)
        invited = [day for agent, day in self._invited if agent == agent_id]
        if len(invited) >= TESTERS_TOTAL or invited.count(today) >= TESTERS_PER_DAY:
            raise ApiError(429)
        self._invited.append((agent_id, today))
        tester = {
            "name": f"testers/{phone}",
            "agentId": agent_id,
            "phoneNumber": phone,
            "inviteStatus": "PENDING",
        }
        self.testers[(agent_id, phone)] = tester
        return tester

    def of(self, agent_id: str) -> list[dict[str, Any]]:
        return [t for (agent, _), t in self.testers.items() if agent == agent_id]

    def get(self, agent_id: str, phone: str) -> dict[str, Any]:
        tester = self.testers.get((agent_id, phone))
        if tester is None:
            raise ApiError(404)
        return tester

    def remove(self, agent_id: str, phone: str) -> None:
        self.get(agent_id, phone)
        del self.testers[(agent_id, phone)]

    def accept(self, agent_id: str, phone: str) -> dict[str, Any]:
        """The tester accepts the invite on the phone: PENDING → ACCEPTED."""
        tester = self.get(agent_id, phone)
        tester["inviteStatus"] = "ACCEPTED"
        return tester
