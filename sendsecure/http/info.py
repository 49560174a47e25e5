"""The info a session may see about its installation (SPEC U3) and the domain book's age (D3)."""
from __future__ import annotations

from typing import Any

import msgspec

from sendsecure import runtime
from sendsecure.core.domainbook import DomainBook
from sendsecure.sessions import Session
from sendsecure.settings import get_settings


class InfoAnswer(msgspec.Struct):
    """The answer of ``GET /info``."""

    version: str
    tenant_name: str
    domain_book_variant: str
    installation_type: str
    login_method: str
    security_by_default: bool
    manual_url: str
    release_notes_url: str
    domain_book: dict[str, Any]


def book_status(book: DomainBook | None) -> dict[str, Any]:
    if book is None:
        return {"available": False, "version": None, "synced_at": None, "age_seconds": None}
    return {"available": True, "version": book.version, "synced_at": book.synced_at.isoformat(),
            "age_seconds": book.age_seconds(), "entries": len(book.entries)}


def for_session(session: Session) -> InfoAnswer:
    settings = get_settings()
    validation = runtime.validation()
    tenant = validation.tenant_of(session)
    return InfoAnswer(
        version=settings.app_version,
        tenant_name=tenant.name,
        domain_book_variant=tenant.domain_book_variant.value,
        installation_type=tenant.installation_type.value,
        login_method=tenant.login_method.value,
        security_by_default=tenant.security_by_default,
        manual_url=settings.manual_url,
        release_notes_url=settings.release_notes_url,
        domain_book=book_status(validation.book_for(tenant)),
    )
