"""Tenant definitions (SPEC T1-T5): the documented format, validated strictly.

A definition is a JSON object; a file holds one object or a list of them. The same file is
what infrastructure onboarding deploys (one parameter file per tenant under ``infra/tenants``).

    {
      "id": "demo-zorg",                       # 3-40 chars: a-z, 0-9, '-'
      "name": "Demo Zorggroep",
      "mail_domains": ["demo-zorg.example"],   # the tenant's own mail domains (T5)
      "installation_type": "viewer_sms_optional",
      "domain_book_variant": "zorgmail",
      "login_method": "email_code",            # optional, default email_code (T3)
      "security_by_default": true,             # optional, default false (T4)
      "entra_tenant_id": null,                 # GUID; required when login_method is entra
      "administrators": ["beheer@demo-zorg.example"]  # optional, default none: mailboxes that may
                                               # read and verify the tenant's audit log (S6, X7);
                                               # each within one of the mail_domains, no +tag
    }

Unknown fields are errors, so a typo never silently falls back to a default.
"""
from __future__ import annotations

import enum
import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sendsecure.core.addresses import InvalidAddress, domain_of, normalise_domain, normalise_mailbox
from sendsecure.errors import ConfigurationError


class InstallationType(enum.StrEnum):
    VIEWER_SMS_REQUIRED = "viewer_sms_required"
    VIEWER_SMS_OPTIONAL = "viewer_sms_optional"
    VIEWER = "viewer"
    STANDARD = "standard"


class DomainBookVariant(enum.StrEnum):
    ZORGMAIL = "zorgmail"
    SIGRA = "sigra"


class LoginMethod(enum.StrEnum):
    EMAIL_CODE = "email_code"
    ENTRA = "entra"


_ID_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,38})[a-z0-9]$")
_FIELDS = {
    "id", "name", "mail_domains", "installation_type", "domain_book_variant",
    "login_method", "security_by_default", "entra_tenant_id", "administrators",
}
MAX_ADMINISTRATORS = 50


@dataclass(frozen=True)
class Tenant:
    id: str
    name: str
    mail_domains: tuple[str, ...]
    installation_type: InstallationType
    domain_book_variant: DomainBookVariant
    login_method: LoginMethod = LoginMethod.EMAIL_CODE
    security_by_default: bool = False
    entra_tenant_id: str | None = None
    administrators: tuple[str, ...] = ()   # normalised mailboxes (audit log readers)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "mail_domains": list(self.mail_domains),
            "installation_type": self.installation_type.value,
            "domain_book_variant": self.domain_book_variant.value,
            "login_method": self.login_method.value,
            "security_by_default": self.security_by_default,
            "entra_tenant_id": self.entra_tenant_id,
            "administrators": list(self.administrators),
        }


def _enum(cls: type[enum.Enum], data: dict[str, Any], name: str, where: str, default: Any = None) -> Any:
    value = data.get(name, default)
    if value is None:
        raise ConfigurationError(f"{where}{name}: is required")
    try:
        return cls(value)
    except ValueError:
        choices = ", ".join(member.value for member in cls)
        raise ConfigurationError(f"{where}{name}: {value!r} is not one of {choices}") from None


def parse_tenant(data: Any, where: str = "") -> Tenant:
    """Validate one definition; ``ConfigurationError`` names the offending field."""
    if not isinstance(data, dict):
        raise ConfigurationError(f"{where}a tenant definition must be a JSON object")
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise ConfigurationError(f"{where}{unknown[0]}: unknown field")
    tenant_id = data.get("id")
    if not isinstance(tenant_id, str) or not _ID_RE.fullmatch(tenant_id):
        raise ConfigurationError(f"{where}id: must be 3-40 characters of a-z, 0-9 and '-'")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise ConfigurationError(f"{where}name: must be a non-empty string of at most 200 characters")
    domains = data.get("mail_domains")
    if not isinstance(domains, list) or not domains:
        raise ConfigurationError(f"{where}mail_domains: must be a non-empty list of domains")
    normalised: list[str] = []
    for index, domain in enumerate(domains):
        if not isinstance(domain, str):
            raise ConfigurationError(f"{where}mail_domains[{index}]: must be a string")
        try:
            value = normalise_domain(domain)
        except InvalidAddress as error:
            raise ConfigurationError(f"{where}mail_domains[{index}]: {error}") from None
        if value in normalised:
            raise ConfigurationError(f"{where}mail_domains[{index}]: listed twice")
        normalised.append(value)
    security = data.get("security_by_default", False)
    if not isinstance(security, bool):
        raise ConfigurationError(f"{where}security_by_default: must be true or false")
    login_method = _enum(LoginMethod, data, "login_method", where, LoginMethod.EMAIL_CODE.value)
    entra = data.get("entra_tenant_id")
    if entra is not None:
        try:
            entra = str(uuid.UUID(str(entra)))
        except ValueError:
            raise ConfigurationError(f"{where}entra_tenant_id: must be a GUID") from None
    if login_method is LoginMethod.ENTRA and entra is None:
        raise ConfigurationError(f"{where}entra_tenant_id: is required when login_method is entra")
    administrators = _administrators(data.get("administrators", []), normalised, where)
    return Tenant(
        id=tenant_id,
        name=name.strip(),
        mail_domains=tuple(normalised),
        installation_type=_enum(InstallationType, data, "installation_type", where),
        domain_book_variant=_enum(DomainBookVariant, data, "domain_book_variant", where),
        login_method=login_method,
        security_by_default=security,
        entra_tenant_id=entra,
        administrators=administrators,
    )


