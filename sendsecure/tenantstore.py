"""The tenants table: onboarded tenants and the mail domains they own (SPEC T5).

Rows: ``PartitionKey="tenant", RowKey=<id>`` with the definition as JSON. Each worker keeps
all tenants in memory and re-reads the (small) table at most every ``cache_seconds``
(``TENANT_CACHE_SECONDS``, 60). Every authenticated request and every verify asks here, so a
stale copy costs one request the re-read while concurrent requests keep using the copy
(never all of them waiting on the lock); the first load is waited for.

Onboarding in Azure (SPEC I2, docs/deployment.md): ``infra/tenant.bicep`` writes the definition to
App Configuration (``sendsecure/adapters/appconfig.py``); the timer ``sync_tenants`` calls
``sync_tenants`` here, which provisions the phone key of a new tenant first and then stores its
row, so a deployed definition goes live with no manual step. A definition that disappeared from
the store is only reported: removing a tenant destroys its phone key, so that stays the explicit
``python -m sendsecure.offboard`` (which deletes the key-value too).
"""
from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from sendsecure.adapters import storage
from sendsecure.audit import TENANT_CHANGED, TENANT_ONBOARDED, AuditLog
from sendsecure.core.cache import TtlCache
from sendsecure.core.tenants import Tenant, entra_owner, parse_tenant
from sendsecure.errors import ConfigurationError

logger = logging.getLogger(__name__)
PARTITION = "tenant"


class TenantDirectory:
    def __init__(self, tables: storage.TableStore, cache_seconds: float = 60.0,
                 audit_log: AuditLog | None = None) -> None:
        self._tables = tables
        self._audit = audit_log
        self._by_domain: dict[str, Tenant] = {}
        self._by_id: dict[str, Tenant] = {}
        self._loaded = False
        self._fresh: TtlCache[str, bool] = TtlCache(cache_seconds, maxsize=1)  # the copy was read lately
        self._lock = threading.Lock()

    def save(self, tenants: list[Tenant]) -> None:
        """Store definitions (insert or replace); a mail domain can belong to one tenant only."""
        self._refresh(force=True)
        for tenant in tenants:
            for domain in tenant.mail_domains:
                owner = self._by_domain.get(domain)
                if owner is not None and owner.id != tenant.id:
                    raise ConfigurationError(f"mail_domains: {domain} already belongs to tenant {owner.id}")
            other = entra_owner(self._by_id.values(), tenant)
            if other is not None:
                raise ConfigurationError(f"entra_tenant_id: already belongs to tenant {other}")
        for tenant in tenants:
            self._record_change(tenant)
            self._tables.upsert(
                storage.TENANTS,
                {"PartitionKey": PARTITION, "RowKey": tenant.id, "definition": json.dumps(tenant.to_dict())},
                merge=False,
            )
        self._refresh(force=True)

    def _record_change(self, tenant: Tenant) -> None:
        """S6 "tenant change", recorded before it is made: onboarded, or changed naming the fields."""
        if self._audit is None:
            return
        before = self._by_id.get(tenant.id)
        if before is None:
            self._audit.record(TENANT_ONBOARDED, tenant_id=tenant.id, actor="operator", outcome="saved")
            return
        old, new = before.to_dict(), tenant.to_dict()
        changed = sorted(name for name in new if old.get(name) != new[name])
        if changed:
            self._audit.record(TENANT_CHANGED, tenant_id=tenant.id, actor="operator", outcome="saved",
                               fields=",".join(changed))

    def remove(self, tenant_id: str) -> None:
        self._tables.delete(storage.TENANTS, PARTITION, tenant_id)
        self._refresh(force=True)

    def for_domain(self, domain: str) -> Tenant | None:
        self._refresh()
        return self._by_domain.get(domain)

    def get(self, tenant_id: str) -> Tenant | None:
        self._refresh()
        return self._by_id.get(tenant_id)

    def all(self) -> list[Tenant]:
        self._refresh()
        return sorted(self._by_id.values(), key=lambda t: t.id)

    def _refresh(self, force: bool = False) -> None:
        if not force and self._fresh.get(PARTITION):
            return
        # Another request already re-reads a stale copy: use the copy meanwhile.
        if not self._lock.acquire(blocking=force or not self._loaded):
            return
        try:
            if not force and self._fresh.get(PARTITION):
                return
            by_id: dict[str, Tenant] = {}
            for row in self._tables.query(storage.TENANTS, "PartitionKey eq @p", {"p": PARTITION}):
                try:
                    tenant = parse_tenant(json.loads(row["definition"]))
                except (ConfigurationError, ValueError, KeyError):
                    logger.error("tenant row %s is not a valid definition; ignored", row.get("RowKey"))
                    continue
                by_id[tenant.id] = tenant
            self._by_id = by_id
            self._by_domain = {domain: t for t in by_id.values() for domain in t.mail_domains}
            self._loaded = True
            self._fresh.put(PARTITION, True)
        finally:
            self._lock.release()


