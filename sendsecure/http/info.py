"""The info a session may see about its installation (SPEC U3) and the domain book's age and last
sync error (D3; docs/domain-book-sync.md)."""
from __future__ import annotations

from typing import Any

import msgspec

from sendsecure import runtime
from sendsecure.core.clock import utcnow
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


def variant_status(variant: str) -> dict[str, Any]:
    """A variant's book as this worker holds it (version, synced_at, age) with the sync's last
    error and whether it is ``stale``: older than ``BOOK_MAX_AGE_HOURS`` (health: ``degraded``)."""
    status = runtime.books().status(variant)
    answer: dict[str, Any] = {"available": status.available, "version": status.version,
                              "synced_at": status.synced_at.isoformat() if status.synced_at else None,
                              "age_seconds": None, "stale": False}
    if status.synced_at is not None:
        age = max(0, int((utcnow() - status.synced_at).total_seconds()))
        answer["age_seconds"] = age
        answer["stale"] = age > get_settings().book_max_age_hours * 3600
    if status.entries is not None:
        answer["entries"] = status.entries
    answer["last_error"] = status.last_error
    answer["last_error_at"] = status.last_error_at.isoformat() if status.last_error_at else None
    return answer


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
        domain_book=variant_status(tenant.domain_book_variant.value),
    )
