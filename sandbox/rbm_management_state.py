"""One emulated agent's state machines (reference/rbm.md §7): verification UNVERIFIED → PENDING
→ VERIFIED, launch per carrier region PENDING → LAUNCHED | REJECTED | SUSPENDED, and the fields
an agent's state freezes.

Where Google is silent (**[?]**): a second `:requestLaunch` is refused (FAILED_PRECONDITION: use
PATCH); a launch needs verification requested first; a launch PATCH must keep every region
already there; displayName, logo and hero freeze once VERIFIED.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sandbox.rbm_management_http import get_path
from sandbox.rbm_management_validation import FailedPrecondition
from sandbox.rbm_schema import InvalidArgument, format_timestamp

DECISIONS = ("LAUNCHED", "REJECTED", "SUSPENDED")
"""What a carrier may decide for a PENDING region (`RbmManagementEmulator.launch`)."""

_FROZEN_AFTER_VERIFICATION = (
    "displayName",
    "rcsBusinessMessagingAgent.logoUri",
    "rcsBusinessMessagingAgent.heroUri",
)
_FROZEN_AFTER_LAUNCH = (
    "rcsBusinessMessagingAgent.agentUseCase",
    "rcsBusinessMessagingAgent.billingConfig",
)


def pending(now: datetime) -> dict[str, str]:
    return {"launchState": "PENDING", "updateTime": format_timestamp(now)}


@dataclass
class EmulatedAgent:
    """An agent resource with its verification and (once requested) its launch."""

    resource: dict[str, Any]
    verification: dict[str, Any]
    launch: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return str(self.resource["name"])

    @property
    def verification_state(self) -> str:
        return str(self.verification["verificationState"])

    def details(self) -> dict[str, dict[str, Any]]:
        """`launchDetails` by region name (empty before any launch request)."""
        if self.launch is None:
            return {}
        details: dict[str, dict[str, Any]] = self.launch["rcsBusinessMessaging"]["launchDetails"]
        return details

    def launched(self) -> bool:
        return any(region.get("launchState") == "LAUNCHED" for region in self.details().values())

    # --- Verification -----------------------------------------------------------------------

    def request_verification(self, contact: dict[str, Any]) -> None:
        if self.verification_state == "VERIFIED":
            raise FailedPrecondition("the agent is already verified")
        self.verification |= {"verificationState": "PENDING", "agentVerificationContact": contact}

    def approve_verification(self) -> None:
        if self.verification_state != "PENDING":
            raise FailedPrecondition(f"the verification of {self.name} is not PENDING")
        self.verification["verificationState"] = "VERIFIED"

    # --- Launch -----------------------------------------------------------------------------

    def request_launch(self, rbm: dict[str, Any], now: datetime) -> None:
        if self.launch is not None:
            raise FailedPrecondition("a launch was already requested: update it (PATCH) instead")
        if self.verification_state == "UNVERIFIED":
            raise FailedPrecondition("request the agent's verification before its launch")
        launched: dict[str, Any] = {
            "launchDetails": {region: pending(now) for region in rbm["launchDetails"]}
        }
        if "questionnaire" in rbm:
            launched["questionnaire"] = rbm["questionnaire"]
        self.launch = {"name": f"{self.name}/launch", "rcsBusinessMessaging": launched}

    def update_launch(self, rbm: dict[str, Any], now: datetime) -> None:
        """Adds the new regions of a launch PATCH; the body must list every region already
        there (rbm.md §7), whose states it leaves alone."""
        details = self.details()
        for region in details:
            if region not in rbm["launchDetails"]:
                raise InvalidArgument(
                    f"agentLaunch.rcsBusinessMessaging.launchDetails must keep region {region!r}"
                )
        for region in rbm["launchDetails"]:
            if region not in details:
                details[region] = pending(now)
        if "questionnaire" in rbm and self.launch is not None:
            self.launch["rcsBusinessMessaging"]["questionnaire"] = rbm["questionnaire"]

    def decide_launch(self, regions: list[str] | None, state: str, now: datetime) -> None:
        """The carriers decide: PENDING `regions` (all pending ones when None) → `state`."""
        if state not in DECISIONS:
            raise InvalidArgument(f"state must be LAUNCHED, REJECTED or SUSPENDED (got {state!r})")
        if self.launch is None:
            raise FailedPrecondition(f"no launch was requested for {self.name}")
        if state == "LAUNCHED" and self.verification_state != "VERIFIED":
            raise FailedPrecondition(f"{self.name} is not verified")
        details = self.details()
        for region in regions if regions is not None else list(details):
            current = details.get(region)
            if current is None:
                raise InvalidArgument(f"no launch was requested in {region!r}")
            if regions is not None and current["launchState"] != "PENDING":
                raise FailedPrecondition(f"{region} is {current['launchState']}, not PENDING")
            if current["launchState"] == "PENDING":
                current["launchState"] = state
                current["updateTime"] = format_timestamp(now)

    # --- PATCH ------------------------------------------------------------------------------

    def check_patch(self, merged: dict[str, Any], mask: list[str]) -> None:
        """Refuses a change to a field the agent's state freezes (R18, rbm.md §7)."""
        verified = self.verification_state == "VERIFIED"
        for path in mask:
            if get_path(merged, path) == get_path(self.resource, path):
                continue
            if path == "name":
                raise InvalidArgument("agent.name cannot be changed")
            if path.startswith("rcsBusinessMessagingAgent.hostingRegion"):
                raise FailedPrecondition(
                    "hostingRegion cannot be changed after the agent is created"
                )
            if verified and path.startswith(_FROZEN_AFTER_VERIFICATION):
                raise FailedPrecondition(f"{path} cannot be changed after the agent is verified")
            if self.launched() and path.startswith(_FROZEN_AFTER_LAUNCH):
                raise FailedPrecondition(f"{path} cannot be changed after the agent is launched")
