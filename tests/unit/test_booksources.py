"""Domain book sources: the parsers (D2), the categories they feed (V-R2), the shipped sample and its
look-alike traps (X1), variants and their content version (D1, D4), and the benchmark generator."""
from __future__ import annotations

import importlib.util
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sendsecure.core.addresses import normalise_domain
from sendsecure.core.booksources import (
    MAX_LISTED_REJECTIONS,
    LoadedBook,
    ParseResult,
    SourceFormatError,
    hide_url_secrets,
    load_variant,
    parse_address_book_csv,
    parse_nta_register_csv,
    parse_zorgmail_text,
    read_definition,
    source_name,
    supplier_slug,
)
from sendsecure.core.domainbook import BookEntry, merge_entries
from sendsecure.errors import ConfigurationError

ROOT = Path(__file__).resolve().parents[2]
DEFINITION = ROOT / "domainbook" / "variants.json"
SAMPLE = ROOT / "domainbook" / "sample"
VARIANTS = ("zorgmail", "sigra")

DEMO_FLAGS = {
    "demo-zorg.example": True,
    "poli.demo-zorg.example": True,
    "demo-kliniek.example": True,
    "ziekenhuis-a.example": True,
    "poli.ziekenhuis-a.example": True,
    "huisarts-b.example": False,
    "kliniek-c.example": True,
}
TRAPS = {
    "ziekenhuis-rijnmonde.example": "ziekenhuis-rijnmond.example",
    "ziekenhuls-rijnmond.example": "ziekenhuis-rijnmond.example",
    "huisartsenpraktijk-de-llnde.example": "huisartsenpraktijk-de-linde.example",
}

# Deliberately invalid input: never in the shipped sample, which must parse without rejections.
INVALID_ZORGMAIL_TEXT = (
    "### fixture with bad lines\n"
    "goed-een.example -bad-.example goed-twee.example\n"   # line 2, word 2
    "# single hash is not a comment\n"                     # line 3, words 1-7
    "localhost\n"                                          # line 4: one label
    "jan@praktijk.example\n"                               # line 5: an address, not a domain
    "under_score.example 1.2.3.4\n"                        # line 6, words 1 and 2
    + "x" * 300 + ".example\n"                              # line 7: too long
    "goed-drie.example\n"
)

REGISTER_HEADER = "domain,organisation,supplier,nta7516\n"


def _zorgmail(text: str, network: str = "zorgmail") -> ParseResult:
    return parse_zorgmail_text(text, network=network, source="test.txt")


def _keys(result: ParseResult) -> list[str]:
    return [entry.key for entry in result.entries]


