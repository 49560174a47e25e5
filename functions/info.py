"""What the settings screen shows about this installation (SPEC U3, D3; API.md "/info")."""
import azure.functions as func

from sendsecure.http import info
from sendsecure.http.httpapi import current_session, endpoint, json_response

bp = func.Blueprint()


@bp.function_name("get_info")
@bp.route(route="v1/info", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
def get_info(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(info.for_session(current_session(req)), headers={"Cache-Control": "no-store"})
