"""HTTP plumbing shared by every trigger: JSON in and out, problem details, correlation ids.

The one place where errors become RFC 9457 ``application/problem+json`` responses
(API.md "Conventions"). A dependency that is down becomes 503 with ``Retry-After``; anything
unexpected becomes 500 with a correlation id and nothing else.
"""
from __future__ import annotations

import asyncio
import contextvars
import functools
import ipaddress
import json
import logging
import threading
import time
import traceback
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

import azure.functions as func

from sendsecure import runtime
from sendsecure.context import (
    CORRELATION_ID,
    MIN_CALL_SECONDS,
    NOT_AFTER,
    PRESET_CORRELATION_ID,
    begin_request,
    end_request,
    new_correlation_id,
)
from sendsecure.core.drafts import Draft, decode_draft, decode_on_send, parse_draft
from sendsecure.core.i18n import negotiate_language
from sendsecure.core.models import OnSendBody, convert, encode
from sendsecure.errors import (
    ConfigurationError,
    DependencyUnavailable,
    InvalidBody,
    PayloadTooLarge,
    ProblemError,
    ServiceMisconfigured,
    Unauthenticated,
    ascii_number,
)

if TYPE_CHECKING:
    from sendsecure.sessions import Session

T = TypeVar("T")
logger = logging.getLogger(__name__)

PROBLEM_BASE = "https://sendsecure.example/problems/"

# Every answer (docs/api-conventions.md "Headers"): an API answer is never a page to
# render, sniff, frame or refer from. HSTS only where the request came over HTTPS (RFC 6797 7.2).
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}
HSTS = "max-age=31536000"
# JSON bodies: nesting deeper than this is refused (a draft needs 3 levels).
MAX_JSON_DEPTH = 32
# The one Cache-Control of answers about a person (sessions, verdicts, phones, settings).
NO_STORE = {"Cache-Control": "no-store"}


class UnsupportedMediaType(ProblemError):
    status, code, title = 415, "unsupported_media_type", "The request body must be application/json"


