"""Serve an ``azure.functions.FunctionApp`` as an ASGI application (development host).

Everything is taken from ``app.get_functions()``: HTTP triggers with their routes (ASP.NET
syntax, ``routePrefix`` from ``host.json``), methods and route parameters; timer triggers
are run on demand through the Functions host's admin call ``POST /admin/functions/<name>``.
Synchronous functions run in a thread pool, as the Python worker runs them; async ones on
the event loop. Like Azure's front end, the host appends the peer address to
``X-Forwarded-For`` (uvicorn's own proxy-header handling must be off), sets
``X-Forwarded-Proto`` to the scheme it was reached by, and answers CORS preflights for the
configured origins. Bodies are capped at the largest route limit (refused by ``Content-Length``
first, and reading stops at the cap) and must arrive within a deadline (408).
"""
from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote

import azure.functions as func
from azure.functions.timer import TimerRequest

from sendsecure.errors import ascii_number
from sendsecure.http.httpapi import SECURITY_HEADERS
from sendsecure.http.routing import RouteTemplate, compile_route, precedence_key

logger = logging.getLogger("devhost")

MAX_REQUEST_BYTES = 1024 * 1024  # default cap: the largest route limit (MAX_DRAFT_BYTES)
BODY_TIMEOUT_SECONDS = 10.0      # the whole body must arrive within this (else 408)
_ALL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
# What the API uses, granted to configured origins (instead of echoing the preflight's list).
CORS_ALLOW_METHODS = "GET, POST, PUT, DELETE"
CORS_ALLOW_HEADERS = "Authorization, Content-Type, Accept-Language, X-Correlation-Id"
_SECURITY = [(name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]
_CLOSE = [(b"connection", b"close")]  # an unread body: the connection cannot be reused
WORKER_HEADER = b"x-devhost-worker"  # the answering worker's process id (development host only)


@dataclass(frozen=True)
class HttpFunction:
    name: str
    route: RouteTemplate
    methods: frozenset[str]
    handler: Callable[..., Any]
    is_async: bool


def _method_name(method: Any) -> str:
    return str(getattr(method, "value", method)).upper()


def _problem(status: int, code: str, title: str, detail: str, extra_headers: list | None = None,
             **extra: Any) -> tuple:
    body = json.dumps({"type": f"https://sendsecure.example/problems/{code}", "title": title, "status": status,
                       "detail": detail, "code": code, **extra}).encode()
    headers = [(b"content-type", b"application/problem+json; charset=utf-8"),
               (b"content-length", str(len(body)).encode()), (b"cache-control", b"no-store")]
    return status, headers + _SECURITY + (extra_headers or []), body


class _BodyTooLarge(Exception):
    pass


def _settle(future: asyncio.Future, ok: bool, value: Any) -> None:
    if not future.done():  # the request may have gone (cancelled) meanwhile
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


class FunctionThreads:
    """Up to ``size`` threads for synchronous functions, as the Python worker's pool.

    The same as ``loop.run_in_executor`` with a ``ThreadPoolExecutor``, for less: a call is one
    queue entry, and its outcome goes back to the event loop with one ``call_soon_threadsafe``
    (no ``concurrent.futures.Future`` chained to an asyncio one). Threads start as calls find
    none idle; they are daemons, so a function that hangs does not hold the process at exit.
    """

    def __init__(self, size: int, name: str = "function") -> None:
        self._size, self._name = size, name
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False

    def run(self, handler: Callable[[Any], Any], argument: Any) -> asyncio.Future:
        if self._closed:
            raise RuntimeError("the function threads are shut down")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._calls.put((loop, future, handler, argument))
        if not self._idle.acquire(blocking=False):
            with self._lock:
                if len(self._threads) < self._size:
                    thread = threading.Thread(target=self._work, name=f"{self._name}_{len(self._threads)}",
                                              daemon=True)
                    self._threads.append(thread)
                    thread.start()
        return future

    def _work(self) -> None:
        while True:
            call = self._calls.get()
            if call is None:
                return
            loop, future, handler, argument = call
            try:
                outcome = (True, handler(argument))
            except BaseException as error:  # noqa: BLE001 - handed to the awaiting request
                outcome = (False, error)
            try:
                loop.call_soon_threadsafe(_settle, future, *outcome)
            except RuntimeError:  # the loop is closed: nobody waits any more
                pass
            self._idle.release()

    def shutdown(self) -> None:
        self._closed = True
        for _ in self._threads:
            self._calls.put(None)


class FunctionHost:
    def __init__(self, app: func.FunctionApp, *, route_prefix: str = "api", cors_origins: tuple[str, ...] = (),
                 threads: int = 32, max_body_bytes: int = MAX_REQUEST_BYTES,
                 body_timeout: float = BODY_TIMEOUT_SECONDS) -> None:
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout
        self.route_prefix = "/" + route_prefix.strip("/") if route_prefix.strip("/") else ""
        self.cors_origins = frozenset(o.rstrip("/") for o in cors_origins)
        self.http_functions: list[HttpFunction] = []
        self.timer_functions: dict[str, Callable[..., Any]] = {}
        for fn in app.get_functions():
            trigger: Any = fn.get_trigger()  # HttpTrigger or TimerTrigger: told apart by its type
            user_function = fn.get_user_function()
            kind = getattr(trigger, "type", "")
            name = fn.get_function_name() or user_function.__name__
            if kind == "httpTrigger":
                methods = trigger.methods or _ALL_METHODS
                self.http_functions.append(HttpFunction(
                    name=name,
                    route=compile_route(trigger.route or name),
                    methods=frozenset(_method_name(m) for m in methods),
                    handler=user_function,
                    is_async=inspect.iscoroutinefunction(user_function),
                ))
            elif kind == "timerTrigger":
                self.timer_functions[name] = user_function
        self.http_functions.sort(key=lambda f: precedence_key(f.route))
        self._threads = FunctionThreads(threads)
        # Development only: which worker process answered (several with FUNCTIONS_WORKER_PROCESS_COUNT).
        self._worker_header = (WORKER_HEADER, str(os.getpid()).encode())

    # ----- ASGI entry ------------------------------------------------------------------

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        status, headers, body = await self._handle(scope, receive)
        headers.append(self._worker_header)  # every answer's header list is its own
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})

    async def _lifespan(self, receive: Callable, send: Callable) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self._threads.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _handle(self, scope: dict, receive: Callable) -> tuple:
        method = scope["method"].upper()
        path = scope["path"]
        headers = self._headers(scope)
        cors = self._cors_headers(headers.get("origin"))
        if method == "OPTIONS" and "access-control-request-method" in headers:
            preflight = [(b"access-control-allow-methods", CORS_ALLOW_METHODS.encode()),
                         (b"access-control-allow-headers", CORS_ALLOW_HEADERS.encode()),
                         (b"access-control-max-age", b"600")] if cors else []
            return 204, cors + preflight + _SECURITY, b""
        if path.startswith("/admin/functions/") and method == "POST":
            return await self._run_timer(path[len("/admin/functions/"):])
        try:
            if "content-length" not in headers and "transfer-encoding" not in headers:
                body = b""  # HTTP/1.1: no body follows (no receive, no deadline to arm)
            else:
                async with asyncio.timeout(self.body_timeout):  # no extra task, unlike wait_for
                    body = await self._read_body(receive, headers, self.max_body_bytes)
        except _BodyTooLarge:
            return _problem(413, "payload_too_large", "The request body is too large",
                            f"The request body may be at most {self.max_body_bytes} bytes.", cors + _CLOSE,
                            limit=self.max_body_bytes)
        except TimeoutError:
            return _problem(408, "request_timeout", "The request body did not arrive in time",
                            f"Send the whole body within {self.body_timeout:g} seconds.", cors + _CLOSE)
        if not (path == self.route_prefix or path.startswith(self.route_prefix + "/")):
            return _problem(404, "not_found", "Not found", "There is no such resource.", cors)
        sub_path = path[len(self.route_prefix):].rstrip("/")
        if method not in _ALL_METHODS:  # TRACE, CONNECT, ...: no function can take them
            allowed = sorted({m for f in self.http_functions if not f.route.template.startswith("{*")
                              and f.route.match(sub_path) is not None for m in f.methods})
            if not allowed:
                return _problem(404, "not_found", "Not found", "There is no such resource.", cors)
            return _problem(405, "method_not_allowed", "Method not allowed", f"Use one of: {', '.join(allowed)}.",
                            cors + [(b"allow", ", ".join(allowed).encode())], allowed=allowed)
        for function in self.http_functions:
            if method not in function.methods:
                continue
            params = function.route.match(sub_path)
            if params is None:
                continue
            request = self._request(scope, method, headers, body, params)
            response = await self._invoke(function, request)
            return self._response(response, cors)
        return _problem(404, "not_found", "Not found", "There is no such resource.", cors)

    # ----- pieces ----------------------------------------------------------------------

    @staticmethod
    def _headers(scope: dict) -> dict[str, str]:
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        # As App Service's front end: append the TCP peer (ip:port, [ipv6]:port) to whatever the
        # client sent, and say which scheme the request came by.
        client = scope.get("client")
        if client:
            peer = f"[{client[0]}]:{client[1]}" if ":" in client[0] else f"{client[0]}:{client[1]}"
            previous = headers.get("x-forwarded-for")
            headers["x-forwarded-for"] = f"{previous}, {peer}" if previous else peer
        headers["x-forwarded-proto"] = scope.get("scheme", "http")
        return headers

    def _cors_headers(self, origin: str | None) -> list[tuple[bytes, bytes]]:
        if not origin or origin.rstrip("/") not in self.cors_origins:
            return []
        # As App Service's platform CORS: the origin only; the app exposes its headers itself.
        return [(b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"Origin")]

    @staticmethod
    async def _read_body(receive: Callable, headers: dict[str, str], limit: int) -> bytes:
        """The body, refused by ``Content-Length`` before reading and otherwise (chunked) as soon
        as it passes ``limit``: never more than ``limit`` bytes held."""
        declared = ascii_number(headers.get("content-length", "").strip())
        if declared is not None and declared > limit:
            raise _BodyTooLarge
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    @staticmethod
    def _request(scope: dict, method: str, headers: dict[str, str], body: bytes,
                 params: dict[str, str]) -> func.HttpRequest:
        query = scope.get("query_string", b"").decode("latin-1")
        host = headers.get("host", "127.0.0.1")
        url = f"{scope.get('scheme', 'http')}://{host}{quote(scope['path'])}" + (f"?{query}" if query else "")
        args: dict[str, str] = {}
        for key, value in parse_qsl(query, keep_blank_values=True):
            args.setdefault(key, value)
        return func.HttpRequest(method, url, headers=headers, params=args, route_params=params, body=body)

    async def _invoke(self, function: HttpFunction, request: func.HttpRequest) -> Any:
        try:
            if function.is_async:
                return await function.handler(request)
            return await self._threads.run(function.handler, request)
        except Exception:  # noqa: BLE001 - the host answers 500 like the Functions host would
            logger.exception("function %s failed", function.name)
            return None

    @staticmethod
    def _response(response: Any, cors: list) -> tuple:
        if not isinstance(response, func.HttpResponse):
            return _problem(500, "internal_error", "Internal server error", "The function failed.", cors)
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()]
        if not any(name == b"content-type" for name, _ in headers) and response.mimetype:
            content_type = response.mimetype + (f"; charset={response.charset}" if response.charset else "")
            headers.append((b"content-type", content_type.encode("latin-1")))
        body = response.get_body() or b""
        headers.append((b"content-length", str(len(body)).encode()))
        present = {name for name, _ in headers}
        return response.status_code, headers + cors + [h for h in _SECURITY if h[0] not in present], body

    async def _run_timer(self, name: str) -> tuple:
        handler = self.timer_functions.get(name)
        if handler is None:
            return _problem(404, "not_found", "Not found", "There is no timer function of that name.")
        timer = TimerRequest(past_due=False)
        try:
            if inspect.iscoroutinefunction(handler):
                await handler(timer)
            else:
                await self._threads.run(handler, timer)
        except Exception:  # noqa: BLE001
            logger.exception("timer function %s failed", name)
            return _problem(500, "internal_error", "Internal server error", "The timer function failed.")
        return 202, list(_SECURITY), b""
