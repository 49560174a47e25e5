"""Sending (SPEC S1-S4, X3; API.md "Sending", "Gateway"): the send button and the public keys."""
import azure.functions as func

from sendsecure import runtime
from sendsecure.core.drafts import parse_draft
from sendsecure.core.models import EnvelopeAnswer, JwksAnswer, SendBody, convert
from sendsecure.http.api import ApiBlueprint
from sendsecure.http.httpapi import NO_STORE, authenticated, json_body, json_response, session_language
from sendsecure.sessions import Session
from sendsecure.settings import get_settings

bp = ApiBlueprint()
JWKS_CACHE = {"Cache-Control": "public, max-age=300"}  # a rotation reaches gateways within 5 minutes


@bp.operation("send_message", "POST", "v1/messages/send", "Send a draft securely: its one signed envelope (S1-S4)",
              body=SendBody, answer=EnvelopeAnswer, status=201, also={200: "The same message_id sent before with "
                                                                          "the same draft: the stored envelope (S4)"},
              errors=(400, 401, 409, 413, 415, 422, 503),
              problems={409: ("The message_id was sent with another draft (S4)", ("message_id_conflict",)),
                        422: ("A blocking verdict (the verdict in `verdict`) or an unconfirmed empty subject",
                              ("draft_blocked", "subject_confirmation_required"))})
@authenticated
def send_message(req: func.HttpRequest, session: Session) -> func.HttpResponse:
    data = json_body(req, get_settings().max_draft_bytes)
    body = convert(data, SendBody)                      # 400 naming draft.to[0].address and the like
    draft = parse_draft(data["draft"])
    stored, created = runtime.sending().send(session, draft, body.message_id, session_language(req, session),
                                             confirm_empty_subject=body.confirm_empty_subject)
    return json_response(stored.response(), status=201 if created else 200, headers=NO_STORE)


@bp.operation("gateway_keys", "GET", "v1/gateway/keys", "The public keys of envelopes and stamps (JWKS, X3)",
              answer=JwksAnswer, session=False, errors=(503,))
def gateway_keys(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(runtime.signing().jwks(), headers=JWKS_CACHE)
