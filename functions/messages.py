"""Sending (SPEC S1-S5, X3, X6; API.md "Sending", "Gateway"): the send button, the public keys, and after
sending: revoke with recall and the sender's view (docs/sending.md "Revoke, recall and the sender's view")."""
import azure.functions as func

from sendsecure import runtime
from sendsecure.core.drafts import parse_draft
from sendsecure.core.models import (
    EnvelopeAnswer,
    JwksAnswer,
    RevokeAnswer,
    RevokeBody,
    SendBody,
    SentMessage,
    SentMessagesPage,
    convert,
)
from sendsecure.envelopes import CURSOR_RE
from sendsecure.http.api import ApiBlueprint
from sendsecure.http.httpapi import NO_STORE, authenticated, json_body, json_response, session_language, typed_body
from sendsecure.sessions import Session
from sendsecure.settings import get_settings

bp = ApiBlueprint()
JWKS_CACHE = {"Cache-Control": "public, max-age=300"}  # a rotation reaches gateways within 5 minutes


@bp.operation("send_message", "POST", "v1/messages/send", "Send a draft securely: its one signed envelope (S1-S4)",
              body=SendBody, answer=EnvelopeAnswer, status=201, also={200: "The same message_id sent before with "
                                                                          "the same draft: the stored envelope (S4)"},
              errors=(400, 401, 409, 413, 415, 422, 503),
              problems={409: ("The message_id was sent with another draft (S4), or its message was revoked (S5)",
                              ("message_id_conflict", "message_revoked")),
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


# ----- after sending (S5, X6) ---------------------------------------------------------------------

_ID = {"name": "envelope_id", "in": "path", "required": True,
       "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{32}$"}}   # the route takes exactly 32 characters
_NOT_FOUND = {404: ("No sent message of yours has this id", ("not_found",))}


@bp.operation("revoke_message", "POST", "v1/messages/{envelope_id:length(32)}/revoke",
              "Revoke a sent message and recall its copies in own-organisation mailboxes (S5)",
              body=RevokeBody, answer=RevokeAnswer, errors=(400, 401, 403, 404, 409, 413, 415, 429, 503),
              problems={**_NOT_FOUND,
                        403: ("Not the sender's person or From mailbox", ("not_sender",)),
                        409: ("Revoked before (revoke with retry_failed to recall what failed again)",
                              ("already_revoked",)),
                        429: ("Too many refused revokes (403, 404, 409) by this person in the window "
                              "(Retry-After); a revoke that is allowed is never held back", ("rate_limited",))},
              extra={"parameters": [_ID], "requestBody": {"required": False, "content": {"application/json": {
                  "schema": {"$ref": "#/components/schemas/RevokeBody"}}}}})
@authenticated
def revoke_message(req: func.HttpRequest, session: Session) -> func.HttpResponse:
    body = typed_body(req, RevokeBody, get_settings().max_body_bytes) if req.get_body() else RevokeBody()
    answer = runtime.revocation().revoke(session, req.route_params.get("envelope_id", ""), body)
    return json_response(answer, headers=NO_STORE)


@bp.operation("get_sent_message", "GET", "v1/messages/{envelope_id:length(32)}",
              "The sender's view of a sent message: per-recipient status, revoke state (X6, S5)",
              answer=SentMessage, errors=(401, 404, 503), problems=_NOT_FOUND, extra={"parameters": [_ID]})
@authenticated
def get_sent_message(req: func.HttpRequest, session: Session) -> func.HttpResponse:
    return json_response(runtime.revocation().view(session, req.route_params.get("envelope_id", "")),
                         headers=NO_STORE)


@bp.operation("list_sent_messages", "GET", "v1/messages", "The session person's sent messages, newest first (X6)",
              answer=SentMessagesPage, errors=(400, 401, 503),
              problems={400: ("A query parameter is not valid (errors name it)", ("invalid_query",))},
              extra={"parameters": [
                  {"name": "since", "in": "query", "schema": {"type": "string", "format": "date-time"},
                   "description": "only messages created at or after this time (RFC 3339 with a zone)"},
                  {"name": "cursor", "in": "query", "schema": {"type": "string", "pattern": CURSOR_RE.pattern},
                   "description": "the previous page's next_cursor"},
                  {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 50},
                   "description": "messages per page (default 20)"}]})
@authenticated
def list_sent_messages(req: func.HttpRequest, session: Session) -> func.HttpResponse:
    page = runtime.revocation().sent(session, since=req.params.get("since"), cursor=req.params.get("cursor"),
                                     limit=req.params.get("limit"))
    return json_response(page, headers=NO_STORE)