def _load_generator():
    spec = importlib.util.spec_from_file_location("generate_book", ROOT / "bench" / "generate_book.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ----- ZorgMail text format (D2, SPEC "Facts") ------------------------------------------------

def test_d2_zorgmail_text_skips_comment_and_blank_lines():
    result = _zorgmail("### Ziekenhuizen\n\n   \nziekenhuis-een.example\n### ziekenhuis-twee.example\n")
    assert _keys(result) == ["ziekenhuis-een.example"]
    assert result.rejected == [] and result.rejected_count == 0


def test_d2_zorgmail_text_reads_several_domains_per_line_separated_by_any_white_space():
    text = "a-een.example b-twee.example\tc-drie.example  \t d-vier.example\n  e-vijf.example\x0b\n"
    assert _keys(_zorgmail(text)) == ["a-een.example", "b-twee.example", "c-drie.example",
                                      "d-vier.example", "e-vijf.example"]


def test_d2_zorgmail_text_handles_crlf_cr_and_a_bom():
    text = "\ufeff### kop\r\neen.example\r\ntwee.example\rdrie.example"
    result = _zorgmail(text)
    assert _keys(result) == ["een.example", "twee.example", "drie.example"]
    assert result.rejected_count == 0


def test_d2_zorgmail_text_lower_cases_and_collapses_duplicates():
    result = _zorgmail("Ziekenhuis.EXAMPLE ziekenhuis.example\nZIEKENHUIS.example. apotheek.example\n")
    assert _keys(result) == ["ziekenhuis.example", "apotheek.example"]


def test_d2_zorgmail_text_idn_domain_becomes_punycode():
    punycode = normalise_domain("zorgcentrum-één.example")
    assert punycode.startswith("xn--zorgcentrum-") and punycode.isascii()
    result = _zorgmail(f"ZORGCENTRUM-ÉÉN.example\n{punycode}\n")
    assert _keys(result) == [punycode]


def test_d2_zorgmail_text_entries_are_community_of_the_given_network():
    [entry] = _zorgmail("partner.example\n", network="e-zorg").entries
    assert entry == BookEntry(key="partner.example", organisation="", network="e-zorg", community=True,
                              nta7516=False, supplier="", source="test.txt")


def test_d2_zorgmail_text_rejects_invalid_words_with_line_numbers_and_keeps_the_rest():
    result = _zorgmail(INVALID_ZORGMAIL_TEXT)
    assert _keys(result) == ["goed-een.example", "goed-twee.example", "goed-drie.example"]
    lines = [line for line, _ in result.rejected]
    assert lines == [2] + [3] * 7 + [4, 5, 6, 6, 7]
    assert result.rejected_count == len(result.rejected)
    assert result.rejected[0][1].startswith("word 2:")


def test_d2_zorgmail_text_rejection_reasons_do_not_echo_the_value():
    result = _zorgmail("jan.jansen@praktijk.example geheim_woord.example\n")
    assert result.rejected_count == 2
    for _, reason in result.rejected:
        assert "jansen" not in reason and "geheim" not in reason


def test_d2_zorgmail_text_lists_at_most_100_rejections_but_counts_all():
    text = "\n".join(f"bad_{number}.example ok-{number}.example" for number in range(5000))
    result = _zorgmail(text)
    assert result.rejected_count == 5000
    assert len(result.rejected) == MAX_LISTED_REJECTIONS == 100
    assert result.rejected[:2] == [(1, result.rejected[0][1]), (2, result.rejected[1][1])]
    assert len(result.entries) == 5000


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("abcxyz-._ #\t\r\n@éñ0129")), max_size=300))
def test_d2_zorgmail_text_never_crashes_and_yields_only_normalised_domains(text):
    result = _zorgmail(text)
    assert result.rejected_count >= len(result.rejected)
    keys = _keys(result)
    assert len(keys) == len(set(keys))
    for key in keys:
        assert normalise_domain(key) == key


# ----- NTA 7516 register (D2, V-R2) -----------------------------------------------------------

@pytest.mark.parametrize("flag, expected", [
    ("ja", True), ("JA", True), ("yes", True), ("True", True), ("1", True),
    ("nee", False), ("Nee", False), ("no", False), ("FALSE", False), ("0", False),
])
def test_d2_register_accepts_the_nta7516_flag_spellings(flag, expected):
    result = parse_nta_register_csv(REGISTER_HEADER + f"praktijk.example,Praktijk,Veilig Mailen BV,{flag}\n",
                                    source="register.csv")
    [entry] = result.entries
    assert entry.nta7516 is expected


def test_d2_register_entry_is_not_community_and_names_its_supplier_network():
    result = parse_nta_register_csv(REGISTER_HEADER + "NTA-Ziekenhuis.example,Ziekenhuis D,Veilig Mailen BV,ja\n",
                                    source="register.csv")
    assert result.entries == [BookEntry(key="nta-ziekenhuis.example", organisation="Ziekenhuis D",
                                        network="nta7516:veilig-mailen-bv", community=False, nta7516=True,
                                        supplier="Veilig Mailen BV", source="register.csv")]


def test_d2_register_supplier_slug_is_lower_case_letters_digits_and_hyphens():
    assert supplier_slug("Veilig Mailen BV") == "veilig-mailen-bv"
    assert supplier_slug("  Zorg & Zeker B.V. ") == "zorg-zeker-b-v"
    assert supplier_slug("Één Bericht 2 Zorg") == "een-bericht-2-zorg"
    assert supplier_slug("***") == ""


def test_d2_register_tolerates_bom_semicolons_white_space_comments_and_column_order():
    text = ("\ufeff# made-up register\r\n\r\n"
            " NTA7516 ; Domain ; Supplier ; Organisation \r\n"
            " ja ;  een.example ; Veilig   Mailen BV ;  \"Praktijk; Een\" \r\n"
            "nee;twee.example;Zorgpost Zeker BV;Praktijk Twee\r\n")
    result = parse_nta_register_csv(text, source="r.csv")
    assert result.rejected_count == 0
    one, two = result.entries
    assert (one.key, one.organisation, one.supplier, one.nta7516) == ("een.example", "Praktijk; Een",
                                                                      "Veilig Mailen BV", True)
    assert (two.key, two.network, two.nta7516) == ("twee.example", "nta7516:zorgpost-zeker-bv", False)


