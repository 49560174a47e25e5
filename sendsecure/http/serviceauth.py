"""The HTTP side of service credentials (sendsecure/servicecredentials.py): ``@service(role)``.

A trigger declared ``@service("gateway")`` gets ``def trigger(req, principal)``. Refusals (S9):
- nothing, a malformed, an unknown or a wrong credential: 401 ``unauthenticated``;
- a user session token (``sst_...``): 401 ``service_credential_required``. Not 403: the caller
  is not authenticated as anything these endpoints know, and the session is not even looked up
  (its validity is none of a gateway endpoint's business, and a 403 would confirm it);
- a valid credential of another role (the book sync operator's): 403 ``wrong_role``.
Refusals are audited (``service.auth_failed``: reason, the role and slot it claimed, the client's
pseudonym; never the token), at most ``SERVICE_AUTH_FAILURE_LIMIT`` per client group and window:
past it, one ``rate_limited`` row and 429 with ``Retry-After`` (``RefusalAudit``). If a row cannot
be written the answer is 503.
"""
from __future__ import annotations

from collections.abc import Callable

import azure.functions as func

from sendsecure import runtime
from sendsecure.errors import Unauthenticated
from sendsecure.http.httpapi import client_address
from sendsecure.servicecredentials import (
    Refused,
    ServiceCredentialRequired,
    ServicePrincipal,
    WrongRole,
)

ServiceHandler = Callable[[func.HttpRequest, ServicePrincipal], func.HttpResponse]


def _token(req: func.HttpRequest) -> str:
    scheme, _, token = req.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or len(token) > 512:
        return ""
    return token


def _refuse(req: func.HttpRequest, reason: str, role: str, slot: str, wanted: str) -> None:
    """Audit the refusal (``service.auth_failed``), or raise 429 past the client group's budget."""
    runtime.service_refusals().refused(reason, role, slot, wanted, client_address(req))


def service(role: str) -> Callable[[ServiceHandler], Callable[[func.HttpRequest], func.HttpResponse]]:
    def wrap(inner: ServiceHandler) -> Callable[[func.HttpRequest], func.HttpResponse]:
        def wrapper(req: func.HttpRequest) -> func.HttpResponse:
            try:
                principal = runtime.service_credentials().authenticate(_token(req))
            except Refused as refused:
                _refuse(req, refused.reason, refused.role, refused.slot, role)
                if refused.reason == "session_token":
                    raise ServiceCredentialRequired(
                        "A user session cannot call this endpoint; use the service credential.") from None
                raise Unauthenticated("Send Authorization: Bearer <service credential>.") from None
            if principal.role != role:
                _refuse(req, "wrong_role", principal.role, principal.slot, role)
                raise WrongRole(f"A {principal.role} credential cannot call this endpoint.")
            return inner(req, principal)

        wrapper.__name__, wrapper.__qualname__, wrapper.__doc__ = inner.__name__, inner.__qualname__, inner.__doc__
        wrapper.__module__ = inner.__module__
        wrapper.__annotations__ = {"req": func.HttpRequest, "return": func.HttpResponse}
        return wrapper

    return wrap
