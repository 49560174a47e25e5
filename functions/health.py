"""Health and the OpenAPI document, both without a session (API.md "/health")."""
import functools
from collections.abc import Iterable
from typing import Any

import azure.functions as func

from sendsecure.http import health, openapi
from sendsecure.http.api import ApiBlueprint, Operation
from sendsecure.http.httpapi import NO_STORE, json_response
from sendsecure.settings import get_settings

bp = ApiBlueprint()
_operations: list[Operation] = []


@bp.operation("get_health", "GET", "v1/health", "Storage and keys reachable, app version, domain book age",
              answer=health.HealthReport, session=False, also={503: "A dependency is unavailable (Retry-After)"},
              own_threads=2, answer_within=lambda: health.HEALTH_DEADLINE_SECONDS + 0.5,   # probes: in time
              unavailable=lambda req: health_unavailable())
def get_health(req: func.HttpRequest) -> func.HttpResponse:
    report = health.report()
    if report.status == "unavailable":
        return json_response(report, 503, headers={**NO_STORE, "Retry-After": "10"})
    return json_response(report, headers=NO_STORE)


def health_unavailable() -> func.HttpResponse:
    """The answer when the check itself could not run in time (its threads busy): nothing was
    confirmed, so storage and keys count as unavailable (API.md: 503 with the health body)."""
    return json_response(health.unconfirmed(), 503, headers={**NO_STORE, "Retry-After": "10"})


@bp.operation("get_openapi", "GET", "v1/openapi.json", "This document (OpenAPI 3.1)", session=False)
def get_openapi(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(openapi_document(), headers={"Cache-Control": "public, max-age=300"})


def describe(operations: Iterable[Operation]) -> None:
    """The operations the document describes (function_app hands them over once)."""
    _operations[:] = operations
    openapi_document.cache_clear()


@functools.cache
def openapi_document() -> dict[str, Any]:
    """Generated once per worker from the operations and their models (sendsecure/http/openapi.py)."""
    return openapi.document(_operations, get_settings().app_version)
