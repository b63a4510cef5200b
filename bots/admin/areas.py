"""Every operation of the admin API, by area. An area is a module with a tuple `OPERATIONS`
of descriptors (bots/admin/operations.py): adding one to `AREAS` serves its routes and
describes them in `/v1/openapi.json`; nothing else is to be edited."""

from __future__ import annotations

from bots.admin import campaigns, compliance, contacts, conversations, handoffs, usage
from bots.admin.operations import Operation

AREAS: tuple[tuple[Operation, ...], ...] = (
    conversations.OPERATIONS,
    handoffs.OPERATIONS,
    usage.OPERATIONS,
    compliance.OPERATIONS,
    contacts.OPERATIONS,
    campaigns.OPERATIONS,
)

OPERATIONS: tuple[Operation, ...] = tuple(op for area in AREAS for op in area)
"""The API's operations, in the document's order."""
