"""An SMS whose send may or may not have reached smsmode, read off its outbox entry's history.

smsmode has no idempotency key (sms.md §1.3, §1.8): after a send that timed out, or a process
that stopped between the `sending` mark and smsmode's answer, sending again may deliver the SMS
twice, and not sending may lose it. What settles it is smsmode's delivery report: it comes for
every message smsmode took (usually within seconds, retried for a day on a non-2xx, sms.md §1.4)
and names our outbox key in `refClient`. So such an entry waits, `queued` and holding its
conversation's later messages back, for a report (`dispatch.sms_unknown_outcome: confirm`):

1. the router marks it `queued`, due after `dispatch.sms_confirm_wait`, its detail starting
   with `UNCONFIRMED` (`awaiting_report`);
2. a report whose `refClient` names it records smsmode's message id, makes it due at once,
   detail starting with `REPORTED` (the webhook answers 409: smsmode posts the report again);
3. the router, claiming it, records it `sent` under that id and bills it (R7), or, when no
   report came within the wait, sends it again.

The state is a prefix of the last history line's detail rather than a status of its own: the
entry is `queued` in every respect the store knows (claims, ordering, retention), and the line
tells a person reading the history what it waits for. Both writers and every reader are here.
"""

from __future__ import annotations

from messaging.channel import Channel
from store.records import WAITING_OUTBOX, OutboxEntry, OutboxStatus

UNCONFIRMED = "unconfirmed"
"""The detail prefix written by the router when nobody knows whether smsmode took the SMS."""
REPORTED = "reported"
"""The detail prefix written by the smsmode webhook when a report proved that it did."""

_SMS_ROUTES = (Channel.SMS.value, Channel.T2C.value)


def interrupted_sms(entry: OutboxEntry) -> bool:
    """Whether the entry's last send was by SMS and never came back: its process stopped
    between the `sending` mark and smsmode's answer (the lease ran out and another dispatcher
    claimed it). smsmode may have taken it: an unknown outcome like a timeout. An RCS send is
    safe to repeat: RBM keeps one message per `messageId`."""
    last = _last_line(entry)
    return last.get("status") == OutboxStatus.SENDING.value and last.get("channel") in _SMS_ROUTES


def awaiting_report(entry: OutboxEntry) -> bool:
    """Whether the entry waits for smsmode's report of its last send (step 1 or 2 above)."""
    return _state(entry) is not None


def unconfirmed(entry: OutboxEntry) -> bool:
    """Whether the entry waits for a report that has not come yet (step 1)."""
    return _state(entry) == UNCONFIRMED


def reported(entry: OutboxEntry) -> bool:
    """Whether a report proved the send: `entry.provider_id` is smsmode's id of it (step 2)."""
    return _state(entry) == REPORTED


def unconfirmed_detail(why: str, until: str) -> str:
    return (
        f"{UNCONFIRMED}: {why}; smsmode may have taken it:"
        f" waiting until {until} for its report before sending again"
    )


def reported_detail(report: str, message_id: str) -> str:
    return (
        f"{REPORTED}: smsmode's report ({report}) names it as its message {message_id}: it was sent"
    )


def _state(entry: OutboxEntry) -> str | None:
    # `sending` too: a dispatcher's claim marks the entry so without a line of history.
    if entry.status not in WAITING_OUTBOX or entry.route not in _SMS_ROUTES:
        return None
    last = _last_line(entry)
    detail = str(last.get("detail") or "")
    if last.get("status") != OutboxStatus.QUEUED.value:
        return None
    for state in (UNCONFIRMED, REPORTED):
        if detail.startswith(state + ":"):
            return state
    return None


def _last_line(entry: OutboxEntry) -> dict[str, object]:
    return entry.history[-1] if entry.history else {}
