"""HTTP plumbing shared by every trigger: JSON in and out, problem details, correlation ids.

The one place where errors become RFC 9457 ``application/problem+json`` responses
(API.md "Conventions"). A dependency that is down becomes 503 with ``Retry-After``; anything
unexpected becomes 500 with a correlation id and nothing else.
"""
from __future__ import annotations

import functools
import json
import logging
import traceback
from typing import Any, Callable

import azure.functions as func

from sendsecure.context import CORRELATION_ID, begin_request, end_request
from sendsecure.errors import (
    dependency_failure,
    InvalidBody,
    PayloadTooLarge,
    ProblemError,
    Unauthenticated,
)

logger = logging.getLogger(__name__)

PROBLEM_BASE = "https://sendsecure.example/problems/"


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(data, separators=(",", ":"), ensure_ascii=False),
        status_code=status,
        mimetype="application/json",
        charset="utf-8",
        headers=headers,
    )


def empty_response(status: int = 204) -> func.HttpResponse:
    return func.HttpResponse(status_code=status)


def problem_response(error: ProblemError) -> func.HttpResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + error.code,
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
        "code": error.code,
        "correlation_id": CORRELATION_ID.get(),
    }
    if error.errors:
        body["errors"] = error.errors
    body.update(error.extra)
    headers = {"Cache-Control": "no-store", **error.headers}
    if error.retry_after is not None:
        headers["Retry-After"] = str(max(1, int(error.retry_after)))
    return func.HttpResponse(
        json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        status_code=error.status,
        mimetype="application/problem+json",
        charset="utf-8",
        headers=headers,
    )


def endpoint(handler: Callable[[func.HttpRequest], func.HttpResponse]) -> Callable[[func.HttpRequest], func.HttpResponse]:
    """Wrap a trigger: correlation id, problem details for every error, no stack traces out."""

    @functools.wraps(handler)
    def wrapper(req: func.HttpRequest) -> func.HttpResponse:
        correlation_id, token = begin_request(req.headers.get("x-correlation-id", ""))  # the server's own id
        try:
            try:
                response = handler(req)
            except ProblemError as error:
                response = problem_response(error)
            except Exception as exc:  # noqa: BLE001 - the one place that turns failures into answers
                dependency = dependency_failure(exc)
                if dependency is not None:
                    logger.warning("dependency unavailable: %s (correlation %s)", type(exc).__name__, correlation_id)
                    response = problem_response(dependency)
                else:
                    # Type and frames only: an exception's text may carry personal data.
                    logger.error(
                        "unhandled %s (correlation %s)\n%s",
                        type(exc).__name__,
                        correlation_id,
                        "".join(traceback.format_tb(exc.__traceback__)),
                    )
                    response = problem_response(ProblemError("An unexpected error occurred."))
            response.headers["X-Correlation-Id"] = correlation_id
            return response
        finally:
            end_request(token)

    return wrapper


def json_body(req: func.HttpRequest, limit: int) -> dict[str, Any]:
    """The request's JSON object, or 400/413/415 naming what is wrong."""
    body = req.get_body() or b""
    if len(body) > limit:
        raise PayloadTooLarge(f"The request body may be at most {limit} bytes.", extra={"limit": limit})
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InvalidBody("The request body is not valid JSON.", errors=[{"field": "body", "message": "not valid JSON"}]) from None
    if not isinstance(data, dict):
        raise InvalidBody.field("body", "must be a JSON object")
    return data


def string_field(data: dict[str, Any], name: str, *, required: bool = True, max_length: int = 320) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            raise InvalidBody.field(name, "is required")
        return None
    if not isinstance(value, str):
        raise InvalidBody.field(name, "must be a string")
    if len(value) > max_length:
        raise InvalidBody.field(name, f"may be at most {max_length} characters")
    return value


def bearer_token(req: func.HttpRequest) -> str:
    header = req.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 512:
        raise Unauthenticated("Send Authorization: Bearer <session token>.")
    return token


def client_address(req: func.HttpRequest) -> str:
    """The caller's address as the platform's front end saw it.

    Azure's front end (and the development host) append the peer address to
    ``X-Forwarded-For``; earlier entries come from the client and cannot be trusted,
    so only the last one counts.
    """
    forwarded = req.headers.get("x-forwarded-for", "")
    last = forwarded.split(",")[-1].strip()
    if last.startswith("["):  # [v6]:port
        return last[1:].split("]")[0]
    if last.count(":") == 1:  # v4:port
        return last.split(":")[0]
    return last or "unknown"


def current_session(req: func.HttpRequest):
    """The caller's session (SPEC A5), or 401 ``unauthenticated``."""
    from sendsecure import runtime

    return runtime.sessions().authenticate(bearer_token(req))


def request_language(req: func.HttpRequest, preferred: str | None = None) -> str:
    from sendsecure.core.i18n import negotiate_language

    return negotiate_language(req.headers.get("accept-language"), preferred)


def session_language(req: func.HttpRequest, session) -> str:
    """U1: the user's setting, else the browser's language (Accept-Language), else Dutch."""
    from sendsecure import runtime

    return request_language(req, runtime.user_settings().get(session).language)
