"""The user's settings (SPEC U1, U2, S7; API.md "/settings")."""
import azure.functions as func

from sendsecure import runtime
from sendsecure.http.httpapi import current_session, endpoint, json_body, json_response, request_language
from sendsecure.settings import get_settings

bp = func.Blueprint()


def _answer(req: func.HttpRequest, settings) -> func.HttpResponse:
    return json_response({"language": request_language(req, settings.language),
                          "language_chosen": settings.language is not None,
                          "send_delay_seconds": settings.send_delay_seconds}, headers={"Cache-Control": "no-store"})


@bp.function_name("get_settings")
@bp.route(route="v1/settings", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
def get_user_settings(req: func.HttpRequest) -> func.HttpResponse:
    return _answer(req, runtime.user_settings().get(current_session(req)))


@bp.function_name("put_settings")
@bp.route(route="v1/settings", methods=["PUT"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
def put_user_settings(req: func.HttpRequest) -> func.HttpResponse:
    session = current_session(req)
    changes = json_body(req, get_settings().max_body_bytes)
    return _answer(req, runtime.user_settings().update(session, changes))
