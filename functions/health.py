"""Health and the OpenAPI document, both without a session (API.md "/health")."""
import azure.functions as func

from sendsecure.http import health
from sendsecure.http.httpapi import endpoint, json_response
from sendsecure.core.i18n import data_file

bp = func.Blueprint()


@bp.function_name("get_health")
@bp.route(route="v1/health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
def get_health(req: func.HttpRequest) -> func.HttpResponse:
    report = health.check()
    headers = {"Cache-Control": "no-store"}
    if report["status"] == "unavailable":
        headers["Retry-After"] = "10"
    return json_response(report, 503 if report["status"] == "unavailable" else 200, headers=headers)


@bp.function_name("get_openapi")
@bp.route(route="v1/openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
def get_openapi(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(data_file("openapi.json"), headers={"Cache-Control": "public, max-age=300"})
