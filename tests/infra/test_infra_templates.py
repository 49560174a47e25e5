"""Infrastructure as code (SPEC I1, I2; issue 15 item 4): the Bicep under infra/ parses, checkov has
no finding that is not listed with a reason, and the conventions hold: described parameters,
@secure() secrets, role assignments named guid(scope, principal, role) in one module, no account
keys, and the app settings are exactly the settings the code reads."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from bicep import INFRA, ROOT, bicep_files, parse, relative, resources, without_extensions

from sendsecure import settings as settings_module
from sendsecure.adapters import storage
from sendsecure.core.tenants import load_tenant_files, parse_tenant

SKIPS_FILE = INFRA / "checkov-skips.json"
ROLES_MODULE = INFRA / "modules" / "roles.bicep"
MAIN = INFRA / "main.bicep"
FUNCTION_APP = INFRA / "modules" / "functionapp.bicep"
# Settings the App Service platform sets itself (AZURE_HOST_MARKERS) are read but never deployed.
PLATFORM_SET = set(settings_module.AZURE_HOST_MARKERS)
# Settings of the Functions host (not of the app), in functionapp.bicep's hostSettings.
HOST_SETTINGS = {
    "AzureWebJobsStorage__credential", "AzureWebJobsStorage__clientId", "AzureWebJobsStorage__blobServiceUri",
    "APPLICATIONINSIGHTS_CONNECTION_STRING", "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
}
SECRET_NAME = re.compile(r"(secret|password|passphrase|token|connectionstring|apikey)$", re.IGNORECASE)
KEY_VAULT_REFERENCE = "@Microsoft.KeyVault("
# Named like a secret but not one, with the reason.
NOT_SECRETS = {
    "appInsightsConnectionString": "an ingestion address and component id; ingestion needs an Entra token",
}


def test_i1_there_is_a_main_template_and_a_tenant_template():
    names = {relative(p) for p in bicep_files()}
    assert {"infra/main.bicep", "infra/tenant.bicep", "infra/modules/roles.bicep", "infra/entra/apps.bicep"} <= names


@pytest.mark.parametrize("path", bicep_files(), ids=relative)
def test_i1_every_bicep_file_parses(path):
    parsed = parse(path)
    assert parsed.get("resources") or parsed.get("modules"), f"{relative(path)} declares nothing"


# ----- checkov ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def checkov_report(tmp_path_factory) -> dict[str, Any]:
    """checkov over a copy of infra/ (the extension line left out, as for pycep), once per session."""
    copy = tmp_path_factory.mktemp("infra") / "infra"
    shutil.copytree(INFRA, copy)
    for path in copy.rglob("*.bicep"):
        path.write_text(without_extensions(path.read_text("utf-8")), "utf-8")
    checkov = Path(sys.executable).with_name("checkov")
    result = subprocess.run(
        [str(checkov), "--directory", str(copy), "--framework", "bicep", "--output", "json", "--quiet",
         "--compact", "--skip-download"],
        capture_output=True, text=True, timeout=300, cwd=copy,
        # No network: no update check against the package index, no platform (no API key is given).
        env={"PATH": "/usr/bin:/bin", "HOME": str(copy), "LOG_LEVEL": "ERROR", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true"},
    )
    assert result.returncode in (0, 1), f"checkov did not run: {result.stderr[-2000:]}"
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    (report,) = [r for r in reports if r.get("check_type") == "bicep"]
    return report


def skips() -> dict[str, dict[str, Any]]:
    data = json.loads(SKIPS_FILE.read_text("utf-8"))
    return {check: entry for check, entry in data.items() if not check.startswith("_")}


def test_i1_checkov_parses_every_template(checkov_report):
    assert checkov_report["summary"]["parsing_errors"] == 0
    assert checkov_report["summary"]["passed"] > 0


def test_i1_checkov_finds_nothing_that_is_not_listed_with_a_reason(checkov_report):
    listed = skips()
    unexplained = [
        f"{f['check_id']} {f['resource']} ({f['file_path']}): {f['check_name']}"
        for f in checkov_report["results"]["failed_checks"]
        if f["resource"] not in listed.get(f["check_id"], {}).get("resources", [])
    ]
    assert not unexplained, "checkov findings not in infra/checkov-skips.json:\n" + "\n".join(unexplained)


def test_i1_every_checkov_skip_has_a_reason_and_still_applies(checkov_report):
    failed = {(f["check_id"], f["resource"]) for f in checkov_report["results"]["failed_checks"]}
    for check, entry in skips().items():
        assert len(entry.get("reason", "")) >= 20, f"{check}: give the reason"
        for resource in entry["resources"]:
            assert (check, resource) in failed, f"{check} no longer fails for {resource}: drop it from the skips"


# ----- conventions --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", bicep_files(), ids=relative)
def test_i1_every_parameter_is_described_and_every_secret_is_secure(path):
    for name, param in (parse(path).get("parameters") or {}).items():
        decorators = {d["type"]: d.get("argument") for d in param["decorators"]}
        assert (decorators.get("description") or "").strip(), f"{relative(path)}: parameter {name} has no @description"
        if SECRET_NAME.search(name) and name not in NOT_SECRETS:
            assert "secure" in decorators, f"{relative(path)}: parameter {name} holds a secret: mark it @secure()"
        if "secure" in decorators:
            assert param.get("default") in (None, ""), f"{relative(path)}: secure parameter {name} has a default"


@pytest.mark.parametrize("path", bicep_files(), ids=relative)
def test_i1_no_account_keys_anywhere(path):
    text = path.read_text("utf-8")
    for pattern in (r"\blist\w*\s*\(", r"\.list\w*\(", r"AccountKey", r"SharedAccessSignature",
                    r"allowSharedKeyAccess:\s*true", r"disableLocalAuth:\s*false", r"\bprimaryKey\b"):
        assert not re.search(pattern, text), f"{relative(path)} uses {pattern}: no keys, identities only"


def test_i1_role_assignments_are_in_one_module_named_by_scope_principal_and_role():
    assignments = 0
    for path in bicep_files():
        for name, (kind, config) in resources(path).items():
            if kind != "Microsoft.Authorization/roleAssignments":
                continue
            assert path == ROLES_MODULE, f"{relative(path)}: role assignment {name} belongs in modules/roles.bicep"
            function = config["name"].get("function", {}) if isinstance(config["name"], dict) else {}
            assert function.get("type") == "guid", f"{name}: name it guid(scope.id, principal, role)"
            args = function["parameters"]
            assert args.get("extra_string_1") and args.get("extra_string_2"), f"{name}: guid() needs 3 parts"
            base = args["base_string"]["operator"]["operands"]
            assert (base["operand_1"], base["operand_2"]) == (config["scope"], "id"), \
                f"{name}: the first part of the guid is its scope's id"
            assert config["scope"] != "resourceGroup", f"{name}: scope it to the resource, not the group"
            assignments += 1
    assert assignments >= 6


def test_i1_storage_is_entra_only_with_tls12_and_no_public_blobs():
    (account,) = [c for k, c in resources(INFRA / "modules" / "storage.bicep").values()
                  if k == "Microsoft.Storage/storageAccounts"]
    properties = account["properties"]
    assert properties["allowSharedKeyAccess"] is False
    assert properties["minimumTlsVersion"] == "TLS1_2"
    assert properties["allowBlobPublicAccess"] is False
    assert properties["supportsHttpsTrafficOnly"] is True


def test_i1_key_vault_uses_rbac_and_purge_protection_and_its_secrets_expire():
    found = resources(INFRA / "modules" / "keyvault.bicep")
    (vault,) = [c for k, c in found.values() if k == "Microsoft.KeyVault/vaults"]
    assert vault["properties"]["enableRbacAuthorization"] is True
    assert vault["properties"]["enablePurgeProtection"] is True
    secrets = [c for k, c in found.values() if k == "Microsoft.KeyVault/vaults/secrets"]
    assert secrets
    for secret in secrets:
        assert secret["properties"]["attributes"]["exp"] and secret["properties"]["contentType"]


def test_i1_application_insights_takes_entra_tokens_only():
    params = parse(INFRA / "modules" / "monitoring.bicep")["modules"]["appInsights"]["config"]["params"]
    assert params["disableLocalAuth"] is True
    host = parse(FUNCTION_APP)["variables"]["hostSettings"]["value"]
    assert "Authorization=AAD" in json.dumps(host["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"])


def test_i1_azure_verified_modules_are_pinned_to_a_version():
    pattern = re.compile(r"'br/public:avm/(res|ptn|utl)/[a-z0-9-]+/[a-z0-9-]+:(\S+)'")
    used = []
    for path in bicep_files():
        for match in pattern.finditer(path.read_text("utf-8")):
            assert re.fullmatch(r"\d+\.\d+\.\d+", match.group(2)), f"{relative(path)}: pin {match.group(0)}"
            used.append(match.group(0).strip("'"))
        assert "br/public:" not in pattern.sub("", path.read_text("utf-8")), f"{relative(path)}: unpinned module"
    assert used
    doc = (ROOT / "docs" / "deployment.md").read_text("utf-8")
    for module in used:
        assert module.removeprefix("br/public:") in doc, f"docs/deployment.md does not list {module}"


# ----- app settings ----------------------------------------------------------------------------


class _Recorder(dict):
    """An empty environment that notes every name the settings object asks for."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def get(self, key, default=None):
        self.names.add(key)
        return default

    def __getitem__(self, key):
        self.names.add(key)
        raise KeyError(key)

    def __contains__(self, key) -> bool:
        self.names.add(key)
        return False


