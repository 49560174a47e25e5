"""Recipients' phone numbers for SMS access codes (SPEC P1-P4; API.md "Phones")."""
import functools

import azure.functions as func

from sendsecure import runtime
from sendsecure.core.addresses import InvalidAddress, normalise_mailbox
from sendsecure.core.i18n import LANGUAGES
from sendsecure.core.models import (
    Country,
    PhoneBody,
    PhoneLookupAnswer,
    PhoneLookupBody,
    PhoneRemoveBody,
    StoredPhone,
)
from sendsecure.core.phones import country_list, describe
from sendsecure.http.api import ApiBlueprint
from sendsecure.http.httpapi import NO_STORE, authenticated, empty_response, json_response, session_language, typed_body
from sendsecure.sessions import Session
from sendsecure.settings import get_settings

bp = ApiBlueprint()


# No address in any path or query (API.md "Conventions"): URLs end up in access logs and
# request telemetry, so the recipient's address travels in the body.

@bp.operation("put_phone", "PUT", "v1/phones", "Store a recipient's phone number (P1, P2, P4)", body=PhoneBody,
              answer=StoredPhone, errors=(400, 401, 413, 415, 422, 503))
@authenticated
def put_phone(req: func.HttpRequest, session: Session) -> func.HttpResponse:
    body = typed_body(req, PhoneBody, get_settings().max_body_bytes)
    stored = runtime.phonebook().put(session, body.address, body.phone, body.region, session_language(req, session))
    return json_response(StoredPhone(**stored), headers=NO_STORE)


@bp.operation("lookup_phones", "POST", "v1/phones/lookup", "Stored numbers of these recipients (P1)",
              body=PhoneLookupBody, answer=PhoneLookupAnswer, errors=(400, 401, 413, 415, 503))
@authenticated
def lookup_phones(req: func.HttpRequest, session: Session) -> func.HttpResponse:
    """The stored numbers of these recipients, in the order asked, only those stored. An address
    that is not a valid one has no number (the verdict reports it, V-R8), so it is not an error."""
    body = typed_body(req, PhoneLookupBody, get_settings().max_body_bytes)
    wanted: dict[str, None] = {}
    for address in body.addresses:
        try:
            wanted[normalise_mailbox(address)] = None
        except InvalidAddress:
            continue
    found = runtime.phonebook().lookup(session, wanted)   # recorded (purpose lookup) or 503, never unrecorded
    return json_response(PhoneLookupAnswer([StoredPhone(address=address, **describe(found[address]))
                                            for address in wanted if address in found]), headers=NO_STORE)


@bp.operation("remove_phone", "POST", "v1/phones/remove", "Forget a recipient's phone number (P1)",
              body=PhoneRemoveBody, status=204, errors=(400, 401, 413, 415, 503))
@authenticated
def remove_phone(req: func.HttpRequest, session: Session) -> func.HttpResponse:
    address = typed_body(req, PhoneRemoveBody, get_settings().max_body_bytes).address
    try:
        normalise_mailbox(address)
    except InvalidAddress:
        return empty_response(204)  # not an address: nothing can be stored for it
    runtime.phonebook().delete(session, address)
    return empty_response(204)


@bp.operation("list_phone_countries", "GET", "v1/phone-countries", "Countries for the number field (P3)",
              answer=list[Country], errors=(401, 503),
              extra={"parameters": [{"name": "lang", "in": "query", "schema": {"type": "string"},
                                     "description": "nl, en or de; anything else: the user's language"}]})
@authenticated
def list_phone_countries(req: func.HttpRequest, session: Session) -> func.HttpResponse:
    requested = req.params.get("lang", "")
    language = requested if requested in LANGUAGES else session_language(req, session)
    return json_response(_countries(language), headers={"Cache-Control": "private, max-age=3600"})


@functools.lru_cache(maxsize=8)
def _countries(language: str) -> list[Country]:
    # country_list's rows are the Country fields, typed as object there: the model checks nothing here.
    return [Country(**entry) for entry in country_list(language)]  # type: ignore[arg-type]
