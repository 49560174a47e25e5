"""Login by e-mail code (SPEC A1) and by Entra ID (SPEC A2; API.md "Login and session")."""
import azure.functions as func

from sendsecure import runtime
from sendsecure.core.entratoken import ENTRA_LOGIN_CODES, ENTRA_TOKEN_CODES
from sendsecure.core.models import EntraLoginBody, LoginAnswer, LoginChallenge, LoginCodeBody, VerifyCodeBody
from sendsecure.http.api import ApiBlueprint
from sendsecure.http.httpapi import NO_STORE, client_address, json_response, request_language, typed_body
from sendsecure.settings import get_settings

bp = ApiBlueprint()


@bp.operation("request_login_code", "POST", "v1/auth/email-code", "Mail a login code to a mailbox (A1)",
              body=LoginCodeBody, answer=LoginChallenge, status=202, session=False, errors=(400, 413, 415, 429, 503))
def request_login_code(req: func.HttpRequest) -> func.HttpResponse:
    body = typed_body(req, LoginCodeBody, get_settings().max_body_bytes)
    language = request_language(req, body.language)
    challenge = runtime.email_login().request_code(body.mailbox, client=client_address(req), language=language)
    return json_response(LoginChallenge(**challenge), 202, headers=NO_STORE)


@bp.operation("verify_login_code", "POST", "v1/auth/email-code/verify", "Exchange the code for a session (A1, A3)",
              body=VerifyCodeBody, answer=LoginAnswer, session=False, errors=(400, 401, 413, 415, 429, 503),
              problems={401: ("Wrong, expired or used-up code (attempts_left)", ("invalid_code",))})
def verify_login_code(req: func.HttpRequest) -> func.HttpResponse:
    body = typed_body(req, VerifyCodeBody, get_settings().max_body_bytes)
    token, session = runtime.email_login().verify(body.challenge_id, body.code.strip(), device_id=body.device_id or "",
                                                  client=client_address(req))
    return json_response(runtime.sessions().answer(session, token), headers=NO_STORE)


@bp.operation("entra_login", "POST", "v1/auth/entra", "Exchange an Entra ID access token for a session (A2, A3)",
              body=EntraLoginBody, answer=LoginAnswer, session=False, errors=(400, 401, 403, 413, 415, 429, 503),
              problems={
                  401: ("The Entra access token is missing or not accepted (WWW-Authenticate: Bearer "
                        "error=\"invalid_token\"); the code says why", ENTRA_TOKEN_CODES),
                  403: ("A valid token, but not for this login: tenant not onboarded or not using Entra, the "
                        "mailbox of another tenant, or another account than the Outlook mailbox", ENTRA_LOGIN_CODES)},
              extra={"description": "Authorization: Bearer <Entra access token for this API> (obtained with "
                                    "nested app authentication); the body names the Outlook mailbox."})
def entra_login(req: func.HttpRequest) -> func.HttpResponse:
    body = typed_body(req, EntraLoginBody, get_settings().max_body_bytes)
    token, session = runtime.entra_login().login(req.headers.get("authorization", ""), body.mailbox,
                                                 device_id=body.device_id or "", client=client_address(req),
                                                 language=request_language(req, body.language))
    return json_response(runtime.sessions().answer(session, token), headers=NO_STORE)