def _administrators(value: Any, domains: list[str], where: str) -> tuple[str, ...]:
    """Mailboxes of the tenant's own domains, normalised, each once; no sub-address (a session is
    always the base mailbox, so ``jan+x@`` could never match)."""
    if not isinstance(value, list) or len(value) > MAX_ADMINISTRATORS:
        raise ConfigurationError(f"{where}administrators: must be a list of at most {MAX_ADMINISTRATORS} mailboxes")
    found: list[str] = []
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise ConfigurationError(f"{where}administrators[{index}]: must be a string")
        try:
            mailbox = normalise_mailbox(item)
        except InvalidAddress as error:
            raise ConfigurationError(f"{where}administrators[{index}]: {error}") from None
        if "+" in mailbox.partition("@")[0]:
            raise ConfigurationError(f"{where}administrators[{index}]: give the mailbox without a +tag")
        if domain_of(mailbox) not in domains:
            raise ConfigurationError(f"{where}administrators[{index}]: not within the tenant's mail_domains")
        if mailbox in found:
            raise ConfigurationError(f"{where}administrators[{index}]: listed twice")
        found.append(mailbox)
    return tuple(found)


def entra_owner(tenants: Iterable[Tenant], tenant: Tenant) -> str | None:
    """The id of another tenant with the same ``entra_tenant_id``, if any: an Entra token names its
    directory (``tid``), and the login must find one tenant for it (docs/login.md)."""
    if tenant.entra_tenant_id is None:
        return None
    return next((t.id for t in tenants if t.id != tenant.id and t.entra_tenant_id == tenant.entra_tenant_id), None)


def parse_tenants(items: Iterable[Any], where: str = "") -> list[Tenant]:
    """Several definitions; ids and mail domains must be unique across all of them."""
    tenants: list[Tenant] = []
    owners: dict[str, str] = {}
    for index, item in enumerate(items):
        tenant = parse_tenant(item, f"{where}[{index}].")
        if any(t.id == tenant.id for t in tenants):
            raise ConfigurationError(f"{where}[{index}].id: {tenant.id!r} is defined twice")
        for domain in tenant.mail_domains:
            if domain in owners:
                raise ConfigurationError(f"{where}[{index}].mail_domains: {domain} already belongs to {owners[domain]}")
            owners[domain] = tenant.id
        other = entra_owner(tenants, tenant)
        if other is not None:
            raise ConfigurationError(f"{where}[{index}].entra_tenant_id: already belongs to {other}")
        tenants.append(tenant)
    return tenants


def load_tenant_files(paths: Iterable[str | Path]) -> list[Tenant]:
    """Read definitions from files (each one object or a list), or every ``*.json`` in a folder."""
    items: list[Any] = []
    for raw in paths:
        path = Path(raw)
        files = sorted(path.glob("*.json")) if path.is_dir() else [path]
        for file in files:
            try:
                data = json.loads(file.read_text("utf-8"))
            except FileNotFoundError:
                raise ConfigurationError(f"{file}: tenant definition file not found") from None
            except ValueError:
                raise ConfigurationError(f"{file}: not valid JSON") from None
            items.extend(data if isinstance(data, list) else [data])
    return parse_tenants(items, "tenants")
