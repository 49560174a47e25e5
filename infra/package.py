"""Build the deployable zip of the Function App: ``make package`` -> ``dist/sendsecure.zip``.

The files are those git knows (tracked, or new and not ignored) minus ``.funcignore`` (gitignore
syntax, matched with pathspec as Core Tools does), so a virtual environment, node_modules, caches
and local settings never get in even when present. Entries are sorted and dated 1980-01-01, so
the same tree always gives the same zip (and the same hash).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import zipfile
from pathlib import Path

import pathspec

ROOT = Path(__file__).resolve().parents[1]
REQUIRED = ("function_app.py", "host.json", "requirements.txt")


def package_files(root: Path = ROOT) -> list[str]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                            cwd=root, capture_output=True, check=True).stdout.decode().split("\0")
    ignore = pathspec.GitIgnoreSpec.from_lines((root / ".funcignore").read_text("utf-8").splitlines())
    # A set: git lists a file with a merge conflict once per stage.
    return sorted({name for name in listed if name and (root / name).is_file() and not ignore.match_file(name)})


def build(output: Path, root: Path = ROOT) -> list[str]:
    files = package_files(root)
    missing = [name for name in REQUIRED if name not in files]
    if missing:
        raise SystemExit(f"the package would lack {', '.join(missing)}")
    output.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in files:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, (root / name).read_bytes())
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(ROOT / "dist" / "sendsecure.zip"))
    args = parser.parse_args(argv)
    files = build(Path(args.output))
    print(f"{args.output}: {len(files)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
