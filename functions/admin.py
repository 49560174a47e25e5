"""A tenant's administrators read and verify its audit log (SPEC S6, X7; API.md "Administration")."""
from typing import Any

import azure.functions as func

from sendsecure import runtime
from sendsecure.core.models import AuditBreak, AuditEvent, AuditPage, AuditVerification
from sendsecure.http.api import ApiBlueprint
from sendsecure.http.httpapi import NO_STORE, authenticated, json_response
from sendsecure.sessions import Session

bp = ApiBlueprint()


def _query(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": {"type": "string"}, "description": description}


RANGE = [_query("from", "start (inclusive): RFC 3339 date-time with its zone, or a date (UTC); default today 00:00Z"),
         _query("to", "end (exclusive), the same forms; default now")]
ADMIN_PROBLEMS = {403: ("The session's mailbox is not one of the tenant's administrators", ("not_administrator",)),
                  400: ("A query parameter is not valid (errors name it)", ("invalid_query",))}


@bp.operation("list_audit_events", "GET", "v1/admin/audit", "The tenant's audit events in a time range, paged (S6)",
              answer=AuditPage, errors=(400, 401, 403, 503), problems=ADMIN_PROBLEMS,
              extra={"parameters": [*RANGE, _query("cursor", "the next_cursor of the previous page"),
                                    _query("limit", "events per page, 1 to 1000; default 100")]})
@authenticated
def list_audit_events(req: func.HttpRequest, session: Session) -> func.HttpResponse:
    events, cursor = runtime.audit_administration().events(
        session, req.params.get("from"), req.params.get("to"), req.params.get("cursor"), req.params.get("limit"))
    page = AuditPage(events=[AuditEvent(**event) for event in events], next_cursor=cursor)
    return json_response(page, headers=NO_STORE)


@bp.operation("verify_audit_log", "GET", "v1/admin/audit/verify",
              "Verify the tenant's audit log in a time range: the first break, if any (X7)",
              answer=AuditVerification, errors=(400, 401, 403, 503), problems=ADMIN_PROBLEMS,
              extra={"parameters": RANGE})
@authenticated
def verify_audit_log(req: func.HttpRequest, session: Session) -> func.HttpResponse:
    result = runtime.audit_administration().verify(session, req.params.get("from"), req.params.get("to"))
    found = result.first_break
    return json_response(AuditVerification(
        rows=result.rows, days=result.days, intact=result.intact, breaks=result.breaks,
        first_break=AuditBreak(found.partition, found.row_key, found.reason) if found else None), headers=NO_STORE)
