"""RBM ids derived from outbox keys, so that a replay sends the same id (reference/rbm.md §0).

RBM documents `messageId` and `eventId` as "must be a UUID" and ignores an id the same agent
already used, for a message or an event alike (rbm.md §0, §4). An id drawn at random would
turn a crash-and-replay of one outbox entry into a second message on the user's phone; a UUID
version 5 (RFC 4122, name-based, SHA-1) of the outbox key is the same on every replay and
still a valid UUID.
"""

from __future__ import annotations

from uuid import UUID, uuid5

CAUSETTE_RBM_NAMESPACE = UUID("c267554e-cb1a-55ec-b132-a35d5d3d0735")
"""Our namespace: uuid5(NAMESPACE_URL, "https://causette.fr/ns/rbm-ids").

Never change it: every id would change with it, and the entries replayed across the upgrade
would be sent a second time."""

# Messages and events share one id space at Google (rbm.md §4): one outbox key may give both a
# message and an event, so each kind hashes its own prefix and the two ids never collide.
_MESSAGE = "message:"
_EVENT = "event:"


def rbm_message_id(outbox_key: str) -> str:
    """The RBM `messageId` of the outbox entry `outbox_key`: the same key gives the same id."""
    return _derive(_MESSAGE, outbox_key)


def rbm_event_id(key: str) -> str:
    """The RBM `eventId` (READ, IS_TYPING) of the event keyed `key`: stable like messages."""
    return _derive(_EVENT, key)


def _derive(kind: str, key: str) -> str:
    if not key:
        raise ValueError("an RBM id needs a non-empty key")
    return str(uuid5(CAUSETTE_RBM_NAMESPACE, kind + key))
