"""Unknown routes and wrong methods as problem+json (404, 405) instead of the host's empty answers.

Registered with a catch-all route, which the Functions host (ASP.NET Core routing) tries
after every more specific route. ``function_app`` hands it the app's operations (``serve``).
"""
from collections.abc import Iterable

import azure.functions as func

from sendsecure.errors import MethodNotAllowed, NotFound
from sendsecure.http.api import ApiBlueprint, Operation
from sendsecure.http.httpapi import endpoint
from sendsecure.http.routing import RouteTemplate, compile_route

bp = ApiBlueprint()
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
CATCH_ALL = "{*path}"
_routes: list[tuple[RouteTemplate, str]] = []


def serve(operations: Iterable[Operation]) -> ApiBlueprint:
    """Answer for every path and method but these operations' (function_app calls it once)."""
    _routes[:] = [(compile_route(op.route), op.method) for op in operations]
    return bp


@bp.function_name("unknown_route")
@bp.route(route=CATCH_ALL, methods=ALL_METHODS, auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
def unknown_route(req: func.HttpRequest) -> func.HttpResponse:
    path = "/" + (req.route_params.get("path") or "").strip("/")
    allowed = sorted({method for route, method in _routes if route.match(path.rstrip("/")) is not None})
    if allowed:
        raise MethodNotAllowed(f"Use one of: {', '.join(allowed)}.", extra={"allowed": allowed},
                               headers={"Allow": ", ".join(allowed)})
    raise NotFound("There is no such resource.")
