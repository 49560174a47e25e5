"""Reading the Bicep files of infra/ for the tests: pycep-parser (pinned with checkov) with the one
line it predates, ``extension <name>`` (the Microsoft Graph extension), left out; the workflow's
``az bicep build`` checks that line with the real compiler."""
from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
EXTENSION_LINE = re.compile(r"^extension [A-Za-z][A-Za-z0-9]*\s*$", re.MULTILINE)


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


def without_extensions(text: str) -> str:
    return EXTENSION_LINE.sub("", text)


@functools.cache
def parse(path: Path) -> dict[str, Any]:
    from pycep import BicepParser

    parsed: dict[str, Any] = dict(BicepParser().parse(text=without_extensions(path.read_text("utf-8"))))
    return parsed


def resources(path: Path) -> dict[str, tuple[str, dict[str, Any]]]:
    """symbolic name -> (type, config); a loop's or a condition's body is unwrapped."""
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for name, resource in (parse(path).get("resources") or {}).items():
        config = resource["config"]
        while "config" in config and ("loop_type" in config or "condition" in config):
            config = config["config"]
        found[name] = (resource["type"], config)
    return found


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))
