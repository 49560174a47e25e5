"""The policy dry-run CLI (SPEC X5; ``python -m sendsecure.dryrun``): drafts from files, the tenant
and the book from the deployment (Azurite, the published sample book) or from files."""
from __future__ import annotations

import json
from pathlib import Path

from sendsecure.dryrun import main as dryrun

ROOT = Path(__file__).resolve().parents[2]
TENANTS = ROOT / "tests" / "data" / "tenants.json"
EML = b"""From: Jan <jan@ziekenhuis-a.example>
To: arts@huisarts-b.example, p.pieters@gmail.example
Subject: Verwijzing
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Tekst.
"""


def drafts_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "drafts"
    (folder / "sent").mkdir(parents=True)
    (folder / "sent" / "verwijzing.eml").write_bytes(EML)
    (folder / "set.json").write_text(json.dumps({"drafts": [
        {"to": ["arts@huisarts-b.example"], "subject": "Overleg"},                    # From from --sender
        {"from": "jan@ziekenhuis-a.example", "to": ["a@gmail.example"], "subject": "x",
         "phones": {"a@gmail.example": "06 12345678"}},
    ]}))
    (folder / "lines.jsonl").write_text('{"to": ["collega@ziekenhuis-a.example"], "subject": "Rooster"}\n'
                                        "not json\n\n"
                                        + json.dumps({"to": [f"p{i}@x.example" for i in range(501)]}) + "\n")
    (folder / "notes.txt").write_text("not a draft, not read")
    return folder


def report_of(capsys, *args: str, names: bool = True) -> tuple[int, dict]:
    code = dryrun([*args, "--json", "--details", *(["--names"] if names else [])])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}


def test_x5_dry_run_from_files_reports_every_type_for_the_drafts_it_could_read(tmp_path, capsys):
    folder = drafts_folder(tmp_path)
    code, report = report_of(capsys, "--tenant", "zorg-a", "--tenants", str(TENANTS),
                             "--book", str(ROOT / "domainbook" / "variants.json"),
                             "--sender", "jan@ziekenhuis-a.example", str(folder))
    assert code == 0
    assert report["tenant"] == "zorg-a" and report["current"] == "viewer_sms_required"
    assert report["drafts"] == 4 and len(report["details"]) == 4
    assert {item["name"].rsplit("/", 1)[-1] for item in report["skipped"]} == {"lines.jsonl:2", "lines.jsonl:4"}
    assert set(report["types"]) == {"viewer_sms_required", "viewer_sms_optional", "viewer", "standard"}
    assert report["domain_book"]["variant"] == "zorgmail" and report["domain_book"]["version"]
    # the sent message: an external recipient without a number; its file name identifies it
    [eml] = [name for name in report["details"] if name.endswith("verwijzing.eml")]
    assert report["details"][eml]["viewer_sms_required"]["blocking"] == ["phone_required"]
    assert report["details"][eml]["viewer_sms_optional"]["secure"] is True
    assert report["details"][eml]["standard"]["blocking"] == ["external_not_allowed"]
    assert eml in report["types"]["viewer_sms_optional"]["newly_secure"]
    assert eml in report["types"]["viewer"]["newly_secure"]
    assert eml not in report["types"]["standard"]["newly_blocked"]        # blocked now as well
    # the draft with a typed number goes by SMS under viewer_sms_required
    [typed] = [name for name in report["details"] if name.endswith("set.json[1]")]
    assert report["details"][typed]["viewer_sms_required"]["secure"] is True
    # nothing of the drafts but their names
    text = json.dumps(report)
    assert "gmail.example" not in text and "Verwijzing" not in text and "06 12345678" not in text


def test_x5_dry_run_with_the_deployments_tenant_and_book(app_env, sample_book, tmp_path, capsys):
    folder = drafts_folder(tmp_path)
    code, report = report_of(capsys, "--tenant", "zorg-a", "--sender", "jan@ziekenhuis-a.example",
                             "--types", "viewer", str(folder))
    assert code == 0
    assert report["current"] == "viewer_sms_required" and list(report["types"]) == ["viewer", "viewer_sms_required"]
    [eml] = [name for name in report["details"] if name.endswith("verwijzing.eml")]
    assert eml in report["types"]["viewer"]["newly_secure"]
    book = {pointer.variant: pointer.version for pointer in sample_book}
    assert report["domain_book"] == {"available": True, "variant": "zorgmail", "version": book["zorgmail"]}