class TenantSource(Protocol):
    def definitions(self) -> list[tuple[str, str]]: ...


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    invalid: list[str] = field(default_factory=list)  # keys of definitions that were refused
    not_in_source: list[str] = field(default_factory=list)  # live tenants the store no longer lists


def sync_tenants(directory: TenantDirectory, source: TenantSource,
                 provision_key: Callable[[str], object]) -> SyncReport:
    """Bring the tenants table in line with the deployed definitions (new and changed ones).

    Each definition is validated with the app's own validator; a bad one (or one whose key does
    not name its id, or whose mail domain another tenant owns) is logged and skipped, the others
    still go live. ``provision_key(tenant_id)`` makes the tenant's phone key before its row is
    written, so a live tenant always has its key. ``DependencyUnavailable`` from the source, the
    key store or the table leaves the rest for the next run.
    """
    from sendsecure.adapters.appconfig import KEY_PREFIX

    report = SyncReport()
    current = {t.id: t for t in directory.all()}
    seen: set[str] = set()
    for key, value in source.definitions():
        try:
            tenant = parse_tenant(json.loads(value), f"{key}: ")
        except (ConfigurationError, ValueError) as error:
            logger.error("tenant definition %s refused: %s", key, error if isinstance(error, ConfigurationError)
                         else "not valid JSON")
            report.invalid.append(key)
            continue
        if key != KEY_PREFIX + tenant.id:
            logger.error("tenant definition %s refused: its id is %s", key, tenant.id)
            report.invalid.append(key)
            continue
        seen.add(tenant.id)
        if current.get(tenant.id) == tenant:
            report.unchanged += 1
            continue
        taken = [d for d in tenant.mail_domains if (owner := directory.for_domain(d)) and owner.id != tenant.id]
        if taken:  # checked before the key is made, so a refused definition leaves nothing behind
            logger.error("tenant definition %s refused: mail_domains: %s already belongs to another tenant", key,
                         taken[0])
            report.invalid.append(key)
            continue
        other = entra_owner(directory.all(), tenant)
        if other is not None:
            logger.error("tenant definition %s refused: entra_tenant_id already belongs to tenant %s", key, other)
            report.invalid.append(key)
            continue
        provision_key(tenant.id)
        try:
            directory.save([tenant])
        except ConfigurationError as error:
            logger.error("tenant definition %s refused: %s", key, error)
            report.invalid.append(key)
            continue
        (report.updated if tenant.id in current else report.added).append(tenant.id)
    report.not_in_source = sorted(set(current) - seen)
    for tenant_id in report.not_in_source:
        logger.warning("tenant %s is live but no longer deployed; offboard it with "
                       "`python -m sendsecure.offboard %s --yes`", tenant_id, tenant_id)
    if report.added or report.updated:
        logger.info("tenant sync: added %s, updated %s", report.added, report.updated)
    return report
