"""Recipients' phone numbers for SMS access codes (SPEC P1-P4; API.md "Phones")."""
import azure.functions as func

from sendsecure import runtime
from sendsecure.errors import NotFound
from sendsecure.http.httpapi import (
    current_session, empty_response, endpoint, json_body, json_response, session_language)
from sendsecure.core.i18n import LANGUAGES
from sendsecure.core.phones import country_list
from sendsecure.settings import get_settings

bp = func.Blueprint()
NO_STORE = {"Cache-Control": "no-store"}


@bp.function_name("get_phone")
@bp.route(route="v1/phones/{address}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
def get_phone(req: func.HttpRequest) -> func.HttpResponse:
    found = runtime.phonebook().get(current_session(req), req.route_params.get("address", ""))
    if found is None:
        raise NotFound("No number is stored for this recipient.")
    return json_response(found, headers=NO_STORE)


@bp.function_name("put_phone")
@bp.route(route="v1/phones/{address}", methods=["PUT"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
def put_phone(req: func.HttpRequest) -> func.HttpResponse:
    session = current_session(req)
    body = json_body(req, get_settings().max_body_bytes)
    stored = runtime.phonebook().put(session, req.route_params.get("address", ""), body.get("phone"),
                                     body.get("region"), session_language(req, session))
    return json_response(stored, headers=NO_STORE)


@bp.function_name("delete_phone")
@bp.route(route="v1/phones/{address}", methods=["DELETE"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
def delete_phone(req: func.HttpRequest) -> func.HttpResponse:
    runtime.phonebook().delete(current_session(req), req.route_params.get("address", ""))
    return empty_response(204)


@bp.function_name("list_phone_countries")
@bp.route(route="v1/phone-countries", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
def list_phone_countries(req: func.HttpRequest) -> func.HttpResponse:
    session = current_session(req)
    requested = req.params.get("lang", "")
    language = requested if requested in LANGUAGES else session_language(req, session)
    return json_response(list(country_list(language)), headers={"Cache-Control": "private, max-age=3600"})
