"""The user's settings (SPEC U1, U2, S7; API.md "/settings")."""
import azure.functions as func

from sendsecure import runtime
from sendsecure.core.models import SettingsAnswer, SettingsBody
from sendsecure.http.api import ApiBlueprint
from sendsecure.http.httpapi import NO_STORE, authenticated, json_response, request_language, typed_body
from sendsecure.sessions import Session
from sendsecure.settings import get_settings
from sendsecure.usersettings import UserSettings

bp = ApiBlueprint()


def _answer(req: func.HttpRequest, settings: UserSettings) -> func.HttpResponse:
    # Both values are checked where they come in (a supported language, a delay of 0/5/10) but typed str and int.
    return json_response(SettingsAnswer(language=request_language(req, settings.language),  # type: ignore[arg-type]
                                        language_chosen=settings.language is not None,
                                        send_delay_seconds=settings.send_delay_seconds),  # type: ignore[arg-type]
                         headers=NO_STORE)


@bp.operation("get_user_settings", "GET", "v1/settings", "The user's settings (U1, U2)", answer=SettingsAnswer,
              errors=(401, 503))
@authenticated
def get_user_settings(req: func.HttpRequest, session: Session) -> func.HttpResponse:
    return _answer(req, runtime.user_settings().get(session))


@bp.operation("put_user_settings", "PUT", "v1/settings", "Change the user's settings (U1, U2)", body=SettingsBody,
              answer=SettingsAnswer, errors=(400, 401, 413, 415, 503))
@authenticated
def put_user_settings(req: func.HttpRequest, session: Session) -> func.HttpResponse:
    changes = typed_body(req, SettingsBody, get_settings().max_body_bytes).changes()
    return _answer(req, runtime.user_settings().update(session, changes))
