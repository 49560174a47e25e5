"""One frozen settings object, read from the environment once per worker.

Every name here appears the same in ``local.settings.example.json`` and (later) in the
app settings that ``infra/`` deploys. The README lists them all with their defaults.
"""
from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass

from sendsecure.errors import ConfigurationError

MAIL_TRANSPORTS = ("graph", "smtp", "outbox")
KEY_STORES = ("local", "keyvault")
# How the adapters authenticate to Azure (docs/deployment.md): the app's managed identity, or the Azure CLI's
# login for an operator's command (provision, offboard) run from a workstation or the pipeline.
AZURE_CREDENTIALS = ("managedidentity", "azurecli")
# Set by the App Service platform that hosts Azure Functions (every plan), never by a local run.
AZURE_HOST_MARKERS = ("WEBSITE_INSTANCE_ID", "WEBSITE_SITE_NAME")


def _text(env: Mapping[str, str], name: str, default: str = "") -> str:
    return env.get(name, default).strip()


# The folder of function_app.py: the deployed package's root (in Azure the worker's working
# directory is not guaranteed to be it), against which relative file settings are read.
APP_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _app_paths(env: Mapping[str, str], name: str, default: str) -> str:
    """A file setting (one path, or several joined by ``os.pathsep``), each relative path made
    absolute against the package's root, so the app reads the same files whatever its cwd."""
    parts = [part.strip() for part in _text(env, name, default).split(os.pathsep)]
    return os.pathsep.join(part if not part or os.path.isabs(part) else os.path.join(APP_ROOT, part)
                           for part in parts)


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"setting {name} must be an integer") from None
    if value < minimum:
        raise ConfigurationError(f"setting {name} must be at least {minimum}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"setting {name} must be true or false")


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _text(env, name, default).lower()
    if value not in choices:
        raise ConfigurationError(f"setting {name} must be one of {', '.join(choices)}")
    return value


@dataclass(frozen=True)
class Settings:
    # Table Storage: a connection string locally (Azurite), an endpoint + managed identity in Azure.
    tables_connection_string: str
    tables_endpoint: str
    managed_identity_client_id: str
    table_prefix: str
    storage_timeout_seconds: int
    # On-send (V-O4) answers within 2 s whatever its dependencies do (issue 7.10): all its storage and
    # Key Vault calls end within this budget, then 503 with Retry-After; the rest is headroom.
    on_send_deadline_ms: int
    # Mail for login codes.
    mail_transport: str
    mail_from: str
    mail_outbox_dir: str
    mail_outbox_log_codes: bool
    smtp_host: str
    smtp_port: int
    smtp_starttls: bool
    smtp_username: str
    smtp_password: str
    graph_tenant_id: str
    graph_client_id: str
    graph_client_secret: str
    graph_authority_host: str
    graph_base_url: str
    # Keys.
    key_store: str
    local_key_dir: str
    key_vault_url: str
    # Login codes (SPEC A1).
    code_ttl_seconds: int
    code_max_attempts: int
    lockout_threshold: int
    lockout_base_seconds: int
    lockout_max_seconds: int
    issue_window_seconds: int
    issue_limit_per_mailbox: int
    issue_limit_per_client: int
    # Login hardening (issue 7 item 1, issue 8 items 1-2): per-client counts, mailbox-wide caps.
    lockout_mailbox_threshold: int
    issue_limit_per_mailbox_total: int
    verify_limit_per_client: int
    # Refused service credentials (security review item 3): audited per client group and window.
    service_auth_failure_limit: int
    service_auth_failure_window_seconds: int
    # Refused revokes (security review of the gateway and revoke): audited per person and window.
    revoke_refusal_limit: int
    revoke_refusal_window_seconds: int
    tenant_cache_seconds: int
    # Sessions (SPEC A3).
    session_idle_seconds: int
    session_absolute_seconds: int
    session_touch_seconds: int
    session_cache_seconds: int
    phone_cache_seconds: int
    # HTTP.
    max_body_bytes: int
    max_draft_bytes: int
    # Domain book and info (SPEC D3, D4, U3).
    domain_book_sources: str
    book_check_seconds: int
    manual_url: str
    release_notes_url: str
    # Development run.
    tenant_definitions: str
    app_version: str
    # Where we run (issue 8.7): in Azure the development back ends are refused unless allowed.
    running_in_azure: bool = False
    allow_development_backends: bool = False
    # Entra ID login (SPEC A2, T3; issue 12; docs/login.md "Entra ID").
    entra_authority: str = "https://login.microsoftonline.com"
    entra_ca_bundle: str = ""
    entra_api_client_id: str = ""
    entra_api_app_id_uri: str = ""
    entra_api_scope: str = "access_as_user"
    entra_addin_client_id: str = ""
    entra_leeway_seconds: int = 60
    entra_keys_max_age_seconds: int = 86400
    entra_keys_min_refresh_seconds: int = 60
    entra_timeout_seconds: int = 5
    entra_graph_check: bool = False
    entra_client_secret: str = ""
    # The domain book sync (SPEC D1, D3; issue 13; docs/domain-book-sync.md).
    book_sync_ca_bundle: str = ""           # PEM file of the CAs trusted for https sources; "" = certifi's
    book_sync_timeout_seconds: int = 30     # each fetch attempt as a whole
    book_sync_max_bytes: int = 32 * 1024 * 1024
    book_sync_attempts: int = 3
    book_sync_backoff_ms: int = 1000
    book_sync_deadline_seconds: int = 90    # a whole run's fetching, well under the Functions timeout
    book_max_shrink_percent: int = 20       # a source losing more of its entries is refused
    book_max_age_hours: int = 24            # an older book makes health ``degraded``
    book_grace_seconds: int = 600           # segments out of use are deleted after this
    # Recall after a revoke (SPEC S5; docs/sending.md): the Graph app with Mail.ReadWrite (application),
    # its token from the tenant's entra_tenant_id, else RECALL_TENANT_ID; Graph throttling waits at most
    # RECALL_MAX_SECONDS per revoke. No client id: recall is off (own-organisation copies are `failed`).
    recall_client_id: str = ""
    recall_client_secret: str = ""
    recall_tenant_id: str = ""
    recall_max_seconds: int = 20
    recall_ca_bundle: str = ""    # CA file for the recall's TLS (a TLS-inspecting proxy, tests); default: the system's
    # Audit log (SPEC S6, X7): days a row is kept; sealed days older than this are purged.
    audit_retention_days: int = 3650
    # Tenant onboarding (SPEC I2, docs/deployment.md): the App Configuration store infra/tenant.bicep writes to.
    tenant_config_endpoint: str = ""
    azure_credential: str = "managedidentity"

    @property
    def tables_configured(self) -> bool:
        return bool(self.tables_connection_string or self.tables_endpoint)


# The made-up sample domain book shipped for development (domainbook/variants.json lists it).
SAMPLE_BOOK_FOLDER = os.path.join(APP_ROOT, "domainbook", "sample")


def sample_book_sources(definition_file: str) -> list[str]:
    """The path sources of a domain book definition that lie in the made-up sample folder
    (``domainbook/sample/``), as written. A definition that cannot be read has none here: the sync
    reports it."""
    import json

    if not definition_file:
        return []
    try:
        with open(definition_file, encoding="utf-8") as file:
            definition = json.load(file)
    except (OSError, ValueError):
        return []
    folder = os.path.dirname(os.path.realpath(definition_file))
    sample = os.path.realpath(SAMPLE_BOOK_FOLDER)
    found = []
    for body in definition.values() if isinstance(definition, dict) else ():
        for source in (body.get("sources") or []) if isinstance(body, dict) else ():
            path = source.get("path") if isinstance(source, dict) else None
            if isinstance(path, str) and path and \
                    os.path.commonpath([sample, os.path.realpath(os.path.join(folder, path))]) == sample:
                found.append(path)
    return sorted(set(found))


def _refuse_development_backends(settings: Settings) -> Settings:
    """In Azure, keys on the instance's disk, codes in files and the made-up sample domain book
    are refused (issue 8.7; fresh-clone review item 5) unless ``ALLOW_DEVELOPMENT_BACKENDS=true``
    says it is meant (a throw-away test deployment). Only here, in Azure, is the book's
    definition file read while the settings load."""
    if not settings.running_in_azure or settings.allow_development_backends:
        return settings
    wrong = []
    if settings.key_store == "local":
        wrong.append("KEY_STORE=local (keys on the instance's disk; set KEY_STORE=keyvault and KEY_VAULT_URL)")
    if settings.mail_transport == "outbox":
        wrong.append("MAIL_TRANSPORT=outbox (login codes written to files; set graph or smtp)")
    samples = sample_book_sources(settings.domain_book_sources)
    if samples:
        wrong.append(f"DOMAIN_BOOK_SOURCES={os.path.relpath(settings.domain_book_sources, APP_ROOT)} lists the "
                     f"made-up sample domain book ({', '.join(samples)}; set it to your definition of the real "
                     "sources, docs/deployment.md \"Before the first deployment\")")
    if wrong:
        raise ConfigurationError(
            "running in Azure with development back ends: " + "; ".join(wrong)
            + ". Set ALLOW_DEVELOPMENT_BACKENDS=true only for a throw-away test deployment.")
    return settings


def from_environment(env: Mapping[str, str] | None = None) -> Settings:
    """Build the settings from ``env`` (default: ``os.environ``); raise on a bad value, and on
    development back ends when running in Azure."""
    env = os.environ if env is None else env
    return _refuse_development_backends(_read(env))


def _read(env: Mapping[str, str]) -> Settings:
    from sendsecure import __version__

    return Settings(
        tables_connection_string=_text(env, "TABLES_CONNECTION_STRING"),
        tables_endpoint=_text(env, "TABLES_ENDPOINT"),
        managed_identity_client_id=_text(env, "AZURE_CLIENT_ID"),
        table_prefix=_text(env, "TABLE_PREFIX"),
        storage_timeout_seconds=_int(env, "STORAGE_TIMEOUT_SECONDS", 5, 1),
        on_send_deadline_ms=_int(env, "ON_SEND_DEADLINE_MS", 1000, 100),
        mail_transport=_choice(env, "MAIL_TRANSPORT", "outbox", MAIL_TRANSPORTS),
        mail_from=_text(env, "MAIL_FROM", "no-reply@sendsecure.example"),
        mail_outbox_dir=_text(env, "MAIL_OUTBOX_DIR", ".run/outbox"),
        mail_outbox_log_codes=_bool(env, "MAIL_OUTBOX_LOG_CODES", False),
        smtp_host=_text(env, "SMTP_HOST", "127.0.0.1"),
        smtp_port=_int(env, "SMTP_PORT", 25, 1),
        smtp_starttls=_bool(env, "SMTP_STARTTLS", False),
        smtp_username=_text(env, "SMTP_USERNAME"),
        smtp_password=env.get("SMTP_PASSWORD", ""),
        graph_tenant_id=_text(env, "GRAPH_TENANT_ID"),
        graph_client_id=_text(env, "GRAPH_CLIENT_ID"),
        graph_client_secret=env.get("GRAPH_CLIENT_SECRET", ""),
        graph_authority_host=_text(env, "GRAPH_AUTHORITY_HOST", "https://login.microsoftonline.com").rstrip("/"),
        graph_base_url=_text(env, "GRAPH_BASE_URL", "https://graph.microsoft.com").rstrip("/"),
        key_store=_choice(env, "KEY_STORE", "local", KEY_STORES),
        local_key_dir=_text(env, "LOCAL_KEY_DIR", ".run/keys"),
        key_vault_url=_text(env, "KEY_VAULT_URL"),
        code_ttl_seconds=_int(env, "LOGIN_CODE_TTL_SECONDS", 600, 60),
        code_max_attempts=_int(env, "LOGIN_CODE_MAX_ATTEMPTS", 5, 1),
        lockout_threshold=_int(env, "LOGIN_LOCKOUT_THRESHOLD", 10, 1),
        lockout_base_seconds=_int(env, "LOGIN_LOCKOUT_SECONDS", 900, 1),
        lockout_max_seconds=_int(env, "LOGIN_LOCKOUT_MAX_SECONDS", 86400, 1),
        issue_window_seconds=_int(env, "LOGIN_ISSUE_WINDOW_SECONDS", 900, 1),
        issue_limit_per_mailbox=_int(env, "LOGIN_ISSUE_LIMIT_PER_MAILBOX", 5, 1),
        issue_limit_per_client=_int(env, "LOGIN_ISSUE_LIMIT_PER_CLIENT", 30, 1),
        lockout_mailbox_threshold=_int(env, "LOGIN_MAILBOX_LOCKOUT_THRESHOLD", 100, 1),
        issue_limit_per_mailbox_total=_int(env, "LOGIN_ISSUE_LIMIT_PER_MAILBOX_TOTAL", 20, 1),
        verify_limit_per_client=_int(env, "LOGIN_VERIFY_LIMIT_PER_CLIENT", 60, 1),
        service_auth_failure_limit=_int(env, "SERVICE_AUTH_FAILURE_LIMIT", 20, 1),
        service_auth_failure_window_seconds=_int(env, "SERVICE_AUTH_FAILURE_WINDOW_SECONDS", 900, 1),
        revoke_refusal_limit=_int(env, "REVOKE_REFUSAL_LIMIT", 20, 1),
        revoke_refusal_window_seconds=_int(env, "REVOKE_REFUSAL_WINDOW_SECONDS", 900, 1),
        tenant_cache_seconds=_int(env, "TENANT_CACHE_SECONDS", 60, 0),
        session_idle_seconds=_int(env, "SESSION_IDLE_DAYS", 30, 1) * 86400,
        session_absolute_seconds=_int(env, "SESSION_ABSOLUTE_DAYS", 90, 1) * 86400,
        session_touch_seconds=_int(env, "SESSION_TOUCH_SECONDS", 3600, 1),
        session_cache_seconds=_int(env, "SESSION_CACHE_SECONDS", 5, 0),
        phone_cache_seconds=_int(env, "PHONE_CACHE_SECONDS", 10, 0),
        max_body_bytes=_int(env, "MAX_BODY_BYTES", 65536, 1024),
        max_draft_bytes=_int(env, "MAX_DRAFT_BYTES", 1048576, 1024),
        domain_book_sources=_app_paths(env, "DOMAIN_BOOK_SOURCES", "domainbook/variants.json"),
        book_check_seconds=_int(env, "BOOK_CHECK_SECONDS", 10, 0),
        manual_url=_text(env, "MANUAL_URL", "https://sendsecure.example/handleiding"),
        release_notes_url=_text(env, "RELEASE_NOTES_URL", "https://sendsecure.example/release-notes"),
        tenant_definitions=_app_paths(env, "TENANT_DEFINITIONS", "tenants/demo.json"),
        app_version=_text(env, "APP_VERSION", __version__),
        running_in_azure=any(_text(env, marker) for marker in AZURE_HOST_MARKERS),
        allow_development_backends=_bool(env, "ALLOW_DEVELOPMENT_BACKENDS", False),
        entra_authority=_https(env, "ENTRA_AUTHORITY", "https://login.microsoftonline.com"),
        entra_ca_bundle=_text(env, "ENTRA_CA_BUNDLE"),
        entra_api_client_id=_text(env, "ENTRA_API_CLIENT_ID"),
        entra_api_app_id_uri=_text(env, "ENTRA_API_APP_ID_URI"),
        entra_api_scope=_text(env, "ENTRA_API_SCOPE", "access_as_user"),
        entra_addin_client_id=_text(env, "ENTRA_ADDIN_CLIENT_ID"),
        entra_leeway_seconds=_at_most(env, "ENTRA_LEEWAY_SECONDS", _int(env, "ENTRA_LEEWAY_SECONDS", 60, 0), 300),
        entra_keys_max_age_seconds=_at_most(env, "ENTRA_KEYS_MAX_AGE_SECONDS",
                                            _int(env, "ENTRA_KEYS_MAX_AGE_SECONDS", 86400, 300), 86400),
        entra_keys_min_refresh_seconds=_int(env, "ENTRA_KEYS_MIN_REFRESH_SECONDS", 60, 10),
        entra_timeout_seconds=_int(env, "ENTRA_TIMEOUT_SECONDS", 5, 1),
        entra_graph_check=_bool(env, "ENTRA_GRAPH_CHECK", False),
        entra_client_secret=env.get("ENTRA_CLIENT_SECRET", ""),
        book_sync_ca_bundle=_text(env, "BOOK_SYNC_CA_BUNDLE"),
        book_sync_timeout_seconds=_int(env, "BOOK_SYNC_TIMEOUT_SECONDS", 30, 1),
        book_sync_max_bytes=_int(env, "BOOK_SYNC_MAX_BYTES", 32 * 1024 * 1024, 1024),
        book_sync_attempts=_int(env, "BOOK_SYNC_ATTEMPTS", 3, 1),
        book_sync_backoff_ms=_int(env, "BOOK_SYNC_BACKOFF_MS", 1000, 0),
        # host.json functionTimeout is 120 s (an HTTP answer must come within 230 s): the writes
        # after the fetches need the rest.
        book_sync_deadline_seconds=_at_most(env, "BOOK_SYNC_DEADLINE_SECONDS",
                                            _int(env, "BOOK_SYNC_DEADLINE_SECONDS", 90, 1), 110),
        book_max_shrink_percent=_at_most(env, "BOOK_MAX_SHRINK_PERCENT",
                                         _int(env, "BOOK_MAX_SHRINK_PERCENT", 20, 0), 100),
        book_max_age_hours=_int(env, "BOOK_MAX_AGE_HOURS", 24, 1),
        book_grace_seconds=_int(env, "BOOK_GRACE_SECONDS", 600, 0),
        recall_client_id=_text(env, "RECALL_CLIENT_ID"),
        recall_client_secret=env.get("RECALL_CLIENT_SECRET", ""),
        recall_tenant_id=_text(env, "RECALL_TENANT_ID"),
        recall_max_seconds=_int(env, "RECALL_MAX_SECONDS", 20, 1),
        recall_ca_bundle=_text(env, "RECALL_CA_BUNDLE"),
        audit_retention_days=_int(env, "AUDIT_RETENTION_DAYS", 3650, 1),
        tenant_config_endpoint=_text(env, "TENANT_CONFIG_ENDPOINT").rstrip("/"),
        azure_credential=_choice(env, "AZURE_CREDENTIAL", "managedidentity", AZURE_CREDENTIALS),
    )


def _at_most(env: Mapping[str, str], name: str, value: int, maximum: int) -> int:
    if value > maximum:
        raise ConfigurationError(f"setting {name} must be at most {maximum}")
    return value


def _https(env: Mapping[str, str], name: str, default: str) -> str:
    value = _text(env, name, default).rstrip("/")
    if not value.lower().startswith("https://"):
        raise ConfigurationError(f"setting {name} must be an https URL")
    return value


@functools.cache
def get_settings() -> Settings:
    return from_environment()
