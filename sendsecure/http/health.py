"""The health report: each dependency checked cheaply; never raises.

``status`` is ``ok``; ``degraded`` when storage and keys work but a domain book is missing
(validation then offers standard sending, V-O3); ``unavailable`` (503) when storage or keys fail.
"""
from __future__ import annotations

import logging
from typing import Any

from sendsecure import runtime
from sendsecure.http.info import book_status
from sendsecure.adapters.keys import MASTER_KEY
from sendsecure.settings import get_settings
from sendsecure.core.tenants import DomainBookVariant

logger = logging.getLogger(__name__)


def _probe(name: str, check) -> str:
    try:
        check()
        return "ok"
    except Exception as exc:  # noqa: BLE001 - a health check reports, it does not fail
        logger.warning("health: %s unavailable (%s)", name, type(exc).__name__)
        return "unavailable"


def _books() -> dict[str, Any]:
    variants = {}
    for variant in DomainBookVariant:
        try:
            book = runtime.books().current(variant.value)
        except Exception as exc:  # noqa: BLE001
            logger.info("health: domain book %s unavailable (%s)", variant.value, type(exc).__name__)
            book = None
        variants[variant.value] = book_status(book)
    available = [v for v in variants.values() if v["available"]]
    oldest = max(available, key=lambda v: v["age_seconds"]) if available else None
    return {
        "available": len(available) == len(variants),
        "version": ",".join(f"{name}:{v['version']}" for name, v in variants.items() if v["available"]) or None,
        "synced_at": oldest["synced_at"] if oldest else None,
        "age_seconds": oldest["age_seconds"] if oldest else None,
        "variants": variants,
    }


def check() -> dict[str, Any]:
    storage = _probe("storage", lambda: runtime.tables().ping())
    keys = _probe("keys", lambda: runtime.key_store().stable(MASTER_KEY))
    books = _books() if storage == "ok" else {"available": False, "version": None, "synced_at": None,
                                              "age_seconds": None, "variants": {}}
    if storage != "ok" or keys != "ok":
        status = "unavailable"
    else:
        status = "ok" if books["available"] else "degraded"
    return {"status": status, "version": get_settings().app_version, "storage": storage, "keys": keys,
            "domain_book": books}
