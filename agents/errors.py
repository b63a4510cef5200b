"""What a provider's answer means for the message, whatever the provider.

The fallback router decides from these types alone: `NotReachable` goes to SMS at once,
`RateLimited` and `Transient` are retried (`OutcomeUnknown`, a `Transient`, only where a retry
cannot duplicate), `Invalid` and `Permanent` fail the message.
"""

from __future__ import annotations

from datetime import timedelta


class ProviderError(Exception):
    """A provider refused or could not take a request."""

    def __init__(self, message: str, *, status: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.status = status
        """The HTTP status, when there was an answer."""
        self.body = body
        """The provider's error body, shortened, for logs (never holds a secret of ours)."""


class NotReachable(ProviderError):
    """This recipient cannot be reached on this channel (RBM 404 or 403: not RCS-capable, or
    the agent is not launched for this carrier or user, reference/rbm.md §6)."""


class RateLimited(ProviderError):
    """Too many requests (429); retry after `retry_after` when the provider said."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = 429,
        body: str = "",
        retry_after: timedelta | None = None,
    ) -> None:
        super().__init__(message, status=status, body=body)
        self.retry_after = retry_after


class Invalid(ProviderError):
    """The request itself is wrong (400): content over a limit, a feature the device lacks."""


class Transient(ProviderError):
    """A failure that may pass (5xx, timeout, connection error): retry with backoff."""


class OutcomeUnknown(Transient):
    """The request may have reached the provider, but no answer came (a timeout, a connection
    dropped after the request was written): the message may have been taken.

    Retrying is harmless where the provider dedupes (RBM, by `messageId`), and may send a
    duplicate where it does not (smsmode): the router decides per provider.
    """


class Permanent(ProviderError):
    """A refusal that retrying will not change (401 with fresh credentials, other 4xx)."""
