"""The one error hierarchy of the application.

Each error knows its HTTP status and stable ``code`` (API.md); ``sendsecure.http.httpapi`` maps
them to RFC 9457 problem details in one place. Messages here are for people and never carry
an exception's text, a code, a token or an address.
"""
from __future__ import annotations

import time
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any


class ProblemError(Exception):
    status = 500
    code = "internal_error"
    title = "Internal server error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[dict[str, str]] | None = None,
        retry_after: int | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors
        self.retry_after = retry_after
        self.extra = extra or {}
        self.headers = headers or {}


class InvalidBody(ProblemError):
    status, code, title = 400, "invalid_body", "The request body is not valid"

    @classmethod
    def field(cls, field: str, message: str) -> InvalidBody:
        return cls(f"{field}: {message}", errors=[{"field": field, "message": message}])


class InvalidQuery(InvalidBody):
    """A query parameter that is malformed or out of range: 400 naming it in ``errors``."""

    code, title = "invalid_query", "A query parameter is not valid"


class Unauthenticated(ProblemError):
    status, code, title = 401, "unauthenticated", "A valid session is required"


class InvalidCode(ProblemError):
    status, code, title = 401, "invalid_code", "The code is wrong or no longer valid"


class NotFound(ProblemError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(ProblemError):
    """A write lost an optimistic-concurrency race: the entity changed or already exists (storage
    adapters raise it; services that retry catch it)."""

    status, code, title = 409, "conflict", "The resource was changed at the same time; try again"


class MethodNotAllowed(ProblemError):
    status, code, title = 405, "method_not_allowed", "Method not allowed"


class Unprocessable(ProblemError):
    """A well-formed request the rules refuse (422); ``code`` names the rule's reason."""

    status, code, title = 422, "unprocessable", "The request cannot be carried out"

    def __init__(self, code: str, detail: str, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.code = code


class PayloadTooLarge(ProblemError):
    status, code, title = 413, "payload_too_large", "The request body is too large"


class RateLimited(ProblemError):
    status, code, title = 429, "rate_limited", "Too many requests"


class DependencyUnavailable(ProblemError):
    status, code, title = 503, "dependency_unavailable", "A service this request needs is unavailable"

    def __init__(self, detail: str | None = None, *, retry_after: int = 5, **kwargs: Any) -> None:
        super().__init__(detail, retry_after=retry_after, **kwargs)


class ConfigurationError(Exception):
    """A setting or a tenant definition is wrong: raised at start-up or on load, never per request."""


class ServiceMisconfigured(DependencyUnavailable):
    """A ``ConfigurationError`` that surfaced in a request (a definition file broken after start):
    503 with a code of its own, so a caller retries later and the operator sees it in the log."""

    status, code, title = 503, "service_misconfigured", "The service is misconfigured; its operator must fix it"

    def __init__(self) -> None:
        super().__init__(None, retry_after=60)


DEFAULT_RETRY_AFTER = 5
MAX_RETRY_AFTER = 3600


def ascii_number(text: str, max_digits: int = 18) -> int | None:
    """``text`` as a whole number when it is 1 to ``max_digits`` ASCII digits, else None.

    ``str.isdigit`` accepts "²" (which ``int`` refuses) and "١٠" (which ``int`` reads as 10), and
    ``int`` refuses more than 4,300 digits: a header or query that only passes ``isdigit`` can end
    in a ValueError, so numbers from outside are read with this."""
    if not text or len(text) > max_digits or not text.isascii() or not text.isdigit():
        return None
    return int(text)


def retry_after_seconds(value: str | None) -> int:
    """Seconds from a Retry-After header (delta-seconds or HTTP date), clamped to [1, 3600]."""
    if not value:
        return DEFAULT_RETRY_AFTER
    value = value.strip()
    if value.isdigit():
        number = ascii_number(value)
        seconds = number if number is not None else MAX_RETRY_AFTER   # "²", or more digits than a day has
    else:
        try:
            moment = parsedate_to_datetime(value)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            seconds = int(moment.timestamp() - time.time() + 0.999)
        except (TypeError, ValueError, OverflowError):
            return DEFAULT_RETRY_AFTER
    return max(1, min(MAX_RETRY_AFTER, seconds))
