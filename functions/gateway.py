"""The mail gateway's endpoints, with its own credential, never a user session (SPEC S9, X6;
API.md "Gateway"; docs/sending.md "Gateway credential")."""
from typing import Any

import azure.functions as func

from sendsecure import runtime
from sendsecure.core.models import GatewayEnvelope, GatewayEventsAnswer, GatewayEventsBody
from sendsecure.errors import InvalidBody
from sendsecure.http.api import ApiBlueprint
from sendsecure.http.httpapi import NO_STORE, json_response, typed_body
from sendsecure.http.serviceauth import service
from sendsecure.servicecredentials import ServicePrincipal

bp = ApiBlueprint()
EVENTS_BODY_LIMIT = 512 * 1024  # 1,000 events with long addresses and details

_SERVICE: dict[str, Any] = {"security": [{"service": []}]}
_AUTH = {401: ("No, a malformed or a wrong service credential, or a user session",
               ("unauthenticated", "service_credential_required")),
         403: ("A service credential of another role", ("wrong_role",)),
         404: ("No envelope has this id", ("not_found",)),
         429: ("Too many refused credentials from this client group (Retry-After)", ("rate_limited",))}
_ID = {"name": "envelope_id", "in": "path", "required": True, "schema": {"type": "string"}}
# V-R4 with S9: asked only when NTA delivery failed; adds the numbers of the NTA-route recipients
# whose Viewer fallback sends the code by SMS (their code now goes by SMS).
_FALLBACK = {"name": "fallback", "in": "query", "required": False, "schema": {"type": "string", "enum": ["sms"]}}


@bp.operation("get_gateway_envelope", "GET", "v1/gateway/envelopes/{envelope_id}",
              "The envelope for the gateway: signed record, revoke state, phones of SMS recipients (S9)",
              answer=GatewayEnvelope, session=False, errors=(400, 401, 403, 404, 429, 503), problems=_AUTH,
              extra={**_SERVICE, "parameters": [_ID, _FALLBACK]})
@service("gateway")
def get_gateway_envelope(req: func.HttpRequest, principal: ServicePrincipal) -> func.HttpResponse:
    fallback = req.params.get("fallback")
    if fallback not in (None, "sms"):
        raise InvalidBody.field("fallback", "must be sms (asked when NTA delivery failed) or absent")
    envelope = runtime.gateway().fetch(principal, req.route_params.get("envelope_id", ""), fallback=fallback == "sms")
    return json_response(envelope, headers=NO_STORE)


@bp.operation("report_gateway_events", "POST", "v1/gateway/envelopes/{envelope_id}/events",
              "Per-recipient delivery events of an envelope (X6); each recipient's latest is kept",
              body=GatewayEventsBody, answer=GatewayEventsAnswer, status=202, session=False,
              errors=(400, 401, 403, 404, 409, 413, 415, 422, 429, 503),
              problems={**_AUTH,
                        409: ("An opening dated after the message was revoked (S5: the Viewer stops showing it); "
                              "`revoked_at` says when", ("message_revoked",)),
                        422: ("An address that is not a recipient of the envelope; an event that does not fit the "
                              "recipient's route; a time in the future or before the message was sent",
                              ("unknown_recipient", "invalid_event"))},
              extra={**_SERVICE, "parameters": [_ID]})
@service("gateway")
def report_gateway_events(req: func.HttpRequest, principal: ServicePrincipal) -> func.HttpResponse:
    envelope_id = req.route_params.get("envelope_id", "")
    events = typed_body(req, GatewayEventsBody, EVENTS_BODY_LIMIT)
    accepted = runtime.gateway().report(principal, envelope_id, events)
    return json_response(GatewayEventsAnswer(envelope_id=envelope_id, accepted=accepted), status=202,
                         headers=NO_STORE)