def test_d2_register_rejects_bad_rows_with_their_line_numbers():
    text = ("# comment line 1\n" + REGISTER_HEADER +                     # header on line 2
            "goed.example,Goed,Veilig Mailen BV,ja\n"                    # 3
            "slecht_domein.example,Slecht,Veilig Mailen BV,ja\n"         # 4 bad domain
            "vlag.example,Vlag,Veilig Mailen BV,misschien\n"             # 5 bad flag
            "leeg.example,Leeg,,ja\n"                                    # 6 no supplier
            "kort.example,Kort\n"                                        # 7 too few fields
            "\n"                                                         # 8 blank: skipped
            "ook-goed.example,Ook Goed,MediVeilig BV,nee\n")             # 9
    result = parse_nta_register_csv(text, source="r.csv")
    assert _keys(result) == ["goed.example", "ook-goed.example"]
    assert [line for line, _ in result.rejected] == [4, 5, 6, 7]
    assert result.rejected_count == 4
    assert "nta7516" in result.rejected[1][1] and "supplier" in result.rejected[2][1]


def test_d2_register_row_with_an_unbalanced_quote_is_rejected_not_merged_into_a_name():
    text = REGISTER_HEADER + 'een.example,"Praktijk Een,Veilig Mailen BV,ja\ntwee.example,Twee,X BV,ja\n'
    result = parse_nta_register_csv(text, source="r.csv")
    assert result.entries == []
    assert result.rejected_count == 1 and result.rejected[0][0] == 2


def test_d2_register_quoted_field_over_a_line_end_is_rejected_and_later_lines_keep_their_numbers():
    text = (REGISTER_HEADER +
            'een.example,"Praktijk\nEen",Veilig Mailen BV,ja\n'     # lines 2-3
            "twee.example,Twee,Veilig Mailen BV,ja\n"                # 4
            "drie.example,Drie,Veilig Mailen BV,soms\n")             # 5
    result = parse_nta_register_csv(text, source="r.csv")
    assert _keys(result) == ["twee.example"]
    assert [line for line, _ in result.rejected] == [2, 5]
    assert "line end" in result.rejected[0][1]


def test_d2_register_without_its_columns_is_a_format_error():
    with pytest.raises(SourceFormatError, match="nta7516"):
        parse_nta_register_csv("domain,organisation,supplier\nx.example,X,Y\n", source="r.csv")
    with pytest.raises(SourceFormatError):
        parse_nta_register_csv("# only a comment\n\n", source="r.csv")


def test_d2_register_duplicate_domain_collapses_to_one_entry():
    text = REGISTER_HEADER + "x.example,X,Veilig Mailen BV,nee\nX.example,X,Veilig Mailen BV,ja\n"
    [entry] = parse_nta_register_csv(text, source="r.csv").entries
    assert entry.nta7516 is True


# ----- address book (D2) ----------------------------------------------------------------------

def test_d2_address_book_entries_are_normalised_single_addresses():
    text = ("# made-up\naddress,organisation,role\n"
            " Dr.Jansen@Gezondheidscentrum-Oost.EXAMPLE , Gezondheidscentrum Oost , huisarts\n"
            "zorg@zorgcentrum-één.example,Zorgcentrum Eén,secretariaat\n")
    result = parse_address_book_csv(text, source="ab.csv")
    assert result.rejected_count == 0
    first, second = result.entries
    assert first == BookEntry(key="dr.jansen@gezondheidscentrum-oost.example",
                              organisation="Gezondheidscentrum Oost", network="zorgmail", community=True,
                              nta7516=False, supplier="", source="ab.csv")
    assert first.is_address
    assert second.key == "zorg@" + normalise_domain("zorgcentrum-één.example")