def settings_the_code_reads() -> set[str]:
    """Every name sendsecure/settings.py reads (found by reading it, so settings added later count),
    plus the %NAME% binding expressions of the triggers (the host resolves them from app settings)."""
    env = _Recorder()
    settings_module._read(env)
    bindings = {m for path in (ROOT / "functions").glob("*.py")
                for m in re.findall(r"%([A-Z][A-Z0-9_]*)%", path.read_text("utf-8"))}
    return (env.names | bindings) - PLATFORM_SET


def app_settings() -> dict[str, Any]:
    return parse(MAIN)["variables"]["appSettings"]["value"]


def test_i1_every_setting_the_code_reads_is_set_by_the_template():
    missing = sorted(settings_the_code_reads() - set(app_settings()))
    assert not missing, ("settings read by sendsecure/settings.py (or a trigger) but not set in infra/main.bicep "
                         f"appSettings: {', '.join(missing)}")


def test_i1_every_setting_the_template_sets_is_read_by_the_code():
    unread = sorted(set(app_settings()) - settings_the_code_reads())
    assert not unread, f"infra/main.bicep sets settings the code does not read: {', '.join(unread)}"
    host = set(parse(FUNCTION_APP)["variables"]["hostSettings"]["value"])
    assert host == HOST_SETTINGS, f"host settings differ: {sorted(host ^ HOST_SETTINGS)}"
    assert "union(hostSettings, appSettings)" in FUNCTION_APP.read_text("utf-8")


