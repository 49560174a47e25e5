"""Draft validation and the on-send check (SPEC V-*, V-O4; API.md "Drafts")."""
import azure.functions as func

from sendsecure import runtime
from sendsecure.context import deadline
from sendsecure.core.drafts import parse_draft
from sendsecure.errors import Unauthenticated
from sendsecure.http.httpapi import LoginRequired, current_session, endpoint, json_body, json_response, session_language
from sendsecure.settings import get_settings

bp = func.Blueprint()


@bp.function_name("validate_draft")
@bp.route(route="v1/drafts/validate", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
def validate_draft(req: func.HttpRequest) -> func.HttpResponse:
    session = current_session(req)
    draft = parse_draft(json_body(req, get_settings().max_draft_bytes))
    verdict = runtime.validation().verdict(session, draft, session_language(req, session))
    return json_response(verdict, headers={"Cache-Control": "no-store"})


@bp.function_name("check_on_send")
@bp.route(route="v1/drafts/on-send", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
def check_on_send(req: func.HttpRequest) -> func.HttpResponse:
    with deadline(get_settings().on_send_deadline_ms / 1000):  # a hung dependency: 503 in time (issue 7.10)
        try:
            session = current_session(req)
        except Unauthenticated:
            # V-O4: the add-in tells the user to log in through the panel (and offers standard
            # sending if that fails); a code of its own so the add-in need not guess from the status.
            raise LoginRequired("Log in through the Send Secure panel, then send again.") from None
        draft = parse_draft(json_body(req, get_settings().max_draft_bytes))
        decision = runtime.validation().on_send(session, draft, session_language(req, session))
    return json_response(decision, headers={"Cache-Control": "no-store"})
