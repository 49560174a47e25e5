"""The health report: each dependency checked cheaply; never raises."""
from __future__ import annotations

import logging
from typing import Any

from . import runtime
from .keys import PSEUDONYM_KEY
from .settings import get_settings

logger = logging.getLogger(__name__)


def _probe(name: str, check) -> str:
    try:
        check()
        return "ok"
    except Exception as exc:  # noqa: BLE001 - a health check reports, it does not fail
        logger.warning("health: %s unavailable (%s)", name, type(exc).__name__)
        return "unavailable"


def check() -> dict[str, Any]:
    storage = _probe("storage", lambda: runtime.tables().ping())
    keys = _probe("keys", lambda: runtime.key_store().get_or_create(PSEUDONYM_KEY))
    return {
        "status": "ok" if storage == keys == "ok" else "unavailable",
        "version": get_settings().app_version,
        "storage": storage,
        "keys": keys,
        # The domain book arrives with the validation engine; until then nothing is loaded.
        "domain_book": {"version": None, "synced_at": None, "age_seconds": None},
    }
