"""The caller's session (SPEC A3; API.md "Login and session")."""
import azure.functions as func

from sendsecure import audit, runtime
from sendsecure.http.httpapi import bearer_token, current_session, empty_response, endpoint, json_response

bp = func.Blueprint()


@bp.function_name("get_session")
@bp.route(route="v1/session", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
def get_session(req: func.HttpRequest) -> func.HttpResponse:
    session = current_session(req)
    idle = runtime.sessions().policy.idle_seconds
    return json_response({
        "mailbox": session.mailbox,
        "tenant_id": session.tenant_id,
        "login_method": session.login_method,
        "device_id": session.device_id,
        "expires_at": session.expires_at.isoformat(),
        "idle_expires_at": session.idle_expires_at(idle).isoformat(),
    }, headers={"Cache-Control": "no-store"})


@bp.function_name("end_session")
@bp.route(route="v1/session", methods=["DELETE"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
def end_session(req: func.HttpRequest) -> func.HttpResponse:
    session = runtime.sessions().end(bearer_token(req))
    actor = runtime.pseudonyms().of("mailbox", session.mailbox)
    runtime.audit_log().record(audit.LOGOUT, tenant_id=session.tenant_id, actor=actor, outcome="session_ended")
    return empty_response(204)
