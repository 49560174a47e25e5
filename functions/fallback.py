"""Unknown routes and wrong methods as problem+json (404, 405) instead of the host's empty answers.

Registered with a catch-all route, which the Functions host (ASP.NET Core routing) tries
after every more specific route.
"""
import functools

import azure.functions as func

from sendsecure.errors import MethodNotAllowed, NotFound
from sendsecure.http.httpapi import endpoint
from sendsecure.http.routing import compile_route

bp = func.Blueprint()
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
CATCH_ALL = "{*path}"


@functools.cache
def _known_routes():
    # app.get_functions() may be called only once per app (the worker's indexing call), so
    # the registered functions are read from the app's builders instead.
    import function_app  # the composed app; imported already by the time a request arrives

    routes = []
    for builder in getattr(function_app.app, "_function_builders", []):
        trigger = builder._function.get_trigger()
        route = getattr(trigger, "route", None)
        if getattr(trigger, "type", "") == "httpTrigger" and route and route != CATCH_ALL:
            routes.append((compile_route(route), sorted(str(m.value if hasattr(m, "value") else m) for m in trigger.methods)))
    return routes


@bp.function_name("unknown_route")
@bp.route(route=CATCH_ALL, methods=ALL_METHODS, auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
def unknown_route(req: func.HttpRequest) -> func.HttpResponse:
    path = "/" + (req.route_params.get("path") or "").strip("/")
    allowed = sorted({m for route, methods in _known_routes() if route.match(path.rstrip("/")) is not None for m in methods})
    if allowed:
        raise MethodNotAllowed(f"Use one of: {', '.join(allowed)}.", extra={"allowed": allowed},
                               headers={"Allow": ", ".join(allowed)})
    raise NotFound("There is no such resource.")