class LoginRequired(Unauthenticated):
    """401 of the on-send check without a session (V-O4): the add-in asks the user to log in."""

    code, title = "login_required", "Log in through the Send Secure panel"
    # V-O4: the add-in tells the user to log in through the panel (and offers standard sending
    # if that fails); a code of its own so the add-in need not guess from the status.
    message = "Log in through the Send Secure panel, then send again."


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    """``data`` (a model of sendsecure.core.models, or plain JSON data) as UTF-8 JSON."""
    return func.HttpResponse(
        encode(data),
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
    headers = {**NO_STORE, **error.headers}
    if error.retry_after is not None:
        headers["Retry-After"] = str(max(1, int(error.retry_after)))
    return func.HttpResponse(
        encode(body),   # the bytes json.dumps(separators=(",", ":"), ensure_ascii=False) gave, faster
        status_code=error.status,
        mimetype="application/problem+json",
        charset="utf-8",
        headers=headers,
    )


Trigger = Callable[[func.HttpRequest], func.HttpResponse]


def endpoint(handler: Trigger) -> Trigger:
    """Wrap a trigger: correlation id, problem details for every error, no stack traces out."""

    @functools.wraps(handler)
    def wrapper(req: func.HttpRequest) -> func.HttpResponse:
        correlation_id, token = begin_request(req.headers.get("x-correlation-id", ""))  # the server's own id
        try:
            try:
                response = handler(req)
            except ProblemError as error:  # adapters raise these too (DependencyUnavailable, Conflict)
                response = problem_response(error)
            except (TimeoutError, ConnectionError) as exc:  # the request's deadline, a socket: 503
                logger.warning("dependency unavailable: %s (correlation %s)", type(exc).__name__, correlation_id)
                response = problem_response(DependencyUnavailable())
            except ConfigurationError:  # e.g. a definition file broken after start: 503, not 500
                # The message names the setting or file, and a tenant definition's may name a mailbox.
                logger.error("configuration error in a request (correlation %s); check the settings and "
                             "definition files", correlation_id)
                response = problem_response(ServiceMisconfigured())
            except Exception as exc:  # noqa: BLE001 - the one place that turns failures into answers
                # Type and frames only: an exception's text may carry personal data.
                logger.error(
                    "unhandled %s (correlation %s)\n%s",
                    type(exc).__name__,
                    correlation_id,
                    "".join(traceback.format_tb(exc.__traceback__)),
                )
                response = problem_response(ProblemError("An unexpected error occurred."))
            response.headers["X-Correlation-Id"] = correlation_id
            # The add-in calls from another origin; its script may read these only when exposed, and
            # App Service's platform CORS grants the origin but has no setting to expose headers.
            response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
            add_security_headers(req, response)
            return response
        finally:
            end_request(token)

    return wrapper


EXPOSED_HEADERS = "Retry-After, X-Correlation-Id"

AsyncTrigger = Callable[[func.HttpRequest], Awaitable[func.HttpResponse]]


def _unavailable(req: func.HttpRequest) -> func.HttpResponse:
    raise DependencyUnavailable()


_answer_unavailable = endpoint(_unavailable)   # 503 with Retry-After, correlation id and headers
_ANSWER_MARGIN = 0.1   # the work's own deadline ends this long before the answer is due


def on_own_threads(handler: Trigger, *, threads: int, within: Callable[[], float], name: str,
                   fallback: Trigger | None = None) -> AsyncTrigger:
    """``handler`` (an ``endpoint``) as an async trigger that runs it on a small thread pool of its
    own and answers ``fallback`` (default: 503 ``dependency_unavailable`` with Retry-After) when
    it has not answered ``within()`` seconds of the request's arrival.

    The Functions host runs synchronous functions on one shared pool of threads per worker (six
    on two cores). When storage stalls, requests of the panel each hold a thread for up to the
    storage timeout, and a request that arrives then waits for a free thread before its own
    deadline even starts: Outlook's Send (on-send) waited 4.8 s for an answer due in one. An
    async function runs on the worker's event loop instead, which those threads do not hold, so
    the endpoint gets its own threads and its own clock (docs/operations.md "Storage stalls").

    The clock starts at arrival: the work's deadline (``context.NOT_AFTER``, which the request's
    own deadlines cannot outlast) ends ``_ANSWER_MARGIN`` before the answer is due, so a call that
    waited in the queue gets only what is left, and one that would start with less than
    ``MIN_CALL_SECONDS`` left does not start. A call still queued when the time is up is dropped.
    The work and the fallback answer under one correlation id, so the log and audit rows of work
    that finishes after the fallback was sent name the request the caller saw."""
    pool: list[ThreadPoolExecutor] = []
    lock = threading.Lock()
    answer_unavailable = fallback or _answer_unavailable

    def executor() -> ThreadPoolExecutor:
        if not pool:
            with lock:
                if not pool:   # made on first use: importing the app starts no thread
                    pool.append(ThreadPoolExecutor(threads, thread_name_prefix=name))
        return pool[0]

    def run(req: func.HttpRequest, not_after: float) -> func.HttpResponse | None:
        if not_after - time.monotonic() < MIN_CALL_SECONDS:
            return None          # too late to start: the caller gets the fallback
        return handler(req)

    @functools.wraps(handler)
    async def wrapper(req: func.HttpRequest) -> func.HttpResponse:
        limit = within()
        not_after = time.monotonic() + limit - _ANSWER_MARGIN
        work = contextvars.copy_context()
        work.run(PRESET_CORRELATION_ID.set, new_correlation_id())
        work.run(NOT_AFTER.set, not_after)
        answer_context = work.copy()      # a context is entered by one thread at a time
        call = asyncio.get_running_loop().run_in_executor(executor(), work.run, run, req, not_after)
        try:
            response = await asyncio.wait_for(call, limit)
        except TimeoutError:
            response = None
        if response is None:
            logger.warning("%s did not answer within %.2f s of arrival: answered unavailable", name, limit)
            return answer_context.run(answer_unavailable, req)
        return response

    return wrapper


def add_security_headers(req: func.HttpRequest, response: func.HttpResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    if served_over_https(req):
        response.headers["Strict-Transport-Security"] = HSTS


def served_over_https(req: func.HttpRequest) -> bool:
    """HTTPS as the platform's front end saw it: it terminates TLS and says so in
    ``X-Forwarded-Proto`` (the development host sets it likewise); else the URL's scheme."""
    proto = req.headers.get("x-forwarded-proto", "").rsplit(",", 1)[-1].strip().lower()
    return proto == "https" or req.url.lower().startswith("https:")


def _is_json(content_type: str) -> bool:
    if content_type in _JSON_TYPES:  # as clients send it, without the parsing below
        return True
    media_type, *params = (part.strip().lower() for part in content_type.split(";"))
    if media_type != "application/json":
        return False
    for param in params:
        name, _, value = param.partition("=")
        if name.strip() == "charset" and value.strip().strip('"') not in ("utf-8", "utf8"):
            return False
    return True


_JSON_TYPES = frozenset({"application/json", "application/json; charset=utf-8", "application/json;charset=utf-8",
                         "application/json; charset=UTF-8"})


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _number(text: str) -> int | float:
    # JSON Schema's integer is any number without a fraction (2020-12 4.2.2): 1.0 is 1.
    value = float(text)
    return int(value) if value.is_integer() else value


def json_body(req: func.HttpRequest, limit: int, *, array: bool = False) -> Any:
    """The request's JSON object, or 400/413/415 naming what is wrong.

    The one body parser: ``Content-Type: application/json`` (415 otherwise), at most ``limit``
    bytes (by ``Content-Length`` before the body is looked at, then by its size), valid UTF-8
    JSON, an object, nested at most ``MAX_JSON_DEPTH`` levels, and no lone surrogate in any
    string or member name (it could not be encoded in an answer): 400 naming the field.
    """
    return _json_object(_body_bytes(req, limit), array=array)


def _body_bytes(req: func.HttpRequest, limit: int) -> bytes:
    """The body of a JSON request: the media type and size checks of ``json_body``."""
    content_type = req.headers.get("content-type", "")
    declared = ascii_number(req.headers.get("content-length", "").strip())
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"The request body may be at most {limit} bytes.", extra={"limit": limit})
    body = req.get_body() or b""
    if not content_type and not body:
        raise InvalidBody.field("body", "is required: a JSON object")
    if not _is_json(content_type):
        raise UnsupportedMediaType("Send the body as Content-Type: application/json.")
    if len(body) > limit:
        raise PayloadTooLarge(f"The request body may be at most {limit} bytes.", extra={"limit": limit})
    return body


def _json_object(body: bytes, *, array: bool = False) -> Any:
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=_refuse_constant, parse_float=_number)
    except RecursionError:
        raise InvalidBody.field("body", f"may be nested at most {MAX_JSON_DEPTH} levels deep") from None
    except (UnicodeDecodeError, ValueError):
        raise InvalidBody("The request body is not valid JSON.",
                          errors=[{"field": "body", "message": "not valid JSON"}]) from None
    if not isinstance(data, list if array else dict):  # ``array``: a JSON array (the gateway's events)
        raise InvalidBody.field("body", "must be a JSON array" if array else "must be a JSON object")
    # Raw UTF-8 cannot hold a surrogate (decoding fails): one can only come from a \uDxxx escape.
    check_json_value(data, surrogates=b"\\ud" in body or b"\\uD" in body)
    return data