def test_x5_dry_run_refuses_an_unknown_tenant_and_no_drafts(app_env, sample_book, tmp_path, capsys):
    folder = drafts_folder(tmp_path)
    assert dryrun(["--tenant", "nobody", str(folder)]) == 2
    assert "not onboarded" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert dryrun(["--tenant", "zorg-a", str(empty)]) == 2
    assert dryrun(["--tenant", "demo-zorg", "--tenants", str(ROOT / "tenants" / "demo.json"), str(folder)]) == 2


def test_x5_dry_run_without_a_published_book_says_to_sync_first(app_env, tmp_path, capsys):
    assert dryrun(["--tenant", "zorg-a", str(drafts_folder(tmp_path))]) == 3
    assert "sync" in capsys.readouterr().err


def test_x5_the_documented_demo_run_prints_what_the_docs_show(capsys):
    """docs/validation.md "Policy dry-run": the command on the demo tenant and samples/drafts."""
    assert dryrun(["--tenant", "demo-zorg", "--tenants", str(ROOT / "tenants" / "demo.json"),
                   "--book", str(ROOT / "domainbook" / "variants.json"), str(ROOT / "samples" / "drafts")]) == 0
    printed = capsys.readouterr().out.splitlines()
    table = printed[printed.index(next(line for line in printed if line.startswith("installation type"))):][:5]
    docs = (ROOT / "docs" / "validation.md").read_text(encoding="utf-8")
    assert len(table) == 5 and "\n".join(table) in docs
    assert ", 0 skipped;" in printed[0] and not any(line.startswith("skipped") for line in printed)


def test_x5_by_default_drafts_are_numbered_and_no_file_name_or_address_is_shown(tmp_path, capsys):
    """Outlook names a saved message after its subject, and a refused phone field names its
    address: the report shows neither unless ``--names`` is given."""
    folder = drafts_folder(tmp_path)
    (folder / "Uitslag mevrouw Visser.eml").write_bytes(EML)
    (folder / "bad-phone.json").write_text(json.dumps(
        {"from": "jan@ziekenhuis-a.example", "to": ["piet.geheim@gmail.example"],
         "phones": {"piet.geheim@gmail.example": "1" * 65}}))
    code, report = report_of(capsys, "--tenant", "zorg-a", "--tenants", str(TENANTS),
                             "--book", str(ROOT / "domainbook" / "variants.json"),
                             "--sender", "jan@ziekenhuis-a.example", str(folder), names=False)
    assert code == 0
    assert sorted(report["details"]) == [f"draft {n}" for n in range(1, 6)]
    assert [item["name"] for item in report["skipped"]] == ["input 1", "input 2", "input 3"]
    assert "past the API's bounds or malformed: phones" in {item["reason"] for item in report["skipped"]}
    text = json.dumps(report)
    for secret in ("Visser", "Uitslag", "piet.geheim", "verwijzing.eml", "lines.jsonl"):
        assert secret not in text


def test_x5_an_eml_the_parser_fails_on_is_skipped_as_unreadable_not_a_crash(tmp_path, capsys):
    # One malformed .eml among the drafts: skipped and listed, the rest reported, and nothing
    # of its headers printed (the parser's exception would quote one).
    folder = tmp_path / "drafts"
    folder.mkdir()
    (folder / "good.eml").write_bytes(EML)
    (folder / "cut.eml").write_bytes(EML.replace(b"To: arts@huisarts-b.example, p.pieters@gmail.example",
                                                 b'To: "piet@gmail.example" <'))
    (folder / "literal.eml").write_bytes(EML.replace(b"To: arts@huisarts-b.example, p.pieters@gmail.example",
                                                     b"To: piet@[gmail.example"))
    args = ["--tenant", "zorg-a", "--tenants", str(TENANTS), "--book", str(ROOT / "domainbook" / "variants.json")]
    code, report = report_of(capsys, *args, str(folder))
    assert code == 0 and report["drafts"] == 1
    assert {(item["name"].rsplit("/", 1)[-1], item["reason"].split(":")[0]) for item in report["skipped"]} == {
        ("cut.eml", "unreadable"), ("literal.eml", "unreadable")}
    assert dryrun([*args, str(folder)]) == 0
    printed = capsys.readouterr()
    assert "skipped" in printed.out and "Traceback" not in printed.err
    assert "gmail.example" not in printed.out + printed.err and "piet" not in printed.out + printed.err
