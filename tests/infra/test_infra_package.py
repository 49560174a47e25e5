"""The deployable package (issue 15 item 5): `make package` builds dist/sendsecure.zip from the
files git knows minus .funcignore; it holds the app and nothing of the development tree, and the
app imports from the unpacked zip alone."""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "infra"))
import package  # type: ignore[import-not-found]  # noqa: E402  (infra/package.py, which `make package` runs)

FORBIDDEN = ("tests/", "node_modules/", ".venv/", "addin/", "devhost/", "bench/", "docs/", "infra/", ".git/",
             ".github/", "dist/", ".run/", "mutants/", "test-artifacts/")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("dist") / "sendsecure.zip"
    subprocess.run([sys.executable, str(ROOT / "infra" / "package.py"), "--output", str(output)], check=True,
                   cwd=ROOT, capture_output=True)
    return output


def names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


def test_issue15_item5_the_zip_holds_the_app(built):
    listed = names(built)
    for required in ("function_app.py", "host.json", "requirements.txt", "functions/onboarding.py",
                     "sendsecure/settings.py", "domainbook/variants.json"):
        assert required in listed
    assert any(name.startswith("sendsecure/data/") for name in listed)


def test_issue15_item5_the_zip_holds_no_tests_tools_or_local_files(built):
    listed = names(built)
    assert not [n for n in listed if n.startswith(FORBIDDEN)]
    assert not [n for n in listed if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in listed if n.startswith("local.settings") or n.startswith("requirements-dev")]


def test_issue15_item5_funcignore_applies_to_files_git_does_not_ignore(tmp_path):
    stray = ROOT / "tests" / "zz_package_probe_not_committed.py"
    stray.write_text("# a new file under tests/: .funcignore keeps it out\n")
    try:
        assert "tests/zz_package_probe_not_committed.py" not in package.package_files()
        assert "functions/onboarding.py" in package.package_files()
    finally:
        stray.unlink()


def test_issue15_item5_the_same_tree_gives_the_same_zip(built, tmp_path):
    again = tmp_path / "again.zip"
    package.build(again)
    assert again.read_bytes() == built.read_bytes()


def test_issue15_item5_the_app_imports_from_the_unpacked_zip_alone(built, tmp_path):
    with zipfile.ZipFile(built) as archive:
        archive.extractall(tmp_path / "app")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    result = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path[:] = [p for p in sys.path if p not in ('', {str(ROOT)!r})]; "
         "sys.path.insert(0, '.'); import function_app; print(len(function_app.app.get_functions()))"],
        cwd=tmp_path / "app", env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert int(result.stdout.strip()) > 10
