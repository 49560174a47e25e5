"""The tenants table: onboarded tenants and the mail domains they own (SPEC T5).

Rows: ``PartitionKey="tenant", RowKey=<id>`` with the definition as JSON. Each worker keeps
all tenants in memory and re-reads the (small) table at most every ``cache_seconds``
(``TENANT_CACHE_SECONDS``, 60). Every authenticated request and every verify asks here, so a
stale copy costs one request the re-read while concurrent requests keep using the copy
(never all of them waiting on the lock); the first load is waited for.
"""
from __future__ import annotations

import json
import logging
import threading

from sendsecure.adapters import storage
from sendsecure.audit import TENANT_CHANGED, TENANT_ONBOARDED, AuditLog
from sendsecure.core.cache import TtlCache
from sendsecure.core.tenants import Tenant, parse_tenant
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
