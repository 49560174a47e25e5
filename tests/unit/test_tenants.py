"""SPEC T1-T5: tenant definitions are parsed strictly; every error names its field."""
from __future__ import annotations

import json

import pytest

from sendsecure.core.tenants import (
    DomainBookVariant,
    InstallationType,
    LoginMethod,
    Tenant,
    load_tenant_files,
    parse_tenant,
    parse_tenants,
)
from sendsecure.errors import ConfigurationError

ENTRA_GUID = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
_DROP = object()  # marks a field to leave out of the definition


def definition(**changes):
    data = {
        "id": "demo-zorg",
        "name": "Demo Zorggroep",
        "mail_domains": ["demo-zorg.example"],
        "installation_type": "viewer_sms_optional",
        "domain_book_variant": "zorgmail",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not _DROP}


def error_of(data) -> str:
    with pytest.raises(ConfigurationError) as info:
        parse_tenant(data)
    return str(info.value)


# ----- a valid definition ----------------------------------------------------------------


def test_t1_t5_valid_definition_parses_with_defaults():
    tenant = parse_tenant(definition())
    assert isinstance(tenant, Tenant)
    assert tenant.id == "demo-zorg"
    assert tenant.name == "Demo Zorggroep"
    assert tenant.mail_domains == ("demo-zorg.example",)
    assert tenant.installation_type is InstallationType.VIEWER_SMS_OPTIONAL
    assert tenant.domain_book_variant is DomainBookVariant.ZORGMAIL
    assert tenant.login_method is LoginMethod.EMAIL_CODE  # T3 default
    assert tenant.security_by_default is False  # T4 default
    assert tenant.entra_tenant_id is None


@pytest.mark.parametrize("value", ["viewer_sms_required", "viewer_sms_optional", "viewer", "standard"])
def test_t1_each_of_the_four_installation_types_parses(value):
    assert parse_tenant(definition(installation_type=value)).installation_type.value == value


@pytest.mark.parametrize("value", ["zorgmail", "sigra"])
def test_t2_both_domain_book_variants_parse(value):
    assert parse_tenant(definition(domain_book_variant=value)).domain_book_variant.value == value


def test_t3_entra_login_with_guid_parses():
    tenant = parse_tenant(definition(login_method="entra", entra_tenant_id=ENTRA_GUID.upper()))
    assert tenant.login_method is LoginMethod.ENTRA
    assert tenant.entra_tenant_id == ENTRA_GUID  # canonical lower-case form


@pytest.mark.parametrize("value", [True, False])
def test_t4_security_by_default_bool_is_kept(value):
    assert parse_tenant(definition(security_by_default=value)).security_by_default is value


def test_t5_mail_domains_are_normalised_to_lower_case():
    tenant = parse_tenant(definition(mail_domains=["Demo-Zorg.EXAMPLE", " other.example. "]))
    assert tenant.mail_domains == ("demo-zorg.example", "other.example")


def test_t5_idn_mail_domain_is_normalised_to_punycode():
    tenant = parse_tenant(definition(mail_domains=["Zïekenhuis.NL"]))
    assert tenant.mail_domains == ("xn--zekenhuis-05a.nl",)


def test_t1_t5_to_dict_round_trips():
    tenant = parse_tenant(definition(login_method="entra", entra_tenant_id=ENTRA_GUID, security_by_default=True))
    assert parse_tenant(tenant.to_dict()) == tenant


# ----- each field's violation names the field --------------------------------------------


def test_t1_unknown_installation_type_names_the_field():
    message = error_of(definition(installation_type="viewer_plus"))
    assert "installation_type" in message


def test_t1_missing_installation_type_names_the_field():
    assert "installation_type" in error_of(definition(installation_type=_DROP))


def test_t2_unknown_domain_book_variant_names_the_field():
    assert "domain_book_variant" in error_of(definition(domain_book_variant="zorgring"))


def test_t2_missing_domain_book_variant_names_the_field():
    assert "domain_book_variant" in error_of(definition(domain_book_variant=_DROP))


def test_t3_unknown_login_method_names_the_field():
    assert "login_method" in error_of(definition(login_method="password"))


