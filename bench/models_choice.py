"""pydantic v2 against msgspec on the on-send path (issue 9 item 2): which model library.

    python bench/models_choice.py [--runs 7] [--loops 2000]

The same models written in both: a 10-recipient draft body (bytes, as the add-in sends it)
-> a typed draft (decode + validate, with the draft's bounds), and a verdict for 10 recipients
(typed, with findings) -> JSON bytes. Also the cost of building the verdict's typed objects
(the engine builds one per recipient and finding) and each library's import time (a fresh
interpreter). Medians of --runs repetitions of --loops calls. Writes bench/results/models_choice.json.
pydantic is a development dependency only for this script.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Literal

import msgspec
import pydantic

RESULTS = Path(__file__).resolve().parent / "results"
Kind = Literal["user", "externalUser", "distributionList", "other"]


# ----- msgspec ---------------------------------------------------------------------------------

class MRecipientIn(msgspec.Struct):
    address: Annotated[str, msgspec.Meta(max_length=320)]
    name: Annotated[str, msgspec.Meta(max_length=256)] | None = None
    type: Kind = "user"


class MAttachmentIn(msgspec.Struct):
    name: Annotated[str, msgspec.Meta(max_length=255)]
    size: Annotated[int, msgspec.Meta(ge=0, le=10 * 1024**3)]
    inline: bool = False


class MDraftIn(msgspec.Struct):
    sender: Annotated[str, msgspec.Meta(max_length=320)] | None = msgspec.field(default=None, name="from")
    to: Annotated[list[str | MRecipientIn], msgspec.Meta(max_length=250)] | None = None
    cc: Annotated[list[str | MRecipientIn], msgspec.Meta(max_length=250)] | None = None
    bcc: Annotated[list[str | MRecipientIn], msgspec.Meta(max_length=250)] | None = None
    subject: Annotated[str, msgspec.Meta(max_length=2000)] | None = None
    attachments: Annotated[list[MAttachmentIn], msgspec.Meta(max_length=250)] | None = None
    phones: Annotated[dict[str, Annotated[str, msgspec.Meta(max_length=64)] | None],
                      msgspec.Meta(max_length=250)] | None = None


class MFinding(msgspec.Struct, omit_defaults=True):
    rule: str
    code: str
    severity: str
    colour: str
    message: str
    target: str
    data: dict | None = None


class MRecipient(msgspec.Struct):
    address: str
    display_address: str
    address_form: str
    name: str
    field: str
    category: str
    route: str
    access_code: str | None
    phone_input: str
    stored_phone: str | None
    nta7516: bool | None
    valid: bool
    organisation: str | None
    network: str | None


class MVerdict(msgspec.Struct):
    can_send_secure: bool
    auto_send: bool
    recipients: list[MRecipient]
    findings: list[MFinding]


# ----- pydantic --------------------------------------------------------------------------------

class PRecipientIn(pydantic.BaseModel):
    address: Annotated[str, pydantic.Field(max_length=320)]
    name: Annotated[str, pydantic.Field(max_length=256)] | None = None
    type: Kind = "user"


class PAttachmentIn(pydantic.BaseModel):
    name: Annotated[str, pydantic.Field(max_length=255)]
    size: Annotated[int, pydantic.Field(ge=0, le=10 * 1024**3, strict=True)]
    inline: Annotated[bool, pydantic.Field(strict=True)] = False


class PDraftIn(pydantic.BaseModel):
    sender: Annotated[str, pydantic.Field(max_length=320)] | None = pydantic.Field(default=None, alias="from")
    to: Annotated[list[str | PRecipientIn], pydantic.Field(max_length=250)] | None = None
    cc: Annotated[list[str | PRecipientIn], pydantic.Field(max_length=250)] | None = None
    bcc: Annotated[list[str | PRecipientIn], pydantic.Field(max_length=250)] | None = None
    subject: Annotated[str, pydantic.Field(max_length=2000)] | None = None
    attachments: Annotated[list[PAttachmentIn], pydantic.Field(max_length=250)] | None = None
    phones: Annotated[dict[str, Annotated[str, pydantic.Field(max_length=64)] | None],
                      pydantic.Field(max_length=250)] | None = None


class PFinding(pydantic.BaseModel):
    rule: str
    code: str
    severity: str
    colour: str
    message: str
    target: str
    data: dict | None = None


class PRecipient(pydantic.BaseModel):
    address: str
    display_address: str
    address_form: str
    name: str
    field: str
    category: str
    route: str
    access_code: str | None
    phone_input: str
    stored_phone: str | None
    nta7516: bool | None
    valid: bool
    organisation: str | None
    network: str | None


class PVerdict(pydantic.BaseModel):
    can_send_secure: bool
    auto_send: bool
    recipients: list[PRecipient]
    findings: list[PFinding]


# ----- data ------------------------------------------------------------------------------------

def body() -> bytes:
    recipients = [{"address": f"arts{n}@huisarts-{n}.example", "name": f"Ontvanger {n}", "type": "user"}
                  for n in range(10)]
    return json.dumps({"from": "an@ziekenhuis-a.example", "to": recipients[:6], "cc": recipients[6:], "bcc": [],
                       "subject": "Verwijzing patiënt", "phones": {"arts1@huisarts-1.example": "+31612345678"},
                       "attachments": [{"name": "brief.pdf", "size": 200000, "inline": False}]}).encode()


def verdict_parts() -> tuple[list[dict], list[dict]]:
    recipients = [dict(address=f"arts{n}@huisarts-{n}.example", display_address=f"arts{n}@huisarts-{n}.example",
                       address_form="unicode", name=f"Ontvanger {n}", field="to", category="community",
                       route="direct", access_code=None, phone_input="none", stored_phone=None, nta7516=True,
                       valid=True, organisation=f"Huisarts {n}", network="ZorgMail") for n in range(10)]
    findings = [dict(rule="V-S1", code="sender_verified", severity="ok", colour="green",
                     message="Afzender geverifieerd", target="sender",
                     data={"entry": "ziekenhuis-a.example", "book_version": "v1", "book_age_seconds": 3600})] * 4
    return recipients, findings


def median_us(function, loops: int, runs: int) -> float:
    results = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(loops):
            function()
        results.append((time.perf_counter() - start) / loops * 1e6)
    return round(statistics.median(results), 2)


def import_ms(module: str, runs: int) -> float:
    code = f"import time; s = time.perf_counter(); import {module}; print(time.perf_counter() - s)"
    times = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
             for _ in range(runs)]
    return round(statistics.median(times) * 1000, 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--loops", type=int, default=2000)
    args = parser.parse_args()
    raw = body()
    recipients, findings = verdict_parts()
    m_decoder = msgspec.json.Decoder(MDraftIn)
    m_encoder = msgspec.json.Encoder()
    p_adapter = pydantic.TypeAdapter(PDraftIn)

    def m_build() -> MVerdict:
        return MVerdict(True, False, [MRecipient(**r) for r in recipients], [MFinding(**f) for f in findings])

    def p_build() -> PVerdict:   # construct without validation: the engine's own output is trusted
        return PVerdict.model_construct(can_send_secure=True, auto_send=False,
                                        recipients=[PRecipient.model_construct(**r) for r in recipients],
                                        findings=[PFinding.model_construct(**f) for f in findings])

    m_verdict, p_verdict = m_build(), p_build()
    assert json.loads(m_encoder.encode(m_verdict)) == json.loads(p_verdict.model_dump_json())
    figures = {
        "msgspec": {
            "version": msgspec.__version__,
            "parse_draft_us": median_us(lambda: m_decoder.decode(raw), args.loops, args.runs),
            "parse_draft_from_dict_us": median_us(lambda: msgspec.convert(json.loads(raw), MDraftIn),
                                                  args.loops, args.runs),
            "build_verdict_us": median_us(m_build, args.loops, args.runs),
            "verdict_to_json_us": median_us(lambda: m_encoder.encode(m_verdict), args.loops, args.runs),
            "import_ms": import_ms("msgspec", args.runs),
        },
        "pydantic": {
            "version": pydantic.VERSION,
            "parse_draft_us": median_us(lambda: p_adapter.validate_json(raw), args.loops, args.runs),
            "parse_draft_from_dict_us": median_us(lambda: p_adapter.validate_python(json.loads(raw)),
                                                  args.loops, args.runs),
            "build_verdict_us": median_us(p_build, args.loops, args.runs),
            "verdict_to_json_us": median_us(lambda: p_verdict.model_dump_json().encode(), args.loops, args.runs),
            "import_ms": import_ms("pydantic; pydantic.BaseModel", args.runs),
        },
        "baseline": {
            "json_loads_us": median_us(lambda: json.loads(raw), args.loops, args.runs),
            "json_dumps_dict_us": median_us(lambda: json.dumps({"recipients": recipients, "findings": findings}),
                                            args.loops, args.runs),
        },
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "models_choice.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
