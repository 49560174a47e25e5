"""Offboard a tenant (SPEC I2, P4): ``python -m sendsecure.offboard <tenant-id> [--yes]``.

Destroys the tenant's phone data key first (after that no stored number of the tenant can be
opened, wherever a copy of the table is), then deletes its phone rows, its user settings and
its sessions, its Entra mailboxes' holder rows and its login challenges (a code mailed before
offboarding opens nothing), and
removes it from the tenants table so nobody can log in for it (and, in Azure, its definition from
App Configuration, so the tenant sync does not bring it back; docs/deployment.md). The audit log
is kept (NEN 7513 retention) and records the offboarding.

Every authenticated request and every verify checks the tenant in the worker's tenant
directory, so other running workers refuse the tenant's sessions within ``TENANT_CACHE_SECONDS``
(a minute) even if a session row outlived the sweep; its deleted sessions end within
``SESSION_CACHE_SECONDS`` anyway.
"""
from __future__ import annotations

import argparse
import sys

from sendsecure import audit, runtime
from sendsecure.adapters import storage


def offboard(tenant_id: str) -> dict[str, int]:
    # Its deployed definition goes first (else the tenant sync would bring it back), then the tenant,
    # so no new login or number can arrive while its data is destroyed.
    source = runtime.tenant_source()
    if source is not None:
        source.remove(tenant_id)
    runtime.tenant_directory().remove(tenant_id)
    phones = runtime.phonebook().destroy_tenant(tenant_id)
    tables = runtime.tables()
    settings = tables.delete_where(storage.USER_SETTINGS, "PartitionKey eq @p", {"p": tenant_id})
    challenges = tables.delete_where(storage.LOGIN_CODES, "tenant_id eq @t", {"t": tenant_id})
    sessions = tables.delete_where(storage.SESSIONS, "tenant_id eq @t", {"t": tenant_id})
    tables.delete_where(storage.MAILBOX_HOLDERS, "PartitionKey eq @p", {"p": tenant_id})   # pseudonyms only
    runtime.audit_log().record(audit.TENANT_OFFBOARDED, tenant_id=tenant_id, actor="operator", outcome="removed",
                               phones=phones, sessions=sessions, settings=settings, challenges=challenges)
    return {"phones": phones, "sessions": sessions, "settings": settings, "challenges": challenges}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sendsecure.offboard", description=__doc__.splitlines()[0])
    parser.add_argument("tenant_id")
    parser.add_argument("--yes", action="store_true", help="do it (without this flag nothing happens)")
    args = parser.parse_args(argv)
    if not args.yes:
        print(f"This destroys every stored phone number of tenant {args.tenant_id}. Run again with --yes.")
        return 2
    print(offboard(args.tenant_id))
    return 0


if __name__ == "__main__":
    sys.exit(main())