def test_t1_t5_unknown_extra_field_names_the_field():
    assert "instalation_type" in error_of(definition(instalation_type="viewer"))


@pytest.mark.parametrize(
    "bad_id",
    [
        "ab",  # too short
        "a" * 41,  # too long
        "Demo-Zorg",  # upper case
        "demo_zorg",  # underscore
        "-demo",  # starts with '-'
        "demo-",  # ends with '-'
        "demo zorg",
        "",
        None,
        42,
    ],
)
def test_t1_t5_bad_id_names_the_field(bad_id):
    assert error_of(definition(id=bad_id)).startswith("id:")


def test_t1_t5_id_with_trailing_newline_is_refused():
    # "$" in a regex also matches before a final newline; the id must still be refused.
    assert error_of(definition(id="demo-zorg\n")).startswith("id:")


@pytest.mark.parametrize("good_id", ["abc", "a" * 40, "demo-zorg-2", "123"])
def test_t1_t5_id_of_3_to_40_allowed_characters_parses(good_id):
    assert parse_tenant(definition(id=good_id)).id == good_id


@pytest.mark.parametrize("name", ["", "   ", None, 5, "x" * 201])
def test_t1_t5_bad_name_names_the_field(name):
    assert "name" in error_of(definition(name=name))


@pytest.mark.parametrize("domains", [[], None, "demo-zorg.example", _DROP])
def test_t5_empty_or_missing_mail_domains_names_the_field(domains):
    assert "mail_domains" in error_of(definition(mail_domains=domains))


@pytest.mark.parametrize(
    "domain",
    ["localhost", "demo..example", "-demo.example", "demo zorg.example", "", "demo.123", 7],
)
def test_t5_invalid_domain_names_the_field_and_index(domain):
    message = error_of(definition(mail_domains=["demo-zorg.example", domain]))
    assert "mail_domains[1]" in message


def test_t5_duplicate_domain_names_the_field():
    message = error_of(definition(mail_domains=["demo-zorg.example", "DEMO-ZORG.example"]))
    assert "mail_domains[1]" in message


def test_t5_duplicate_domain_via_punycode_names_the_field():
    message = error_of(definition(mail_domains=["zïekenhuis.nl", "xn--zekenhuis-05a.nl"]))
    assert "mail_domains[1]" in message


@pytest.mark.parametrize("value", ["true", "yes", 1, 0, None, []])
def test_t4_security_by_default_not_a_bool_names_the_field(value):
    assert "security_by_default" in error_of(definition(security_by_default=value))


def test_t3_entra_without_entra_tenant_id_names_the_field():
    assert "entra_tenant_id" in error_of(definition(login_method="entra"))


@pytest.mark.parametrize("value", ["not-a-guid", "3f2504e0-4f89-11d3-9a0c", 12345, ""])
def test_t3_entra_tenant_id_not_a_guid_names_the_field(value):
    assert "entra_tenant_id" in error_of(definition(login_method="entra", entra_tenant_id=value))


@pytest.mark.parametrize("data", [[], "demo-zorg", None, 1])
def test_t1_t5_definition_that_is_not_an_object_is_refused(data):
    with pytest.raises(ConfigurationError):
        parse_tenant(data)


def test_t1_t5_error_message_carries_the_location_prefix():
    with pytest.raises(ConfigurationError) as info:
        parse_tenant(definition(installation_type="x"), "tenants[3].")
    assert str(info.value).startswith("tenants[3].installation_type")


# ----- several definitions ---------------------------------------------------------------


def test_t5_parse_tenants_keeps_order_of_distinct_tenants():
    tenants = parse_tenants([
        definition(),
        definition(id="tweede-zorg", mail_domains=["tweede.example"]),
    ])
    assert [t.id for t in tenants] == ["demo-zorg", "tweede-zorg"]


def test_t5_parse_tenants_duplicate_id_is_refused_naming_the_id():
    with pytest.raises(ConfigurationError) as info:
        parse_tenants([definition(), definition(mail_domains=["other.example"])])
    message = str(info.value)
    assert "[1].id" in message
    assert "demo-zorg" in message