def _has_surrogate(text: str) -> bool:
    """A lone surrogate (``"\\ud800"``): valid in JSON text, not encodable in UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _field_path(chain: tuple | None) -> str:
    parts: list[str] = []
    while chain is not None:
        chain, key = chain
        parts.append(f"[{key}]" if isinstance(key, int) else f".{key[:64]}")
    return "".join(reversed(parts)).lstrip(".") or "body"


def check_json_value(data: Any, *, surrogates: bool = True) -> None:
    """One walk over a parsed body: depth at most ``MAX_JSON_DEPTH`` and every string and member
    name valid Unicode (no lone surrogate), else 400 naming the field (``to[0].address``).
    Only containers go on the stack; ``surrogates=False`` skips the string checks (the body
    held no surrogate escape at all)."""
    stack: list[tuple[Any, tuple | None, int]] = [(data, None, 1)]
    while stack:
        value, chain, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise InvalidBody.field(_field_path(chain), f"is nested deeper than {MAX_JSON_DEPTH} levels")
        is_object = type(value) is dict
        key: str | int
        for key, item in (value.items() if is_object else enumerate(value)):
            if surrogates and isinstance(key, str) and not key.isascii() and _has_surrogate(key):
                raise InvalidBody.field(_field_path(chain),
                                        "has a member name that is not valid Unicode text (a lone surrogate)")
            kind = type(item)
            if kind is str:
                if surrogates and not item.isascii() and _has_surrogate(item):
                    raise InvalidBody.field(_field_path((chain, key)), "is not valid Unicode text (a lone surrogate)")
            elif kind is dict or kind is list:
                stack.append((item, (chain, key), depth + 1))


def typed_body(req: func.HttpRequest, model: type[T], limit: int) -> T:
    """The request's body as ``model`` (sendsecure.core.models): ``json_body``'s checks, then the
    model's fields and bounds, 400 naming the field path. The one way a trigger reads a body."""
    inner = getattr(model, "__origin__", None)  # list[...] or Annotated[list[...], ...]: a JSON array
    return convert(json_body(req, limit, array=inner is list or getattr(inner, "__origin__", None) is list), model)


