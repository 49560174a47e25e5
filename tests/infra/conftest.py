"""Shared by the infrastructure tests: a CA for the local App Configuration server."""
from __future__ import annotations

from pathlib import Path

import pytest
import trustme


@pytest.fixture(scope="session")
def infra_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def infra_ca_bundle(infra_ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    infra_ca.cert_pem.write_to_path(str(path))
    return str(path)