def test_d2_address_book_takes_the_network_and_rejects_bad_addresses():
    text = ("address;organisation;role\n"
            "goed@praktijk.example;Praktijk;huisarts\n"
            "geen-apenstaart.example;Praktijk;huisarts\n"
            "jan@slecht_domein.example;Praktijk;huisarts\n")
    result = parse_address_book_csv(text, network="sigra", source="ab.csv")
    assert [(entry.key, entry.network) for entry in result.entries] == [("goed@praktijk.example", "sigra")]
    assert [line for line, _ in result.rejected] == [3, 4]
    assert all("jan" not in reason for _, reason in result.rejected)


def test_d2_address_book_role_column_is_optional():
    result = parse_address_book_csv("address,organisation\nx@y.example,Y\n", source="ab.csv")
    assert _keys(result) == ["x@y.example"]


# ----- merging (V-R2) -------------------------------------------------------------------------

def test_v_r2_community_member_in_the_register_meets_nta7516_and_stays_community():
    community = _zorgmail("lid.example\n").entries
    register = parse_nta_register_csv(REGISTER_HEADER + "lid.example,Lid,Veilig Mailen BV,ja\n"
                                      "alleen-nta.example,Alleen NTA,Veilig Mailen BV,ja\n",
                                      source="r.csv").entries
    merged = merge_entries(community + register)
    member = merged["lid.example"]
    assert (member.community, member.nta7516, member.network) == (True, True, "zorgmail")
    assert (member.organisation, member.supplier) == ("Lid", "Veilig Mailen BV")
    outsider = merged["alleen-nta.example"]
    assert (outsider.community, outsider.nta7516, outsider.network) == (False, True, "nta7516:veilig-mailen-bv")


# ----- the shipped sample: variants (D1, V-R2, X1) --------------------------------------------

@pytest.fixture(scope="module")
def books() -> dict[str, LoadedBook]:
    return {variant: load_variant(variant, DEFINITION) for variant in VARIANTS}


@pytest.mark.parametrize("variant", VARIANTS)
def test_d1_sample_variant_loads_without_rejections(books, variant):
    book = books[variant]
    assert book.variant == variant
    assert book.rejected_count == 0 and book.rejected == []
    assert len(book.sources) == 5
    assert all(key == entry.key for key, entry in book.entries.items())


@pytest.mark.parametrize("variant", VARIANTS)
def test_v_r2_sample_demo_domains_are_community_with_their_nta_flags(books, variant):
    entries = books[variant].entries
    for domain, nta in DEMO_FLAGS.items():
        assert entries[domain].community is True, domain
        assert entries[domain].nta7516 is nta, domain


@pytest.mark.parametrize("variant", VARIANTS)
def test_v_r2_sample_register_only_domains_are_outside_the_community(books, variant):
    entries = books[variant].entries
    d, e = entries["nta-ziekenhuis-d.example"], entries["nta-praktijk-e.example"]
    assert (d.community, d.nta7516, d.supplier, d.network) == (False, True, "Veilig Mailen BV",
                                                               "nta7516:veilig-mailen-bv")
    assert (e.community, e.nta7516) == (False, False)
    register_only = [entry for entry in entries.values() if not entry.community]
    assert 15 <= len(register_only) <= 25


@pytest.mark.parametrize("variant", VARIANTS)
def test_v_r2_sample_has_at_least_30_community_members_meeting_nta7516(books, variant):
    members = [entry for entry in books[variant].entries.values() if entry.community and entry.nta7516]
    assert len(members) >= 30
    assert all(entry.supplier for entry in members)


@pytest.mark.parametrize("variant", VARIANTS)
def test_d2_sample_has_partner_networks_and_single_addresses(books, variant):
    entries = books[variant].entries
    networks = {entry.network for entry in entries.values()}
    assert {"e-zorg", "zorgring-nhn"} <= networks
    addresses = [entry for entry in entries.values() if entry.is_address]
    assert len(addresses) >= 20 and all(entry.community for entry in addresses)
    assert "dr.jansen@gezondheidscentrum-oost.example" in entries
    assert "gezondheidscentrum-oost.example" not in entries


def test_d2_sample_zorgmail_variant_has_the_idn_domain_in_punycode(books):
    assert normalise_domain("zorgcentrum-één.example") in books["zorgmail"].entries


