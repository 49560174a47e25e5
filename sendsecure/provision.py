"""Provision what requests need but must never create: ``python -m sendsecure.provision``.

Keys are made here and nowhere else (issue 7 item 12): the deployment's master secret
(``master-key``, from which every purpose key is derived), the envelope signing key
(``signing-key``: each version a 32-byte Ed25519 seed; rotation = ``rotate("signing-key")``,
docs/sending.md) and one phone data key per tenant (``phone-key-<tenant>``), plus every table.
A request that finds a key missing answers 503
``dependency_unavailable`` and logs an error instead of making a new one, which would silently
orphan every pseudonym and sealed number made with the old one.

Run it once per deployment and again whenever a tenant is onboarded; it is idempotent (an
existing key or table is left as it is). ``make run`` and the test session run it for
development; the development host provisions the tenants it loads, as onboarding does in Azure.

    python -m sendsecure.provision [--tenants FILE_OR_FOLDER ...] [--no-tables]
    python -m sendsecure.provision --service-credential gateway [--slot a|b] [--credential-file PATH]
    python -m sendsecure.provision --retire-service-credential gateway --slot a
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterable

from sendsecure import runtime
from sendsecure.adapters.keys import MASTER_KEY

logger = logging.getLogger(__name__)


def provision_deployment() -> bool:
    """The master secret; True if it was created now."""
    created = runtime.key_store().provision(MASTER_KEY)
    if created:
        logger.info("provisioned the master key")
    return created


def provision_signing_key() -> bool:
    """The envelope and stamp signing key (S3); True if it was created now."""
    from sendsecure.sending import SIGNING_KEY

    created = runtime.key_store().provision(SIGNING_KEY)
    if created:
        logger.info("provisioned the signing key")
    return created


def provision_tenant(tenant_id: str) -> bool:
    """The tenant's phone data key; True if it was created now."""
    from sendsecure.phonebook import key_name

    created = runtime.key_store().provision(key_name(tenant_id))
    if created:
        logger.info("provisioned the phone data key of tenant %s", tenant_id)
    return created


def provision_tables() -> list[str]:
    """Every table of the app; returns the logical names that were missing."""
    return runtime.tables().create_missing_tables()


def service_credential(role: str, slot: str = "a") -> tuple[str, bool]:
    """A service credential (the gateway's, S9): its key is made if missing; (credential, created).
    Only here, never by a request; printing it again later gives the same credential."""
    credential, created = runtime.service_credentials().issue(role, slot)
    if created:
        logger.info("provisioned the %s service credential, slot %s", role, slot)
    return credential, created


def _hand_over(credential: str, path: str | None) -> None:
    """To a file only its owner can read (0600), or to standard output for the operator."""
    if path is None:
        print(credential)
        return
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(credential + "\n")


def provision(tenant_ids: Iterable[str], *, tables: bool = True) -> dict[str, object]:
    report: dict[str, object] = {"master_key": "created" if provision_deployment() else "present"}
    report["signing_key"] = "created" if provision_signing_key() else "present"
    report["tenant_keys"] = {t: "created" if provision_tenant(t) else "present" for t in tenant_ids}
    if tables:
        report["tables_created"] = provision_tables()
    return report


def _reseal(tenant_id: str, *, rotate: bool) -> int:
    """P4 rotation: optionally a new version of the tenant's phone key, then every stored number
    re-sealed under the current version; prints what it did (counts only)."""
    from sendsecure.phonebook import key_name

    if runtime.tenant_directory().get(tenant_id) is None:
        print(f"no onboarded tenant {tenant_id!r}", file=sys.stderr)
        return 2
    if rotate:
        version, _ = runtime.key_store().rotate(key_name(tenant_id))
        print(f"{key_name(tenant_id)}: new version {version}")
    counts = runtime.phonebook().reseal_tenant(tenant_id)
    print(f"re-sealed {counts['resealed']}, already current {counts['current']}, unreadable {counts['unreadable']}")
    if counts["unreadable"]:
        print("some numbers did not open under their key version: keep the old versions enabled", file=sys.stderr)
        return 1
    print("no stored number needs an older version now: they may be disabled in the key store")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sendsecure.provision", description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", nargs="*", help="tenant definition files or folders (default: TENANT_DEFINITIONS)")
    parser.add_argument("--no-tables", action="store_true",
                        help="keys only (default when no storage is configured, as before `make run` starts Azurite)")
    parser.add_argument("--service-credential", metavar="ROLE", choices=("gateway", "book-sync"),
                        help="make (if missing) and hand over the service credential of ROLE (S9); nothing else")
    parser.add_argument("--retire-service-credential", metavar="ROLE", choices=("gateway", "book-sync"),
                        help="destroy the credential of ROLE in --slot (after a rotation to the other slot)")
    parser.add_argument("--slot", choices=("a", "b"), default="a", help="the credential's slot (rotation)")
    parser.add_argument("--credential-file", help="write the credential to this file (mode 0600), not stdout")
    parser.add_argument("--rotate-phone-key", metavar="TENANT",
                        help="make a new version of TENANT's phone key and re-seal its stored numbers under it (P4)")
    parser.add_argument("--reseal-phones", metavar="TENANT",
                        help="re-seal TENANT's stored numbers under its phone key's current version (after a "
                             "rotation made elsewhere, or one that stopped half-way)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)  # the SDK's request logs: URLs and headers

    from sendsecure.core.tenants import load_tenant_files
    from sendsecure.errors import ConfigurationError, DependencyUnavailable
    from sendsecure.settings import get_settings

    try:
        if args.service_credential:
            credential, _ = service_credential(args.service_credential, args.slot)
            _hand_over(credential, args.credential_file)
            return 0
        if args.rotate_phone_key or args.reseal_phones:
            return _reseal(args.rotate_phone_key or args.reseal_phones, rotate=bool(args.rotate_phone_key))
        if args.retire_service_credential:
            runtime.service_credentials().retire(args.retire_service_credential, args.slot)
            print(f"retired the {args.retire_service_credential} credential in slot {args.slot}")
            return 0
        settings = get_settings()
        paths = args.tenants or [p for p in settings.tenant_definitions.split(os.pathsep) if p]
        tenants = load_tenant_files(paths) if paths else []
        report = provision([t.id for t in tenants], tables=settings.tables_configured and not args.no_tables)
    except ConfigurationError as error:
        print(f"configuration: {error}", file=sys.stderr)
        return 2
    except DependencyUnavailable as error:
        print(f"provisioning failed: {error.detail}", file=sys.stderr)
        return 1
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
