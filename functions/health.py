"""Health and the OpenAPI document, both without a session (API.md "/health")."""
import copy
import functools

import azure.functions as func

from sendsecure.core.i18n import data_file
from sendsecure.http import health
from sendsecure.http.httpapi import endpoint, json_response

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
    return json_response(openapi_document(), headers={"Cache-Control": "public, max-age=300"})


@functools.cache
def openapi_document() -> dict:
    """sendsecure/data/openapi.json with the draft's bounds taken from the parser that enforces
    them (sendsecure/core/drafts.py), so the document cannot drift from the code."""
    from sendsecure.core import drafts

    document = copy.deepcopy(data_file("openapi.json"))
    schemas = document["components"]["schemas"]
    address = drafts.MAX_ADDRESS
    name = getattr(drafts, "MAX_NAME", address)  # names have their own bound where the parser has one
    as_string, as_object = schemas["Recipient"]["anyOf"]
    as_string["maxLength"] = as_object["properties"]["address"]["maxLength"] = address
    as_object["properties"]["name"]["anyOf"][0]["maxLength"] = name
    fields = schemas["Draft"]["properties"]
    fields["from"]["anyOf"][0]["maxLength"] = address
    for field in drafts.FIELDS:
        fields[field]["anyOf"][0]["maxItems"] = drafts.MAX_RECIPIENTS
    fields["subject"]["anyOf"][0]["maxLength"] = drafts.MAX_SUBJECT
    attachments = fields["attachments"]["anyOf"][0]
    attachments["maxItems"] = drafts.MAX_ATTACHMENTS
    attachments["items"]["properties"]["name"]["maxLength"] = drafts.MAX_ATTACHMENT_NAME
    attachments["items"]["properties"]["size"]["maximum"] = drafts.MAX_ATTACHMENT_SIZE
    phones = fields["phones"]["anyOf"][0]
    phones["maxProperties"] = drafts.MAX_PHONES
    phones["propertyNames"]["maxLength"] = address
    schemas["Draft"]["description"] = (
        f"At most {drafts.MAX_RECIPIENTS:,} recipients over to, cc and bcc together. An address that is not a valid "
        "one is not an input error: the verdict reports it (V-R8).")
    return document
