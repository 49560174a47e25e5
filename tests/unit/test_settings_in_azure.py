"""Issue 8 item 7: the development back ends are refused when running in Azure, unless allowed."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sendsecure.errors import ConfigurationError
from sendsecure.settings import from_environment

AZURE = {"WEBSITE_INSTANCE_ID": "5f8d1c2e9a7b", "WEBSITE_SITE_NAME": "sendsecure-prod"}
PRODUCTION = {"KEY_STORE": "keyvault", "KEY_VAULT_URL": "https://sendsecure.vault.azure.net",
              "MAIL_TRANSPORT": "graph", "DOMAIN_BOOK_SOURCES": ""}


@pytest.mark.parametrize("marker", ["WEBSITE_INSTANCE_ID", "WEBSITE_SITE_NAME"])
@pytest.mark.parametrize("backend, named", [
    ({"KEY_STORE": "local", "MAIL_TRANSPORT": "graph"}, "KEY_STORE=local"),
    ({"KEY_STORE": "keyvault", "MAIL_TRANSPORT": "outbox"}, "MAIL_TRANSPORT=outbox"),
    ({}, "KEY_STORE=local"),  # the defaults are the development ones
])
def test_issue8_item7_development_backends_fail_start_up_in_azure(marker, backend, named):
    with pytest.raises(ConfigurationError) as raised:
        from_environment({marker: AZURE[marker], **backend})
    assert named in str(raised.value) and "ALLOW_DEVELOPMENT_BACKENDS" in str(raised.value)


def test_issue8_item7_both_wrong_back_ends_are_named_at_once():
    with pytest.raises(ConfigurationError) as raised:
        from_environment(AZURE)
    assert "KEY_STORE=local" in str(raised.value) and "MAIL_TRANSPORT=outbox" in str(raised.value)


def test_issue8_item7_production_backends_start_in_azure():
    settings = from_environment({**AZURE, **PRODUCTION})
    assert settings.running_in_azure and settings.key_store == "keyvault"


def test_issue8_item7_an_explicit_setting_allows_them_in_azure():
    settings = from_environment({**AZURE, "ALLOW_DEVELOPMENT_BACKENDS": "true"})
    assert settings.key_store == "local" and settings.mail_transport == "outbox"


def test_issue8_item7_development_backends_stay_the_local_default():
    settings = from_environment({})
    assert not settings.running_in_azure and settings.key_store == "local" and settings.mail_transport == "outbox"


def test_issue8_item7_the_function_app_does_not_start_in_azure_with_development_backends():
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEY_", "MAIL_", "ALLOW_"))}
    started = subprocess.run([sys.executable, "-c", "import function_app"], cwd=root, capture_output=True,
                             text=True, env={**env, "WEBSITE_SITE_NAME": "sendsecure-prod"}, timeout=60)
    assert started.returncode != 0
    assert "ConfigurationError" in started.stderr and "KEY_STORE=local" in started.stderr
    allowed = subprocess.run([sys.executable, "-c", "import function_app"], cwd=root, capture_output=True,
                             text=True, env={**env, "WEBSITE_SITE_NAME": "sendsecure-prod",
                                             "ALLOW_DEVELOPMENT_BACKENDS": "true"}, timeout=60)
    assert allowed.returncode == 0, allowed.stderr


def test_i1_relative_file_settings_are_read_against_the_package_root_not_the_working_directory(tmp_path,
                                                                                              monkeypatch):
    monkeypatch.chdir(tmp_path)                       # Azure does not promise the package as cwd
    settings = from_environment({"DOMAIN_BOOK_SOURCES": "domainbook/variants.json",
                                 "TENANT_DEFINITIONS": f"tenants/demo.json{os.pathsep}/srv/extra.json"})
    assert os.path.isfile(settings.domain_book_sources)
    first, second = settings.tenant_definitions.split(os.pathsep)
    assert os.path.isfile(first) and second == "/srv/extra.json"


# ----- fresh-clone review item 5: the made-up sample domain book is a development back end ------------


def real_definition(tmp_path) -> str:
    path = tmp_path / "variants.json"
    path.write_text(json.dumps({"zorgmail": {"sources": [
        {"url": "https://www.zorgmail.nl/domeinboek.txt", "format": "zorgmail_text", "network": "zorgmail"},
        {"path": "own/address-book.csv", "format": "address_book_csv"}]}}), "utf-8")
    return str(path)


@pytest.mark.parametrize("sources", [None, "domainbook/variants.json"])  # None: the default
def test_fresh_clone_5_the_sample_domain_book_fails_start_up_in_azure(sources):
    env = {**AZURE, **PRODUCTION}
    del env["DOMAIN_BOOK_SOURCES"]
    if sources is not None:
        env["DOMAIN_BOOK_SOURCES"] = sources
    with pytest.raises(ConfigurationError) as raised:
        from_environment(env)
    message = str(raised.value)
    assert "DOMAIN_BOOK_SOURCES=domainbook/variants.json" in message and "sample/zorgmail.txt" in message
    assert "ALLOW_DEVELOPMENT_BACKENDS" in message


def test_fresh_clone_5_a_definition_of_real_sources_starts_in_azure(tmp_path):
    settings = from_environment({**AZURE, **PRODUCTION, "DOMAIN_BOOK_SOURCES": real_definition(tmp_path)})
    assert settings.domain_book_sources.endswith("variants.json")


def test_fresh_clone_5_a_definition_that_reaches_into_the_sample_folder_is_refused(tmp_path):
    sample = Path(__file__).resolve().parents[2] / "domainbook" / "sample" / "sigra.txt"
    path = tmp_path / "variants.json"
    path.write_text(json.dumps({"sigra": {"sources": [
        {"path": str(sample), "format": "zorgmail_text", "network": "sigra"}]}}), "utf-8")
    with pytest.raises(ConfigurationError, match="sample domain book"):
        from_environment({**AZURE, **PRODUCTION, "DOMAIN_BOOK_SOURCES": str(path)})


def test_fresh_clone_5_the_sample_book_stays_for_local_runs_and_an_allowed_test_deployment():
    assert not from_environment({}).running_in_azure   # make run, the tests: the sample is the default
    allowed = from_environment({**AZURE, **PRODUCTION, "DOMAIN_BOOK_SOURCES": "domainbook/variants.json",
                                "ALLOW_DEVELOPMENT_BACKENDS": "true"})
    assert allowed.domain_book_sources.endswith(os.path.join("domainbook", "variants.json"))