def test_d1_sample_sigra_has_its_own_community_list_overlapping_zorgmail(books):
    zorgmail, sigra = books["zorgmail"].entries, books["sigra"].entries
    sigra_own = {key for key, entry in sigra.items() if entry.network == "sigra" and not entry.is_address}
    zorgmail_own = {key for key, entry in zorgmail.items() if entry.network == "zorgmail" and not entry.is_address}
    assert 140 <= len(sigra_own) <= 160
    assert 240 <= len(zorgmail_own) <= 260
    assert 20 <= len(sigra_own & zorgmail_own) < len(sigra_own)


def test_x1_sample_trap_domains_are_absent_and_point_at_the_real_one(books):
    book = books["zorgmail"]
    snapshot = book.to_domain_book(datetime(2026, 1, 1, tzinfo=UTC))
    for trap, meant in TRAPS.items():
        assert trap not in book.entries
        assert meant in book.entries
        assert snapshot.lookalike_of(trap) == meant


def test_x1_trap_domains_appear_in_no_sample_file():
    for path in SAMPLE.iterdir():
        text = path.read_text(encoding="utf-8").lower()
        for trap in TRAPS:
            assert trap not in text, (trap, path.name)


def test_d1_sample_files_say_they_are_made_up_and_use_only_example_domains(books):
    for path in SAMPLE.iterdir():
        assert "made-up" in path.read_text(encoding="utf-8").splitlines()[0].lower() + \
            path.read_text(encoding="utf-8").splitlines()[1].lower(), path.name
    for book in books.values():
        for key in book.entries:
            assert key.endswith(".example"), key


# ----- version (D4) and definitions (D1) ------------------------------------------------------

def _copy_sample(tmp_path: Path) -> Path:
    shutil.copytree(SAMPLE, tmp_path / "sample")
    shutil.copy(DEFINITION, tmp_path / "variants.json")
    return tmp_path / "variants.json"


@pytest.mark.parametrize("variant", VARIANTS)
def test_d4_version_is_a_content_hash_stable_across_loads_and_copies(books, variant, tmp_path):
    version = books[variant].version
    assert len(version) == 16 and int(version, 16) >= 0
    assert load_variant(variant, DEFINITION).version == version
    assert load_variant(variant, _copy_sample(tmp_path)).version == version


@pytest.mark.parametrize("variant", VARIANTS)
def test_d4_version_changes_when_the_content_changes(books, variant, tmp_path):
    definition = _copy_sample(tmp_path)
    with (tmp_path / "sample" / "e-zorg.txt").open("a", encoding="utf-8") as file:
        file.write("\nnieuw-lid-erbij.example\n")
    changed = load_variant(variant, definition)
    assert "nieuw-lid-erbij.example" in changed.entries
    assert len(changed.entries) == len(books[variant].entries) + 1
    assert changed.version != books[variant].version


def test_d4_comments_and_layout_do_not_change_the_version(books, tmp_path):
    definition = _copy_sample(tmp_path)
    path = tmp_path / "sample" / "zorgmail.txt"
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("###")]
    path.write_text("### herschikt\r\n" + "\t".join(reversed(lines)) + "\r\n", encoding="utf-8")
    reloaded = load_variant("zorgmail", definition)
    assert reloaded.entries == books["zorgmail"].entries
    assert reloaded.version == books["zorgmail"].version


def test_d1_unknown_variant_is_a_configuration_error_naming_it():
    with pytest.raises(ConfigurationError, match="'zorgnet'"):
        load_variant("zorgnet", DEFINITION)


def _definition(tmp_path: Path, source: dict) -> Path:
    import json

    (tmp_path / "een.txt").write_text("een.example\n", encoding="utf-8")
    path = tmp_path / "variants.json"
    path.write_text(json.dumps({"zorgmail": {"sources": [source]}}), encoding="utf-8")
    return path


