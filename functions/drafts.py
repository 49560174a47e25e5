"""Draft validation and the on-send check (SPEC V-*, V-O4; API.md "Drafts")."""
import azure.functions as func

from sendsecure import runtime
from sendsecure.context import deadline
from sendsecure.core.models import DraftBody, OnSendAnswer, OnSendBody, Verdict
from sendsecure.http.api import ApiBlueprint
from sendsecure.http.httpapi import (
    NO_STORE,
    LoginRequired,
    authenticated,
    draft_body,
    json_response,
    on_send_body,
    session_language,
)
from sendsecure.sessions import Session
from sendsecure.settings import get_settings

bp = ApiBlueprint()
# Outlook's Send has threads of its own and answers within its deadline plus GRACE seconds of
# arriving, whatever holds the worker's shared threads (stalled storage; httpapi.on_own_threads).
ON_SEND_THREADS = 4
GRACE = 0.25
DRAFT_ERRORS = (400, 401, 413, 415, 503)


@bp.operation("validate_draft", "POST", "v1/drafts/validate", "The verdict on a draft (V-*)",
              body=DraftBody, answer=Verdict, errors=DRAFT_ERRORS)
@authenticated
def validate_draft(req: func.HttpRequest, session: Session) -> func.HttpResponse:
    draft = draft_body(req, get_settings().max_draft_bytes)
    verdict = runtime.validation().verdict(session, draft, session_language(req, session))
    return json_response(verdict, headers=NO_STORE)


@bp.operation("check_on_send", "POST", "v1/drafts/on-send", "Allow Outlook's Send or intercept it (V-O4)",
              body=OnSendBody, answer=OnSendAnswer, errors=(*DRAFT_ERRORS, 409),
              problems={401: ("No valid session: log in through the panel (V-O4)", ("login_required",)),
                        409: ("The message_id was sent with another draft (S4), or its message was revoked (S5)",
                              ("message_id_conflict", "message_revoked"))},
              extra={"description": "Without a valid session the answer is 401 with code login_required (V-O4): "
                                    "the add-in asks the user to log in through the panel and, if that fails, "
                                    "offers standard sending. With a message_id, an allow that sends securely "
                                    "(auto-send, or security by default with nothing to show) carries the "
                                    "message's envelope and headers (S2); the same message_id sent with another "
                                    "draft is 409 message_id_conflict, and a message_id whose message was revoked "
                                    "is 409 message_revoked (S5)."},
              own_threads=ON_SEND_THREADS, answer_within=lambda: get_settings().on_send_deadline_ms / 1000 + GRACE)
def check_on_send(req: func.HttpRequest) -> func.HttpResponse:
    with deadline(get_settings().on_send_deadline_ms / 1000):  # a hung dependency: 503 in time (issue 7.10)
        return _on_send(req)


@authenticated(refusal=LoginRequired)   # V-O4: 401 login_required, the add-in asks the user to log in
def _on_send(req: func.HttpRequest, session: Session) -> func.HttpResponse:
    draft, message_id = on_send_body(req, get_settings().max_draft_bytes)
    answer = runtime.sending().on_send(session, draft, message_id, session_language(req, session))
    return json_response(answer, headers=NO_STORE)
