"""The served OpenAPI 3.1 document, generated (issue 9 item 2): paths from the app's declared
operations (sendsecure/http/api.py), schemas from the models (sendsecure/core/models.py) by
msgspec's JSON Schema. Nothing is kept in step by hand: a bound, a field or a route changes in
one place. A test checks that every registered HTTP route is described.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import msgspec

from sendsecure.core.models import MAX_IDN_DOMAINS, MAX_RECIPIENTS
from sendsecure.http.api import Operation
from sendsecure.http.httpapi import MAX_JSON_DEPTH

REF = "#/components/schemas/{name}"
_RETRY_AFTER = {"Retry-After": {"required": True, "schema": {"type": "string", "pattern": "^[0-9]+$"},
                                "description": "seconds"}}
# status -> (component name, description, problem codes, headers)
_PROBLEMS: dict[int, tuple[str, str, tuple[str, ...], dict[str, Any] | None]] = {
    400: ("InvalidBody", "Malformed JSON, not an object, nested too deeply, a lone surrogate, a field missing, "
                         "of the wrong type or over its bound (errors name the field)", ("invalid_body",), None),
    401: ("Unauthenticated", "No, an unknown or an ended session", ("unauthenticated",), None),
    403: ("Forbidden", "Authenticated, but not allowed to do this", ("wrong_role",), None),
    404: ("NotFound", "No such resource", ("not_found",), None),
    413: ("PayloadTooLarge", "The body is over the operation's limit (limit)", ("payload_too_large",), None),
    415: ("UnsupportedMediaType", "The body is not Content-Type: application/json", ("unsupported_media_type",),
          None),
    409: ("Conflict", "The resource changed at the same time, the message id was sent with another draft, or its "
                      "message was revoked",
          ("conflict", "message_id_conflict", "message_revoked"), None),
    422: ("Unprocessable", "Not a valid phone number, or not a mobile one", ("invalid_phone", "not_mobile"), None),
    429: ("RateLimited", "Too many requests (Retry-After)", ("rate_limited",), _RETRY_AFTER),
    503: ("Unavailable", "A dependency (storage, keys, mail) is unavailable (Retry-After)",
          ("dependency_unavailable",), _RETRY_AFTER),
}
_PROBLEM = {
    "type": "object", "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "code": {"type": "string"}, "correlation_id": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object", "required": ["field", "message"],
                                              "properties": {"field": {"type": "string"},
                                                             "message": {"type": "string"}}}},
        "attempts_left": {"type": "integer"},
        "limit": {"type": "integer", "description": "413: the body limit in bytes"},
        "allowed": {"type": "array", "items": {"type": "string"}, "description": "405: the methods of this path"},
    },
}
DESCRIPTION = (
    "What this deployment implements. Errors are application/problem+json (RFC 9457) with a stable code. "
    "Request bodies must be Content-Type: application/json (else 415), valid UTF-8 JSON objects nested at most "
    f"{MAX_JSON_DEPTH} levels, without lone surrogates (400 naming the field). Bodies over the operation's limit "
    "are 413 (64 KiB; drafts 1 MiB). No e-mail address, phone number or subject appears in a path or query. "
    "Every answer carries X-Content-Type-Options, Referrer-Policy and Content-Security-Policy, and "
    "Strict-Transport-Security over HTTPS. Unknown methods on a known path are 405 with Allow.")
_NOTES = {  # what JSON Schema cannot say about a model
    "DraftBody": (f"At most {MAX_RECIPIENTS:,} recipients over to, cc and bcc together, and at most "
                  f"{MAX_IDN_DOMAINS} different internationalised domains over from, recipients and phones. "
                  "An address that is not a valid one is not an input error: the verdict reports it (V-R8)."),
}


_ROUTE_CONSTRAINT = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*):[^}]*\}")   # {id:length(32)} is {id} in OpenAPI


def _problem(codes: tuple[str, ...], description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description, "content": {"application/problem+json": {"schema": {
        "allOf": [{"$ref": REF.format(name="Problem")}, {"properties": {"code": {"enum": list(codes)}}}]}}}}
    if headers:
        answer["headers"] = headers
    return answer


def _models(operations: Iterable[Operation]) -> list[Any]:
    found: list[Any] = []
    for op in operations:
        for model in (op.body, op.answer):
            if model is not None and model not in found:
                found.append(model)
    return found


def document(operations: Iterable[Operation], version: str) -> dict[str, Any]:
    operations = tuple(operations)
    models = _models(operations)
    schemas, components = msgspec.json.schema_components(models, ref_template=REF)
    components = dict(components)
    for name, note in _NOTES.items():
        if name in components:
            components[name] = {**components[name], "description": note}
    components["Problem"] = _PROBLEM
    refs = dict(zip(models, schemas, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        item: dict[str, Any] = {"operationId": op.name, "summary": op.summary}
        if op.session:
            item["security"] = [{"session": []}]
        if op.body is not None:
            item["requestBody"] = {"required": True, "content": {"application/json": {"schema": refs[op.body]}}}
        success: dict[str, Any] = {"description": op.summary}
        if op.status != 204:
            success["content"] = {"application/json": {"schema": refs[op.answer]} if op.answer is not None else {}}
        responses: dict[str, Any] = {str(op.status): success}
        for status, description in op.also.items():
            responses[str(status)] = {**success, "description": description}
        for status in op.errors:
            special = op.problems.get(status)
            if special is not None:
                responses[str(status)] = _problem(special[1], special[0], _PROBLEMS[status][3])
            else:
                responses[str(status)] = {"$ref": f"#/components/responses/{_PROBLEMS[status][0]}"}
        item["responses"] = responses
        item.update(op.extra)
        paths.setdefault("/" + _ROUTE_CONSTRAINT.sub(r"{\1}", op.route), {})[op.method.lower()] = item
    return {
        "openapi": "3.1.0",
        "info": {"title": "Send Secure back end", "version": version, "description": DESCRIPTION},
        "servers": [{"url": "/api"}],
        "components": {
            "securitySchemes": {"session": {"type": "http", "scheme": "bearer",
                                            "description": "A session token from a login call."},
                                "service": {"type": "http", "scheme": "bearer",
                                            "description": "A service credential (the mail gateway's, S9)."}},
            "schemas": components,
            "responses": {name: _problem(codes, description, headers)
                          for name, description, codes, headers in _PROBLEMS.values()},
        },
        "paths": paths,
    }