@pytest.mark.parametrize("source, message", [
    ({"path": "een.txt", "format": "domeinboek_xml", "network": "zorgmail"}, "'domeinboek_xml'"),
    ({"url": "https://domeinboek.example/lijst.txt", "format": "zorgmail_text", "network": "zorgmail"},
     "url"),
    ({"url": "http://domeinboek.example/lijst.txt", "format": "zorgmail_text", "network": "zorgmail"},
     "https"),
    ({"path": "een.txt", "url": "https://x.example/a", "format": "zorgmail_text", "network": "zorgmail"},
     "exactly one"),
    ({"path": "een.txt", "format": "zorgmail_text"}, "network"),
    ({"path": "een.txt", "format": "zorgmail_text", "network": "Zorg Mail"}, "network"),
    ({"path": "een.txt", "format": "nta_register_csv", "network": "zorgmail"}, "supplier"),
    ({"path": "een.txt", "format": "zorgmail_text", "network": "zorgmail", "etag": "x"}, "etag"),
    ({"path": "ontbreekt.txt", "format": "zorgmail_text", "network": "zorgmail"}, "ontbreekt.txt"),
])
def test_d1_bad_source_definition_is_a_configuration_error(tmp_path, source, message):
    with pytest.raises(ConfigurationError, match=message):
        load_variant("zorgmail", _definition(tmp_path, source))


SAS = "https://boek.blob.example/lijst.txt?sv=2024-05-04&se=2030-01-01&sp=r&sig=Zm9vYmFyU0VDUkVU%3D"


def test_d1_a_url_source_is_named_without_its_query_and_user_info(tmp_path):
    """Security review F1: the name shows in health, info, the sync's answer, the log and as the
    entries' ``source``; a SAS token or a password in the URL must not."""
    import json

    name = source_name(SAS)
    assert name == "https://boek.blob.example/lijst.txt"
    with_user = source_name("https://lezer:geheim@boek.example:8443/lijst.txt#deel")
    assert with_user == "https://boek.example:8443/lijst.txt"
    assert source_name("https://boek.example/lijst.txt") == "https://boek.example/lijst.txt"  # nothing to hide
    definition = tmp_path / "variants.json"
    definition.write_text(json.dumps({"zorgmail": {"sources": [{"url": SAS, "format": "zorgmail_text",
                                                                "network": "zorgmail"}]}}), encoding="utf-8")
    spec, = read_definition("zorgmail", definition)
    assert spec.name == name and spec.url == SAS
    with pytest.raises(ConfigurationError) as raised:
        load_variant("zorgmail", definition)                             # url sources are the sync's
    assert name in str(raised.value) and "sig" not in str(raised.value)


def test_d3_an_error_stored_with_whole_urls_is_shown_without_their_queries():
    stored = f"{SAS}: boek.blob.example: answered 503; https://lezer:geheim@b.example/x.csv?k=1: timed out"
    shown = hide_url_secrets(stored)
    assert "sig=" not in shown and "geheim" not in shown and "k=1" not in shown
    assert shown == ("https://boek.blob.example/lijst.txt: boek.blob.example: answered 503; "
                     "https://b.example/x.csv: timed out")
    assert hide_url_secrets("een.txt: cannot read the file") == "een.txt: cannot read the file"


_QUERY_TEXT = st.text(st.sampled_from("abcXYZ019=&%+/:@?#-_.~"), max_size=40)


@settings(max_examples=200, deadline=None)
@given(user=st.sampled_from(["", "lezer@", "lezer:geheim@", "a:b:c@"]), query=_QUERY_TEXT,
       other_query=_QUERY_TEXT, fragment=st.sampled_from(["", "#", "#deel", "#a?b"]),
       has_query=st.booleans())
def test_d3_a_url_sources_name_is_the_same_for_every_token_and_shows_no_query_or_user_info(
        user, query, other_query, fragment, has_query):
    """The name is the source's identity for its stored state (validators, content hash, entry count:
    what the shrink check compares with), so a new SAS token or password must not change it; and it
    shows in health, the log and the answer, so no query or user info may show in it."""
    base = "https://boek.blob.example:8443/map/lijst.txt"
    url = f"https://{user}boek.blob.example:8443/map/lijst.txt" + (f"?{query}" if has_query else "") + fragment
    rotated = f"https://{user.replace('geheim', 'nieuw')}boek.blob.example:8443/map/lijst.txt?{other_query}"
    assert source_name(url) == source_name(rotated) == base


