"""Login by e-mail code (SPEC A1; API.md "Login and session")."""
import azure.functions as func

from sendsecure import runtime
from sendsecure.http.httpapi import client_address, endpoint, json_body, json_response, request_language, string_field
from sendsecure.settings import get_settings

bp = func.Blueprint()


@bp.function_name("request_login_code")
@bp.route(route="v1/auth/email-code", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
def request_login_code(req: func.HttpRequest) -> func.HttpResponse:
    data = json_body(req, get_settings().max_body_bytes)
    mailbox = string_field(data, "mailbox", max_length=320)
    language = request_language(req, string_field(data, "language", required=False, max_length=8))
    challenge = runtime.email_login().request_code(mailbox, client=client_address(req), language=language)
    return json_response(challenge, 202, headers={"Cache-Control": "no-store"})


@bp.function_name("verify_login_code")
@bp.route(route="v1/auth/email-code/verify", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
def verify_login_code(req: func.HttpRequest) -> func.HttpResponse:
    settings = get_settings()
    data = json_body(req, settings.max_body_bytes)
    challenge_id = string_field(data, "challenge_id", max_length=64)
    code = string_field(data, "code", max_length=16) or ""
    device_id = string_field(data, "device_id", required=False, max_length=128) or ""
    token, session = runtime.email_login().verify(challenge_id, code.strip(), device_id=device_id,
                                                  client=client_address(req))
    return json_response({
        "session_token": token,
        "expires_at": session.expires_at.isoformat(),
        "idle_timeout_seconds": settings.session_idle_seconds,
        "mailbox": session.mailbox,
        "tenant_id": session.tenant_id,
        "login_method": session.login_method,
    }, headers={"Cache-Control": "no-store"})
