"""The HTTP operations of the API, declared once: route, methods, body model, answer model.

Each area's Blueprint is an ``ApiBlueprint``; ``@bp.operation(...)`` registers a trigger with the
Functions host (name, route, anonymous auth level, ``endpoint``) and records it as an
``Operation``. ``function_app`` hands the recorded operations to the fallback (which answers
404/405 for anything else) and to the OpenAPI generator (sendsecure/http/openapi.py), so
neither reads the app's private state nor imports ``function_app``.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func

from sendsecure.http.httpapi import endpoint, on_own_threads


@dataclass(frozen=True)
class Operation:
    name: str                 # the function's name and the OpenAPI operationId
    method: str
    route: str                # as the host reads it, below the route prefix (``v1/session``)
    summary: str
    body: type | None = None  # the request body's model (sendsecure.core.models)
    answer: Any = None        # the success answer's model (a type, ``list[...]``), or None (no body)
    status: int = 200
    session: bool = True      # needs ``Authorization: Bearer``
    errors: tuple[int, ...] = ()
    problems: dict[int, tuple[str, tuple[str, ...]]] = field(default_factory=dict)  # status: (description, codes)
    also: dict[int, str] = field(default_factory=dict)   # other statuses answering the answer model
    extra: dict[str, Any] = field(default_factory=dict)   # OpenAPI fields of this operation
    # Threads of its own and an answer (503 at worst) within ``answer_within()`` seconds of the
    # request's arrival, whatever holds the worker's shared threads (``httpapi.on_own_threads``).
    own_threads: int = 0
    answer_within: Callable[[], float] | None = None
    unavailable: Callable[[func.HttpRequest], func.HttpResponse] | None = None   # that answer, if not 503


class ApiBlueprint(func.Blueprint):
    """A Blueprint that remembers its HTTP operations (public, for the fallback and OpenAPI)."""

    def __init__(self) -> None:
        super().__init__()
        self.operations: list[Operation] = []

    def operation(self, name: str, method: str, route: str, summary: str, **details: Any) -> Callable:
        declared = Operation(name, method, route, summary, **details)

        def register(handler: Callable[[func.HttpRequest], func.HttpResponse]) -> Any:
            self.operations.append(declared)
            wrapped: Any = endpoint(handler)
            if declared.own_threads:
                assert declared.answer_within is not None, name
                fallback = endpoint(declared.unavailable) if declared.unavailable else None
                wrapped = on_own_threads(wrapped, threads=declared.own_threads, within=declared.answer_within,
                                         name=name, fallback=fallback)
            routed = self.route(route=route, methods=[method], auth_level=func.AuthLevel.ANONYMOUS)(wrapped)
            return self.function_name(name)(routed)

        return register


def operations_of(blueprints: Iterable[func.Blueprint]) -> tuple[Operation, ...]:
    return tuple(op for bp in blueprints for op in getattr(bp, "operations", ()))