def test_d1_two_sources_of_a_variant_that_are_one_source_are_a_configuration_error(tmp_path):
    """URLs that differ only in query, user info or fragment are one source (the query carries the
    credentials, not which list it is): two of them in one variant would share one stored state."""
    import json

    def define(variants: dict[str, list[dict[str, str]]]) -> Path:
        path = tmp_path / "variants.json"
        path.write_text(json.dumps({variant: {"sources": sources} for variant, sources in variants.items()}))
        return path

    def url_source(url: str, network: str = "zorgmail") -> dict[str, str]:
        return {"url": url, "format": "zorgmail_text", "network": network}

    other_token = SAS.replace("Zm9v", "YmFy")
    for second in (url_source(other_token, "e-zorg"),
                   url_source("https://lezer:geheim@boek.blob.example/lijst.txt"),
                   url_source("https://boek.blob.example/lijst.txt#deel"),
                   url_source(SAS)):
        definition = define({"zorgmail": [url_source(SAS), url_source("https://b.example/x.txt"), second]})
        with pytest.raises(ConfigurationError) as raised:
            read_definition("zorgmail", definition)
        message = str(raised.value)
        assert "sources 1 and 3" in message and "https://boek.blob.example/lijst.txt" in message, message
        assert "sig=" not in message and "geheim" not in message and "?" not in message
    twice = define({"zorgmail": [{"path": "een.txt", "format": "zorgmail_text", "network": "zorgmail"},
                                 {"path": "een.txt", "format": "zorgmail_text", "network": "e-zorg"}]})
    with pytest.raises(ConfigurationError, match="sources 1 and 2 .* een.txt"):
        read_definition("zorgmail", twice)
    # Two variants each with their own token for one list: each variant keeps its own state.
    shared = define({"zorgmail": [url_source(SAS)], "sigra": [url_source(other_token)]})
    assert read_definition("zorgmail", shared)[0].name == read_definition("sigra", shared)[0].name


def test_d3_a_name_stored_by_an_earlier_version_is_matched_with_its_sources_identity():
    from sendsecure.core.booksources import stored_source_identity

    name = source_name(SAS)
    assert stored_source_identity(SAS) == name                                     # the whole URL (before F1)
    assert stored_source_identity(name + " [827f65c9]") == name                    # a hash of the whole URL
    assert stored_source_identity(name) == name
    assert stored_source_identity("sample/lijst.txt [827f65c9]") == "sample/lijst.txt [827f65c9]"   # a path
    assert stored_source_identity("sample/lijst.txt") == "sample/lijst.txt"


def test_d1_definition_file_that_is_not_json_is_a_configuration_error(tmp_path):
    path = tmp_path / "variants.json"
    path.write_text("{niet json", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="JSON"):
        load_variant("zorgmail", path)


def test_d1_source_file_that_is_not_utf8_is_a_format_error(tmp_path):
    definition = _definition(tmp_path, {"path": "een.txt", "format": "zorgmail_text", "network": "zorgmail"})
    (tmp_path / "een.txt").write_bytes("zorgcentrum-één.example\n".encode("latin-1"))
    with pytest.raises(SourceFormatError, match="een.txt"):
        load_variant("zorgmail", definition)


# ----- the benchmark generator ----------------------------------------------------------------

def test_d1_generated_book_loads_with_all_kinds_and_no_rejections(tmp_path):
    definition = _load_generator().generate(2000, tmp_path)
    assert definition == tmp_path / "variants.json"
    book = load_variant("zorgmail", definition)
    assert 1800 <= len(book.entries) <= 2000
    assert book.rejected_count == 0
    entries = list(book.entries.values())
    community = [e for e in entries if e.community and not e.is_address]
    register_only = [e for e in entries if not e.community]
    addresses = [e for e in entries if e.is_address]
    assert community and register_only and addresses
    assert 0.7 <= len(community) / len(entries) <= 0.9
    assert any(e.community and e.nta7516 for e in community)
    assert {"zorgmail", "e-zorg", "zorgring-nhn"} <= {e.network for e in community}
    assert all(e.key.endswith(".example") for e in entries)


def test_d1_generator_is_deterministic_for_a_seed(tmp_path):
    generate = _load_generator().generate
    first = load_variant("zorgmail", generate(500, tmp_path / "a", seed=3))
    again = load_variant("zorgmail", generate(500, tmp_path / "b", seed=3))
    other = load_variant("zorgmail", generate(500, tmp_path / "c", seed=4))
    assert first.version == again.version != other.version
    assert (tmp_path / "a" / "zorgmail.txt").read_bytes() == (tmp_path / "b" / "zorgmail.txt").read_bytes()
