"""The health report: each dependency checked cheaply; never raises.

``status`` is ``ok``; ``degraded`` when storage and keys work but a domain book is missing
(validation then offers standard sending, V-O3) or older than ``BOOK_MAX_AGE_HOURS`` (its last
sync that fetched and accepted every source; ``stale``); ``unavailable`` (503) when storage or
keys fail. Per variant: version, synced_at, age_seconds, entries, stale, last_error(_at) (D3).

- ``storage``: ``ok``, ``unavailable`` (no answer in time), or ``tables_missing`` (storage answers
  but tables are gone, e.g. restarted empty; ``missing_tables`` names them; requests create a
  missing table again, but its rows are lost: restore or re-provision);
- ``keys``: ``ok``, ``missing`` (the master key is not in the key store: run provisioning), or
  ``unavailable`` (the key store cannot be read or does not answer). Asked of the store itself,
  at most once per 10 s per worker, not of the worker's cache.

The whole check runs under a deadline of ``HEALTH_DEADLINE_SECONDS``: a frozen dependency makes
health answer 503 in time, not hang.
"""
from __future__ import annotations

import logging
from typing import Any, Literal

import msgspec

from sendsecure import runtime
from sendsecure.adapters.keys import MASTER_KEY
from sendsecure.context import deadline
from sendsecure.core.tenants import DomainBookVariant
from sendsecure.http.info import variant_status
from sendsecure.settings import get_settings

logger = logging.getLogger(__name__)

HEALTH_DEADLINE_SECONDS = 1.5


class HealthReport(msgspec.Struct, omit_defaults=True):
    """The answer of ``GET /health`` (200, or 503 when ``unavailable``)."""

    status: Literal["ok", "degraded", "unavailable"]
    version: str
    storage: Literal["ok", "unavailable", "tables_missing"]
    keys: Literal["ok", "missing", "unavailable"]
    domain_book: dict[str, Any]
    missing_tables: list[str] | None = None


def unconfirmed() -> HealthReport:
    """The report of a check that could not run in time: nothing confirmed, so ``unavailable``."""
    return HealthReport(status="unavailable", version=get_settings().app_version, storage="unavailable",
                        keys="unavailable", domain_book={"available": False, "version": None, "synced_at": None,
                                                         "age_seconds": None, "variants": {}})


def _books() -> dict[str, Any]:
    variants = {variant.value: variant_status(variant.value) for variant in DomainBookVariant}
    available = [v for v in variants.values() if v["available"]]
    oldest = max(available, key=lambda v: v["age_seconds"] or 0) if available else None
    return {
        "available": len(available) == len(variants),
        "stale": any(v["stale"] for v in available),
        "version": ",".join(f"{name}:{v['version']}" for name, v in variants.items() if v["available"]) or None,
        "synced_at": oldest["synced_at"] if oldest else None,
        "age_seconds": oldest["age_seconds"] if oldest else None,
        "variants": variants,
    }


def _storage() -> tuple[str, list[str]]:
    try:
        missing = runtime.tables().missing_tables()
    except Exception as exc:  # noqa: BLE001 - a health check reports, it does not fail
        logger.warning("health: storage unavailable (%s)", type(exc).__name__)
        return "unavailable", []
    if missing:
        logger.error("health: tables missing: %s", ", ".join(missing))
        return "tables_missing", missing
    return "ok", []


def _keys() -> str:
    try:
        return "ok" if runtime.key_store().check(MASTER_KEY) else "missing"
    except Exception as exc:  # noqa: BLE001
        logger.warning("health: keys unavailable (%s)", type(exc).__name__)
        return "unavailable"


def check() -> dict[str, Any]:
    with deadline(HEALTH_DEADLINE_SECONDS):
        storage, missing = _storage()
        keys = _keys()
        books = _books() if storage == "ok" else {"available": False, "version": None, "synced_at": None,
                                                  "age_seconds": None, "variants": {}}
    if storage != "ok" or keys != "ok":
        status = "unavailable"
    else:
        status = "ok" if books["available"] and not books.get("stale") else "degraded"
    report = {"status": status, "version": get_settings().app_version, "storage": storage, "keys": keys,
              "domain_book": books}
    if missing:
        report["missing_tables"] = missing
    return report


def report() -> HealthReport:
    """``check`` as the typed answer."""
    return msgspec.convert(check(), HealthReport)
