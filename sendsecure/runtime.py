"""Composition: one cached factory per client and service, built on first use in a worker.

Triggers ask here for what they need; nothing is built at import. ``reset()`` forgets all of
it (tests change settings between cases; a worker never calls it).
"""
from __future__ import annotations

import functools

from sendsecure.settings import get_settings


@functools.cache
def tables():
    from sendsecure.adapters.storage import TableStore

    return TableStore(get_settings())


@functools.cache
def key_store():
    settings = get_settings()
    if settings.key_store == "keyvault":
        from sendsecure.adapters.keyvault import key_vault_store_from_settings
        from sendsecure.errors import ConfigurationError

        if not settings.key_vault_url:
            raise ConfigurationError("KEY_STORE=keyvault needs KEY_VAULT_URL")
        return key_vault_store_from_settings(settings.key_vault_url, settings.managed_identity_client_id,
                                             settings.azure_credential)
    from sendsecure.adapters.keys import LocalKeyStore

    return LocalKeyStore(settings.local_key_dir)


@functools.cache
def derived_keys():
    from sendsecure.adapters.keys import DerivedKeys

    return DerivedKeys(key_store())


@functools.cache
def pseudonyms():
    from sendsecure.adapters.keys import Pseudonyms

    return Pseudonyms(derived_keys())


@functools.cache
def mail_transport():
    settings = get_settings()
    if settings.mail_transport == "graph":
        from sendsecure.adapters.mail.graph import GraphTransport

        return GraphTransport(
            tenant_id=settings.graph_tenant_id, client_id=settings.graph_client_id,
            client_secret=settings.graph_client_secret, authority_host=settings.graph_authority_host,
            graph_base_url=settings.graph_base_url, timeout=settings.storage_timeout_seconds * 2,
        )
    if settings.mail_transport == "smtp":
        from sendsecure.adapters.mail.smtp import SmtpTransport

        return SmtpTransport(
            host=settings.smtp_host, port=settings.smtp_port, starttls=settings.smtp_starttls,
            username=settings.smtp_username, password=settings.smtp_password,
            timeout=settings.storage_timeout_seconds * 2,
        )
    from sendsecure.adapters.mail.outbox import OutboxTransport

    return OutboxTransport(settings.mail_outbox_dir, log_codes=settings.mail_outbox_log_codes)


@functools.cache
def tenant_directory():
    from sendsecure.tenantstore import TenantDirectory

    return TenantDirectory(tables(), cache_seconds=get_settings().tenant_cache_seconds, audit_log=audit_log())


@functools.cache
def tenant_source():
    """The App Configuration store tenant onboarding writes to (SPEC I2); None when not configured."""
    settings = get_settings()
    if not settings.tenant_config_endpoint:
        return None
    from sendsecure.adapters.appconfig import tenant_source_from_settings
    from sendsecure.adapters.storage import azure_credential

    credential = azure_credential(settings.azure_credential, settings.managed_identity_client_id)
    return tenant_source_from_settings(settings.tenant_config_endpoint, credential, settings.storage_timeout_seconds)


@functools.cache
def audit_log():
    from sendsecure.audit import AuditLog

    return AuditLog(tables(), derived_keys())


@functools.cache
def sessions():
    from sendsecure.sessions import SessionPolicy, SessionService

    s = get_settings()
    return SessionService(tables(), SessionPolicy(
        idle_seconds=s.session_idle_seconds, absolute_seconds=s.session_absolute_seconds,
        touch_seconds=s.session_touch_seconds, cache_seconds=s.session_cache_seconds,
    ), tenants=tenant_directory(), audit_log=audit_log(), pseudonyms=pseudonyms())


@functools.cache
def email_login():
    from sendsecure.core.logincodes import IssueWindow, LockoutPolicy
    from sendsecure.login import EmailCodeLogin, LoginPolicy

    s = get_settings()
    policy = LoginPolicy(
        code_ttl_seconds=s.code_ttl_seconds,
        code_max_attempts=s.code_max_attempts,
        lockout=LockoutPolicy(s.lockout_threshold, s.lockout_base_seconds, s.lockout_max_seconds),
        mailbox_lockout=LockoutPolicy(s.lockout_mailbox_threshold, s.lockout_base_seconds, s.lockout_max_seconds),
        per_mailbox=IssueWindow(s.issue_limit_per_mailbox, s.issue_window_seconds),
        per_mailbox_total=IssueWindow(s.issue_limit_per_mailbox_total, s.issue_window_seconds),
        per_client=IssueWindow(s.issue_limit_per_client, s.issue_window_seconds),
        verify_per_client=IssueWindow(s.verify_limit_per_client, s.issue_window_seconds),
        mail_from=s.mail_from,
    )
    return EmailCodeLogin(tables=tables(), tenants=tenant_directory(), sessions=sessions(), mail=mail_transport(),
                          pseudonyms=pseudonyms(), keys=derived_keys(), audit_log=audit_log(), policy=policy)


@functools.cache
def books():
    from sendsecure.bookstore import DomainBookStore

    return DomainBookStore(tables(), check_seconds=get_settings().book_check_seconds)


@functools.cache
def validation():
    from sendsecure.validation import DraftValidation

    return DraftValidation(tenant_directory(), books(), phonebook())


@functools.cache
def user_settings():
    from sendsecure.usersettings import UserSettingsStore

    return UserSettingsStore(tables(), pseudonyms())


@functools.cache
def phonebook():
    from sendsecure.phonebook import PhoneBook

    return PhoneBook(tables(), key_store(), pseudonyms(), audit_log(), get_settings().phone_cache_seconds)