def draft_body(req: func.HttpRequest, limit: int) -> Draft:
    """The draft of a request (API.md "Drafts"): ``json_body``'s checks, then ``parse_draft``'s.

    A body that decodes straight into the strict draft model (``core.drafts.decode_draft``: no
    unknown member, every value of its declared type, so no deep nesting and no lone surrogate)
    is one those checks accept: it skips the JSON walk and the second pass (issue 9 item 7).
    Any other body takes the checking way, for the same 400 naming the field as before."""
    body = _body_bytes(req, limit)
    draft = decode_draft(body)
    return draft if draft is not None else parse_draft(_json_object(body))


def on_send_body(req: func.HttpRequest, limit: int) -> tuple[Draft, str | None]:
    """The on-send check's body (``OnSendBody``): the draft and the message's id, as ``draft_body``."""
    body = _body_bytes(req, limit)
    fast = decode_on_send(body)
    if fast is not None:
        return fast
    data = _json_object(body)
    draft = parse_draft(data)
    return draft, convert(data, OnSendBody).message_id if "message_id" in data else None


def bearer_token(req: func.HttpRequest) -> str:
    header = req.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 512:
        raise Unauthenticated("Send Authorization: Bearer <session token>.")
    return token


def client_address(req: func.HttpRequest) -> str:
    """The caller's address as Azure's front end saw it: a normalised IP (``192.0.2.7``,
    ``2001:db8::1``; IPv4-mapped IPv6 as IPv4; no port), or ``unknown``.

    App Service's front end (which Functions run behind) appends the TCP peer it accepted the
    connection from to ``X-Forwarded-For``, as ``ip:port`` or ``[ipv6]:port``; earlier entries
    are whatever the client sent and are ignored, so only the last entry counts. The development
    host appends its peer likewise (uvicorn's own proxy-header handling is off). This is the one
    place that decides a client's address (docs/api-conventions.md "Client address").
    """
    last = req.headers.get("x-forwarded-for", "").rsplit(",", 1)[-1].strip()
    if last.startswith("["):  # [v6]:port or [v6]
        last = last[1:].partition("]")[0]
    elif last.count(":") == 1:  # v4:port
        last = last.partition(":")[0]
    try:
        address = ipaddress.ip_address(last.partition("%")[0])  # no IPv6 zone id
    except ValueError:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def current_session(req: func.HttpRequest) -> Session:
    """The caller's session (SPEC A5), or 401 ``unauthenticated``."""
    return runtime.sessions().authenticate(bearer_token(req))


SessionHandler = Callable[[func.HttpRequest, "Session"], func.HttpResponse]


def authenticated(handler: SessionHandler | None = None, *, refusal: type[Unauthenticated] | None = None) -> Any:
    """Hand a trigger the caller's session: ``def trigger(req, session)``; 401 without one.

    ``refusal`` replaces the 401's code (the on-send check's ``login_required``, V-O4). The
    wrapper shows the Functions worker the one binding ``req`` (it reads the signature)."""

    def wrap(inner: SessionHandler) -> Callable[[func.HttpRequest], func.HttpResponse]:
        def wrapper(req: func.HttpRequest) -> func.HttpResponse:
            try:
                session = current_session(req)
            except Unauthenticated as error:
                if refusal is None:
                    raise
                raise refusal(getattr(refusal, "message", None) or error.detail) from None
            return inner(req, session)

        wrapper.__name__, wrapper.__qualname__, wrapper.__doc__ = inner.__name__, inner.__qualname__, inner.__doc__
        wrapper.__module__ = inner.__module__
        wrapper.__annotations__ = {"req": func.HttpRequest, "return": func.HttpResponse}
        return wrapper

    return wrap(handler) if handler is not None else wrap


def request_language(req: func.HttpRequest, preferred: str | None = None) -> str:
    header = req.headers.get("accept-language")
    if header is not None and len(header) <= _MEMO_LANGUAGE_HEADER:
        return _negotiated(header, preferred)
    return negotiate_language(header, preferred)


# Accept-Language values repeat (one per browser and its settings): negotiated once per worker.
# The client chooses the header, so the memo is bounded in entries and keeps only headers of a
# browser's length (issue 9 item 7).
_MEMO_LANGUAGE_HEADER = 256


@functools.lru_cache(maxsize=256)
def _negotiated(header: str, preferred: str | None) -> str:
    return negotiate_language(header, preferred)


def session_language(req: func.HttpRequest, session) -> str:
    """U1: the user's setting, else the browser's language (Accept-Language), else Dutch."""
    return request_language(req, runtime.user_settings().get(session).language)
