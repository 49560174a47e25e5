"""Shared by the integration tests that run local TLS servers (Graph, SMTP STARTTLS, Key Vault)."""
from __future__ import annotations

from pathlib import Path

import pytest
import trustme


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """A throw-away certificate authority for the local HTTPS and STARTTLS servers."""
    return trustme.CA()


@pytest.fixture
def ca_bundle(ca: trustme.CA, tmp_path: Path) -> str:
    """The CA's certificate as a file, for clients that verify the local servers."""
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)
