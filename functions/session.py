"""The caller's session (SPEC A3; API.md "Login and session")."""
import azure.functions as func

from sendsecure import runtime
from sendsecure.core.models import SessionAnswer
from sendsecure.http.api import ApiBlueprint
from sendsecure.http.httpapi import NO_STORE, authenticated, bearer_token, empty_response, json_response
from sendsecure.sessions import Session

bp = ApiBlueprint()


@bp.operation("get_session", "GET", "v1/session", "The caller's session (A3)", answer=SessionAnswer,
              errors=(401, 503))
@authenticated
def get_session(req: func.HttpRequest, session: Session) -> func.HttpResponse:
    return json_response(runtime.sessions().answer(session), headers=NO_STORE)


@bp.operation("end_session", "DELETE", "v1/session", "Log out: end the caller's session (A3)", status=204,
              errors=(401, 503))
def end_session(req: func.HttpRequest) -> func.HttpResponse:
    runtime.sessions().end(bearer_token(req))   # ends and audits (the token, not a looked-up session)
    return empty_response(204)
