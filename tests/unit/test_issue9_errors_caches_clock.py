"""Issue 9 items 4 and 5: SDK-free errors and edge, the one bounded TTL cache, the one UTC clock."""
from __future__ import annotations

import ast
import math
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from sendsecure.context import DeadlineExceeded
from sendsecure.core.cache import TtlCache
from sendsecure.core.clock import as_utc, utcnow
from sendsecure.errors import DEFAULT_RETRY_AFTER, Conflict, DependencyUnavailable, ascii_number, retry_after_seconds

ROOT = Path(__file__).resolve().parents[2]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_issue9_item5_an_entry_is_fresh_for_ttl_seconds_then_gone() -> None:
    clock = Clock()
    cache: TtlCache[str, int] = TtlCache(5, clock=clock)
    cache.put("a", 1)
    clock.now += 4.9
    assert cache.get("a") == 1
    clock.now += 0.1
    assert cache.get("a") is None and cache.entry("a") is None
    assert len(cache) == 0  # an expired entry is dropped when it is found expired


def test_issue9_item5_the_cache_is_bounded_and_drops_the_oldest_first() -> None:
    clock = Clock()
    cache: TtlCache[int, int] = TtlCache(60, maxsize=3, clock=clock)
    for key in range(5):
        cache.put(key, key)
    assert len(cache) == 3
    assert [cache.get(key) for key in range(5)] == [None, None, 2, 3, 4]
    cache.put(2, 20)  # stored again: now the newest
    cache.put(5, 5)
    assert cache.get(3) is None and cache.get(2) == 20


def test_issue9_item5_grace_keeps_a_stale_copy_with_its_age() -> None:
    clock = Clock()
    cache: TtlCache[str, str] = TtlCache(5, grace=5, clock=clock)
    cache.put("s", "session")
    clock.now += 7
    assert cache.get("s") is None  # not fresh: the caller refreshes
    assert cache.entry("s") == ("session", 7)  # but may use the copy meanwhile
    cache.replace("s", "touched")
    assert cache.entry("s") == ("touched", 7)  # a new value keeps the copy's age
    clock.now += 3.5
    assert cache.entry("s") is None  # past ttl + grace


def test_issue9_item5_an_infinite_grace_keeps_entries_even_with_ttl_zero() -> None:
    clock = Clock()
    cache: TtlCache[str, bytes] = TtlCache(0, grace=math.inf, clock=clock)
    cache.put("key", b"k")
    clock.now += 1e6
    assert cache.get("key") is None and cache.entry("key") == (b"k", 1e6)
    cache.touch("key")
    assert cache.entry("key") == (b"k", 0)


def test_issue9_item5_ttl_zero_turns_the_cache_off() -> None:
    cache: TtlCache[str, int] = TtlCache(0)
    cache.put("a", 1)
    assert not cache.enabled and len(cache) == 0 and cache.get("a") is None


def test_issue9_item5_pop_where_drops_a_tenants_entries() -> None:
    cache: TtlCache[str, int] = TtlCache(10)
    for key in ("t1.a", "t1.b", "t2.a"):
        cache.put(key, 1)
    assert cache.pop_where(lambda key: key.startswith("t1.")) == 2
    assert cache.get("t2.a") == 1 and cache.get("t1.a") is None
    assert cache.pop("t2.a") == 1 and cache.pop("t2.a") is None


def test_issue9_item5_maxsize_must_be_positive() -> None:
    with pytest.raises(ValueError):
        TtlCache(1, maxsize=0)


def test_issue9_item5_utc_clock_and_stored_times() -> None:
    now = utcnow()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)
    naive = datetime(2026, 3, 1, 12, 0)
    assert as_utc(naive) == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    cet = timezone(timedelta(hours=1))
    aware = datetime(2026, 3, 1, 12, 0, tzinfo=cet)
    assert as_utc(aware) is aware
    assert as_utc(None) is None


def _sources(*patterns: str) -> list[Path]:
    return sorted(path for pattern in patterns for path in ROOT.glob(pattern))


def test_issue9_item5_services_and_adapters_read_the_time_through_the_one_clock() -> None:
    offenders = []
    for path in _sources("sendsecure/*.py", "sendsecure/adapters/**/*.py", "sendsecure/http/*.py"):
        text = path.read_text("utf-8")
        if "datetime.now(" in text or "def _utc(" in text:
            offenders.append(path.relative_to(ROOT).as_posix())
    assert offenders == []


def test_issue9_item4_the_error_module_imports_no_azure_sdk() -> None:
    tree = ast.parse((ROOT / "sendsecure/errors.py").read_text("utf-8"))
    imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    imported += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert not [name for name in imported if name.split(".")[0] == "azure"]


def test_issue9_item4_no_service_sorts_sdk_errors() -> None:
    """Services catch the application's errors only; the adapters translate (no azure imports,
    no ``dependency_failure`` outside the adapters)."""
    offenders = []
    for path in _sources("sendsecure/*.py", "sendsecure/http/*.py"):
        text = path.read_text("utf-8")
        if "dependency_failure" in text or "azure.core" in text or "azure.data" in text:
            offenders.append(path.relative_to(ROOT).as_posix())
    assert offenders == []


def _answer(failure: BaseException):
    import azure.functions as func

    from sendsecure.http.httpapi import endpoint

    def handler(req: func.HttpRequest) -> func.HttpResponse:
        raise failure

    return endpoint(handler)(func.HttpRequest("GET", "http://localhost/api/v1/session", body=b""))


@pytest.mark.parametrize("failure", [DeadlineExceeded("no time left"), ConnectionResetError(),
                                     DependencyUnavailable(retry_after=7)])
def test_issue9_item4_the_edge_answers_dependency_failures_with_503_and_retry_after(failure) -> None:
    response = _answer(failure)
    assert response.status_code == 503 and int(response.headers["Retry-After"]) >= 1
    if getattr(failure, "retry_after", None) == 7:
        assert response.headers["Retry-After"] == "7"


def test_issue9_item4_the_edge_does_not_sort_sdk_errors() -> None:
    """An SDK error reaching the edge is a bug in an adapter (it should have translated it): 500."""
    from azure.core.exceptions import ServiceRequestError

    response = _answer(ServiceRequestError("connection refused"))
    assert response.status_code == 500
    assert b"connection refused" not in response.get_body()


def test_issue9_item4_a_conflict_is_409() -> None:
    response = _answer(Conflict())
    assert response.status_code == 409 and b'"code":"conflict"' in response.get_body()


@pytest.mark.parametrize(("text", "expected"), [("12", 12), ("0", 0), ("²", None), ("١٠", None), ("1" * 19, None),
                                                ("", None), (" 1", None), ("-1", None)])
def test_api_conventions_a_number_from_outside_is_ascii_digits_only(text, expected):
    # "²".isdigit() is true and int("²") raises; int() reads "١٠" as 10 and refuses 4,301 digits
    # (found by review: each was a 500 somewhere a header or query only passed isdigit()).
    assert ascii_number(text) == expected


@pytest.mark.parametrize(("header", "seconds"), [("30", 30), ("²", 3600), ("9" * 5000, 3600), ("0", 1),
                                                 ("not a date", DEFAULT_RETRY_AFTER), (None, DEFAULT_RETRY_AFTER)])
def test_api_conventions_an_upstream_retry_after_never_raises(header, seconds):
    assert retry_after_seconds(header) == seconds
