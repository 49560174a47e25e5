"""What the settings screen shows about this installation (SPEC U3, D3; API.md "/info")."""
import azure.functions as func

from sendsecure.http import info
from sendsecure.http.api import ApiBlueprint
from sendsecure.http.httpapi import NO_STORE, authenticated, json_response
from sendsecure.sessions import Session

bp = ApiBlueprint()


@bp.operation("get_info", "GET", "v1/info", "This installation, for the settings screen (U3, D3)",
              answer=info.InfoAnswer, errors=(401, 503))
@authenticated
def get_info(req: func.HttpRequest, session: Session) -> func.HttpResponse:
    return json_response(info.for_session(session), headers=NO_STORE)
