"""Serve an ``azure.functions.FunctionApp`` as an ASGI application (development host).

Everything is taken from ``app.get_functions()``: HTTP triggers with their routes (ASP.NET
syntax, ``routePrefix`` from ``host.json``), methods and route parameters; timer triggers
are run on demand through the Functions host's admin call ``POST /admin/functions/<name>``.
Synchronous functions run in a thread pool, as the Python worker runs them; async ones on
the event loop. Like Azure's front end, the host appends the peer address to
``X-Forwarded-For`` and answers CORS preflights for the configured origins.
"""
from __future__ import annotations

import asyncio
import inspect
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import parse_qsl, quote

import azure.functions as func
from azure.functions.timer import TimerRequest

from sendsecure.http.routing import RouteTemplate, compile_route, precedence_key

logger = logging.getLogger("devhost")

MAX_REQUEST_BYTES = 100 * 1024 * 1024  # Azure Functions' HTTP request limit
_ALL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class HttpFunction:
    name: str
    route: RouteTemplate
    methods: frozenset[str]
    handler: Callable[..., Any]
    is_async: bool


def _method_name(method: Any) -> str:
    return str(getattr(method, "value", method)).upper()


def _problem(status: int, code: str, title: str, detail: str, extra_headers: list | None = None) -> tuple:
    body = json.dumps({"type": f"https://sendsecure.example/problems/{code}", "title": title, "status": status,
                       "detail": detail, "code": code}).encode()
    headers = [(b"content-type", b"application/problem+json; charset=utf-8"),
               (b"content-length", str(len(body)).encode())] + (extra_headers or [])
    return status, headers, body


class FunctionHost:
    def __init__(self, app: func.FunctionApp, *, route_prefix: str = "api", cors_origins: tuple[str, ...] = (),
                 threads: int = 32) -> None:
        self.route_prefix = "/" + route_prefix.strip("/") if route_prefix.strip("/") else ""
        self.cors_origins = frozenset(o.rstrip("/") for o in cors_origins)
        self.http_functions: list[HttpFunction] = []
        self.timer_functions: dict[str, Callable[..., Any]] = {}
        for fn in app.get_functions():
            trigger = fn.get_trigger()
            user_function = fn.get_user_function()
            kind = getattr(trigger, "type", "")
            if kind == "httpTrigger":
                methods = trigger.methods or _ALL_METHODS
                self.http_functions.append(HttpFunction(
                    name=fn.get_function_name(),
                    route=compile_route(trigger.route or fn.get_function_name()),
                    methods=frozenset(_method_name(m) for m in methods),
                    handler=user_function,
                    is_async=inspect.iscoroutinefunction(user_function),
                ))
            elif kind == "timerTrigger":
                self.timer_functions[fn.get_function_name()] = user_function
        self.http_functions.sort(key=lambda f: precedence_key(f.route))
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="function")

    # ----- ASGI entry ------------------------------------------------------------------

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        status, headers, body = await self._handle(scope, receive)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})

    async def _lifespan(self, receive: Callable, send: Callable) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self._executor.shutdown(wait=False, cancel_futures=True)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _handle(self, scope: dict, receive: Callable) -> tuple:
        method = scope["method"].upper()
        path = scope["path"]
        headers = self._headers(scope)
        cors = self._cors_headers(headers.get("origin"))
        if method == "OPTIONS" and "access-control-request-method" in headers:
            preflight = [(b"access-control-allow-methods", ", ".join(_ALL_METHODS).encode()),
                         (b"access-control-allow-headers",
                          headers.get("access-control-request-headers", "authorization, content-type").encode()),
                         (b"access-control-max-age", b"600")] if cors else []
            return 204, cors + preflight, b""
        if path.startswith("/admin/functions/") and method == "POST":
            return await self._run_timer(path[len("/admin/functions/"):])
        try:
            body = await self._read_body(receive, headers)
        except OverflowError:
            return _problem(413, "payload_too_large", "The request body is too large",
                            f"Requests may be at most {MAX_REQUEST_BYTES} bytes.")
        if not (path == self.route_prefix or path.startswith(self.route_prefix + "/")):
            return _problem(404, "not_found", "Not found", "There is no such resource.")
        sub_path = path[len(self.route_prefix):].rstrip("/")
        for function in self.http_functions:
            if method not in function.methods:
                continue
            params = function.route.match(sub_path)
            if params is None:
                continue
            request = self._request(scope, method, headers, body, params)
            response = await self._invoke(function, request)
            return self._response(response, cors)
        return _problem(404, "not_found", "Not found", "There is no such resource.")

    # ----- pieces ----------------------------------------------------------------------

    @staticmethod
    def _headers(scope: dict) -> dict[str, str]:
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        client = scope.get("client")
        if client:
            peer = client[0]
            previous = headers.get("x-forwarded-for")
            headers["x-forwarded-for"] = f"{previous}, {peer}" if previous else peer
        return headers

    def _cors_headers(self, origin: str | None) -> list[tuple[bytes, bytes]]:
        if not origin or origin.rstrip("/") not in self.cors_origins:
            return []
        return [(b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"Origin"),
                (b"access-control-expose-headers", b"Retry-After, X-Correlation-Id")]

    @staticmethod
    async def _read_body(receive: Callable, headers: dict[str, str]) -> bytes:
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
            raise OverflowError
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_REQUEST_BYTES:
                raise OverflowError
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    @staticmethod
    def _request(scope: dict, method: str, headers: dict[str, str], body: bytes, params: dict[str, str]) -> func.HttpRequest:
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
            return await asyncio.get_running_loop().run_in_executor(self._executor, function.handler, request)
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
        return response.status_code, headers + cors, body

    async def _run_timer(self, name: str) -> tuple:
        handler = self.timer_functions.get(name)
        if handler is None:
            return _problem(404, "not_found", "Not found", "There is no timer function of that name.")
        timer = TimerRequest(past_due=False)
        try:
            if inspect.iscoroutinefunction(handler):
                await handler(timer)
            else:
                await asyncio.get_running_loop().run_in_executor(self._executor, handler, timer)
        except Exception:  # noqa: BLE001
            logger.exception("timer function %s failed", name)
            return _problem(500, "internal_error", "Internal server error", "The timer function failed.")
        return 202, [], b""