def test_t5_parse_tenants_domain_owned_by_two_tenants_is_refused():
    with pytest.raises(ConfigurationError) as info:
        parse_tenants([
            definition(),
            definition(id="tweede-zorg", mail_domains=["tweede.example", "Demo-Zorg.Example"]),
        ])
    message = str(info.value)
    assert "[1].mail_domains" in message
    assert "demo-zorg.example" in message


def test_a2_parse_tenants_one_entra_directory_for_two_tenants_is_refused():
    # A token names its directory (tid): two tenants with one entra_tenant_id would make the login
    # pick one of them and refuse the other's users (found by review).
    guid = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    with pytest.raises(ConfigurationError) as info:
        parse_tenants([definition(entra_tenant_id=guid),
                       definition(id="tweede-zorg", mail_domains=["tweede.example"], entra_tenant_id=guid.upper())])
    assert "[1].entra_tenant_id" in str(info.value) and "demo-zorg" in str(info.value)


def test_t5_parse_tenants_invalid_item_names_its_index():
    with pytest.raises(ConfigurationError) as info:
        parse_tenants([definition(), definition(id="tweede-zorg", domain_book_variant="x")])
    assert "[1].domain_book_variant" in str(info.value)


# ----- files -----------------------------------------------------------------------------


def _write(path, data):
    path.write_text(json.dumps(data), "utf-8")
    return path


def test_t1_t5_load_single_object_file(tmp_path):
    file = _write(tmp_path / "demo.json", definition())
    tenants = load_tenant_files([file])
    assert [t.id for t in tenants] == ["demo-zorg"]


def test_t1_t5_load_file_with_a_list(tmp_path):
    file = _write(tmp_path / "all.json", [definition(), definition(id="tweede-zorg", mail_domains=["t.example"])])
    assert [t.id for t in load_tenant_files([str(file)])] == ["demo-zorg", "tweede-zorg"]


def test_t1_t5_load_folder_reads_every_json_file(tmp_path):
    _write(tmp_path / "b.json", definition(id="bbb-zorg", mail_domains=["b.example"]))
    _write(tmp_path / "a.json", definition(id="aaa-zorg", mail_domains=["a.example"]))
    (tmp_path / "notes.txt").write_text("not a tenant", "utf-8")
    tenants = load_tenant_files([tmp_path])
    assert sorted(t.id for t in tenants) == ["aaa-zorg", "bbb-zorg"]


def test_t1_t5_load_folder_detects_duplicates_across_files(tmp_path):
    _write(tmp_path / "a.json", definition(id="aaa-zorg", mail_domains=["shared.example"]))
    _write(tmp_path / "b.json", definition(id="bbb-zorg", mail_domains=["shared.example"]))
    with pytest.raises(ConfigurationError) as info:
        load_tenant_files([tmp_path])
    assert "shared.example" in str(info.value)


def test_t1_t5_load_missing_file_is_a_configuration_error(tmp_path):
    missing = tmp_path / "missing.json"
    with pytest.raises(ConfigurationError) as info:
        load_tenant_files([missing])
    assert "missing.json" in str(info.value)
    assert "not found" in str(info.value)


def test_t1_t5_load_invalid_json_is_a_configuration_error(tmp_path):
    file = tmp_path / "broken.json"
    file.write_text('{"id": "demo-zorg",', "utf-8")
    with pytest.raises(ConfigurationError) as info:
        load_tenant_files([file])
    assert "broken.json" in str(info.value)
    assert "JSON" in str(info.value)


def test_t1_t5_load_file_error_names_tenants_index_and_field(tmp_path):
    file = _write(tmp_path / "demo.json", [definition(), definition(id="x-zorg", installation_type="nope")])
    with pytest.raises(ConfigurationError) as info:
        load_tenant_files([file])
    assert "tenants[1].installation_type" in str(info.value)


@pytest.mark.parametrize("member", [*InstallationType, *DomainBookVariant, *LoginMethod], ids=lambda m: m.value)
def test_issue9_item1_tenant_enums_format_as_their_stored_value(member):
    """StrEnum (ruff UP042): str(), format() and f-strings give the value, as equality and JSON always did,
    so a member put in a key, partition or log line by mistake writes the value, not `Class.NAME`."""
    assert str(member) == format(member) == f"{member}" == member.value
    assert json.dumps(member) == json.dumps(member.value)