def test_i1_host_storage_uses_the_identity():
    host = parse(FUNCTION_APP)["variables"]["hostSettings"]["value"]
    assert host["AzureWebJobsStorage__credential"] == "managedidentity"
    assert "AzureWebJobsStorage" not in host  # no connection string form


def test_i1_no_secret_in_any_app_setting():
    values = app_settings()
    assert values["TABLES_CONNECTION_STRING"] == "", "Azure uses TABLES_ENDPOINT and the identity"
    secure = {n for n, p in parse(MAIN)["parameters"].items() if any(d["type"] == "secure" for d in p["decorators"])}
    for name, value in values.items():
        text = json.dumps(value)
        if SECRET_NAME.search(name.replace("_", "")):
            assert value == "" or KEY_VAULT_REFERENCE in text, f"{name}: only a Key Vault reference, never the secret"
        for param in secure:
            assert f'"{param}"' not in text, f"{name} takes the secure parameter {param}: put it in Key Vault"


def test_i1_the_tables_are_the_apps_tables():
    template = parse(MAIN)["variables"]["tableNames"]["value"]
    missing, extra = sorted(set(storage.TABLE_NAMES) - set(template)), sorted(set(template) - set(storage.TABLE_NAMES))
    assert not missing and not extra, (
        f"infra/main.bicep tableNames differ from sendsecure/adapters/storage.py TABLE_NAMES: missing {missing}, "
        f"extra {extra}")


# ----- tenants -----------------------------------------------------------------------------------


TENANT_FILES = sorted((INFRA / "tenants").glob("*.json"))


@pytest.mark.parametrize("path", TENANT_FILES, ids=lambda p: p.name)
def test_i2_every_tenant_parameter_file_validates_with_the_apps_validator(path):
    tenant = parse_tenant(json.loads(path.read_text("utf-8")), f"{path.name}: ")
    assert path.stem == tenant.id, f"{path.name}: name the file after the tenant id ({tenant.id}.json)"


def test_i2_tenant_ids_and_domains_are_unique_across_the_files():
    assert TENANT_FILES
    assert len(load_tenant_files([INFRA / "tenants"])) == len(TENANT_FILES)


def test_i2_fresh_clone_3_the_shipped_tenant_files_are_the_demo_tenants_administrators_included():
    # docs/deployment.md: the files shipped in infra/tenants are the demo tenants of tenants/demo.json
    # (a tenant deployed without its administrators has nobody who may read its audit log).
    demo = {tenant["id"]: tenant for tenant in json.loads((ROOT / "tenants" / "demo.json").read_text("utf-8"))}
    shipped = {path.stem: json.loads(path.read_text("utf-8")) for path in TENANT_FILES}
    assert shipped == demo


def test_i2_the_tenant_template_writes_the_key_the_app_reads():
    from sendsecure.adapters.appconfig import CONTENT_TYPE, KEY_PREFIX

    kinds = sorted(kind for kind, _ in resources(INFRA / "tenant.bicep").values())
    # The store (existing) and one key-value: a tenant deployment changes nothing else.
    assert kinds == ["Microsoft.AppConfiguration/configurationStores",
                     "Microsoft.AppConfiguration/configurationStores/keyValues"]
    text = (INFRA / "tenant.bicep").read_text("utf-8")
    assert f"name: '{KEY_PREFIX}${{tenantDefinition.id}}'" in text
    assert f"contentType: '{CONTENT_TYPE}'" in text
    assert "value: string(tenantDefinition)" in text
