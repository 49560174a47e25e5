"""Recipients' phone numbers for SMS access codes (SPEC P1-P4; API.md "Phones")."""
import re

import azure.functions as func

from sendsecure import runtime
from sendsecure.core.addresses import InvalidAddress, normalise_mailbox
from sendsecure.core.i18n import LANGUAGES
from sendsecure.core.phones import country_list, describe
from sendsecure.errors import InvalidBody
from sendsecure.http.httpapi import (
    current_session,
    empty_response,
    endpoint,
    json_body,
    json_response,
    session_language,
    string_field,
)
from sendsecure.settings import get_settings

bp = func.Blueprint()
MAX_ADDRESS = 512   # the characters of one address as sent (a valid one has at most 254)
MAX_LOOKUP = 1000   # addresses per lookup (a draft's recipients)
_REGION_RE = re.compile(r"[A-Za-z]{2}")  # ASCII only: str.isalpha() would take any script
NO_STORE = {"Cache-Control": "no-store"}


# No address in any path or query (API.md "Conventions"): URLs end up in access logs and
# request telemetry, so the recipient's address travels in the body.

@bp.function_name("put_phone")
@bp.route(route="v1/phones", methods=["PUT"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
def put_phone(req: func.HttpRequest) -> func.HttpResponse:
    session = current_session(req)
    body = json_body(req, get_settings().max_body_bytes)
    address = string_field(body, "address", max_length=MAX_ADDRESS)
    region = body.get("region")
    if region is not None and (not isinstance(region, str) or not _REGION_RE.fullmatch(region)):
        raise InvalidBody.field("region", "must be a two-letter region code such as NL")
    stored = runtime.phonebook().put(session, address, body.get("phone"), region, session_language(req, session))
    return json_response(stored, headers=NO_STORE)


@bp.function_name("lookup_phones")
@bp.route(route="v1/phones/lookup", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
def lookup_phones(req: func.HttpRequest) -> func.HttpResponse:
    """The stored numbers of these recipients, in the order asked, only those stored. An address
    that is not a valid one has no number (the verdict reports it, V-R8), so it is not an error."""
    session = current_session(req)
    addresses = json_body(req, get_settings().max_body_bytes).get("addresses")
    if not isinstance(addresses, list):
        raise InvalidBody.field("addresses", "is required: a list of e-mail addresses")
    if len(addresses) > MAX_LOOKUP:
        raise InvalidBody.field("addresses", f"may hold at most {MAX_LOOKUP} addresses")
    wanted: dict[str, None] = {}
    for index, address in enumerate(addresses):
        if not isinstance(address, str):
            raise InvalidBody.field(f"addresses[{index}]", "must be a string")
        if len(address) > MAX_ADDRESS:
            raise InvalidBody.field(f"addresses[{index}]", f"may be at most {MAX_ADDRESS} characters")
        try:
            wanted[normalise_mailbox(address)] = None
        except InvalidAddress:
            continue
    found = runtime.phonebook().for_draft(session, wanted)
    return json_response({"phones": [{"address": address, **describe(found[address])}
                                     for address in wanted if address in found]}, headers=NO_STORE)


@bp.function_name("remove_phone")
@bp.route(route="v1/phones/remove", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
def remove_phone(req: func.HttpRequest) -> func.HttpResponse:
    session = current_session(req)
    address = string_field(json_body(req, get_settings().max_body_bytes), "address", max_length=MAX_ADDRESS) or ""
    try:
        normalise_mailbox(address)
    except InvalidAddress:
        return empty_response(204)  # not an address: nothing can be stored for it
    runtime.phonebook().delete(session, address)
    return empty_response(204)


@bp.function_name("list_phone_countries")
@bp.route(route="v1/phone-countries", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
def list_phone_countries(req: func.HttpRequest) -> func.HttpResponse:
    session = current_session(req)
    requested = req.params.get("lang", "")
    language = requested if requested in LANGUAGES else session_language(req, session)
    return json_response(list(country_list(language)), headers={"Cache-Control": "private, max-age=3600"})
