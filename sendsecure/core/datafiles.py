"""The JSON data files shipped in ``sendsecure/data`` (finding texts, the blocked-extension list,
mail texts), each read once per worker. Pure: package resources, no I/O beyond them."""
from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any


@functools.cache
def data_file(name: str) -> dict[str, Any]:
    """A JSON data file shipped in ``sendsecure/data`` (texts, lists with their sources)."""
    data: dict[str, Any] = json.loads(resources.files("sendsecure.data").joinpath(name).read_text("utf-8"))
    return data
