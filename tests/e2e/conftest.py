"""The e2e tier: the development host as a subprocess, driven over real HTTP on 127.0.0.1."""
from __future__ import annotations

import os
import time

import pytest
from devhost_process import start_devhost, stop_devhost


@pytest.fixture
def devhost(azurite, tmp_path):
    """A development host on the session's Azurite, with its own tables."""
    host = start_devhost(tmp_path, {"TABLES_CONNECTION_STRING": azurite.connection_string,
                                    "TABLE_PREFIX": f"e{os.getpid()}x{time.monotonic_ns() % 10**9}"})
    yield host
    stop_devhost(host)