@functools.cache
def envelopes():
    from sendsecure.envelopes import EnvelopeStore

    return EnvelopeStore(tables(), pseudonyms())


@functools.cache
def signing():
    from sendsecure.sending import Signing

    return Signing(key_store())


@functools.cache
def sending():
    from sendsecure.sending import SendService

    return SendService(validation(), envelopes(), phonebook(), signing(), derived_keys(), audit_log(), pseudonyms())


@functools.cache
def service_credentials():
    from sendsecure.servicecredentials import ServiceCredentials

    return ServiceCredentials(key_store())


@functools.cache
def service_refusals():
    from sendsecure.core.logincodes import IssueWindow
    from sendsecure.servicecredentials import RefusalAudit

    s = get_settings()
    return RefusalAudit(tables(), audit_log(), pseudonyms(),
                        IssueWindow(s.service_auth_failure_limit, s.service_auth_failure_window_seconds))


@functools.cache
def gateway():
    from sendsecure.gatewayservice import GatewayService

    return GatewayService(envelopes(), tables(), phonebook(), pseudonyms(), derived_keys(), audit_log())


@functools.cache
def entra_keys():
    """Entra ID's signing keys, one cache per worker (None until the API's registration is set)."""
    from sendsecure.adapters.jwks import EntraKeys

    s = get_settings()
    if not (s.entra_api_client_id or s.entra_api_app_id_uri):
        return None
    return EntraKeys(s.entra_authority, ca_bundle=s.entra_ca_bundle or None, timeout=s.entra_timeout_seconds,
                     max_age=s.entra_keys_max_age_seconds, min_refresh=s.entra_keys_min_refresh_seconds)


@functools.cache
def entra_graph():
    """The optional Graph check of an Entra login (``ENTRA_GRAPH_CHECK``), or None."""
    s = get_settings()
    if not s.entra_graph_check:
        return None
    from sendsecure.adapters.graphme import GraphProfiles

    return GraphProfiles(authority=s.entra_authority, client_id=s.entra_api_client_id,
                         client_secret=s.entra_client_secret, graph_base_url=s.graph_base_url,
                         ca_bundle=s.entra_ca_bundle or None, timeout=s.entra_timeout_seconds)


@functools.cache
def entra_login():
    from sendsecure.core.entratoken import TokenPolicy
    from sendsecure.core.logincodes import IssueWindow
    from sendsecure.entra import EntraLogin, EntraPolicy

    s = get_settings()
    policy = EntraPolicy(
        token=TokenPolicy(audiences=tuple(a for a in (s.entra_api_client_id, s.entra_api_app_id_uri) if a),
                          scope=s.entra_api_scope, client_id=s.entra_addin_client_id or None,
                          leeway_seconds=s.entra_leeway_seconds),
        per_client=IssueWindow(s.verify_limit_per_client, s.issue_window_seconds),
    )
    return EntraLogin(tables=tables(), tenants=tenant_directory(), sessions=sessions(), keys=entra_keys(),
                      graph=entra_graph(), pseudonyms=pseudonyms(), audit_log=audit_log(), policy=policy,
                      holders=mailbox_holders())


@functools.cache
def mailbox_holders():
    from sendsecure.holders import MailboxHolders

    return MailboxHolders(tables(), pseudonyms(), audit_log(), sessions(), phonebook(), user_settings())


@functools.cache
def book_sync():
    from sendsecure.booksync import BookSync

    return BookSync.from_settings(books())


@functools.cache
def recall():
    """The Graph recall (S5), or None when no recall app is configured."""
    settings = get_settings()
    if not settings.recall_client_id:
        return None
    from sendsecure.adapters.recall import GraphRecall

    return GraphRecall(client_id=settings.recall_client_id, client_secret=settings.recall_client_secret,
                       authority_host=settings.graph_authority_host, graph_base_url=settings.graph_base_url,
                       timeout=settings.storage_timeout_seconds * 2, max_wait_seconds=settings.recall_max_seconds,
                       ca_bundle=settings.recall_ca_bundle or None)


@functools.cache
def revocation():
    from sendsecure.core.logincodes import IssueWindow
    from sendsecure.refusals import RefusalBudget
    from sendsecure.revoke import REVOKE_REFUSALS, RevokeService

    s = get_settings()
    return RevokeService(envelopes(), tables(), tenant_directory(), recall(), audit_log(), pseudonyms(),
                         recall_tenant_id=s.recall_tenant_id, refusals=RefusalBudget(
                             tables(), REVOKE_REFUSALS,
                             IssueWindow(s.revoke_refusal_limit, s.revoke_refusal_window_seconds)))


@functools.cache
def audit_trail():
    from sendsecure.audit.trail import AuditTrail

    return AuditTrail(tables(), derived_keys(), signing())


@functools.cache
def audit_administration():
    from sendsecure.audit.admin import AuditAdministration

    return AuditAdministration(audit_trail(), tenant_directory(), audit_log(), pseudonyms())


_FACTORIES = (derived_keys, phonebook, user_settings, books, validation, tables, key_store, pseudonyms, mail_transport,
              tenant_directory, audit_log, sessions, email_login, envelopes, signing, sending,
              service_credentials, service_refusals, gateway, entra_keys, entra_graph, entra_login, mailbox_holders,
              book_sync, recall, revocation, audit_trail, audit_administration, tenant_source)


def reset() -> None:
    get_settings.cache_clear()
    for factory in _FACTORIES:
        factory.cache_clear()
