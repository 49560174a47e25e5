"""Issue 13: the domain book sync against Azurite and a local HTTPS source server (SPEC D1-D4, V-O3).

The server (tests/integration/sourceserver.py) counts requests and serves ETags, 304s, slow
answers, resets, truncated bodies; the sources carry garbage lines, IDN and mixed case.
"""
from __future__ import annotations

import json
import threading
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec
import pytest
from helpers import run_function
from sourceserver import FaultyServer

from sendsecure import runtime
from sendsecure.adapters import storage
from sendsecure.adapters.sourcefetch import SourceFetcher
from sendsecure.bookstore import CURRENT, LEASE_ROW, DomainBookStore
from sendsecure.booksync import LEASE_SECONDS, BookSync, SyncBusy
from sendsecure.core.addresses import normalise_domain
from sendsecure.core.booksources import build_book, parse_source
from sendsecure.core.clock import utcnow
from sendsecure.core.domainbook import BookEntry
from sendsecure.errors import DependencyUnavailable

REGISTER_HEADER = "domain,organisation,supplier,nta7516\n"
DOMAINS = [f"praktijk-{n:03d}.example" for n in range(200)]


def text_source(domains: list[str]) -> bytes:
    return ("### test list\n" + "\n".join(domains) + "\n").encode()


def register_source(rows: list[tuple[str, str, str]]) -> bytes:
    return (REGISTER_HEADER + "".join(f"{d},{o},Veilig Mailen BV,{f}\n" for d, o, f in rows)).encode()


REGISTER = [(f"kliniek-{n:02d}.example", f"Kliniek {n}", "ja") for n in range(30)]


def expected_entries(files: dict[str, bytes], server: FaultyServer, names: list[str]) -> dict[str, BookEntry]:
    """What the book must hold for these file contents (the parsers and the merge, in order)."""
    results = []
    for name in names:
        fmt = "nta_register_csv" if name.endswith(".csv") else "zorgmail_text"
        url = server.url(name)
        results.append((url, parse_source(fmt, files[name].decode(), network="zorgmail", source=url)))
    return build_book("zorgmail", results).entries


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Writes:
    """Counts (and optionally fails) every Table write of the sync: entity writes and requests."""

    METHODS = ("insert", "upsert", "replace_if_unchanged", "submit", "delete", "_delete_batch")

    def __init__(self, tables: storage.TableStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self.fail_at: int | None = None
        for name in self.METHODS:
            monkeypatch.setattr(tables, name, self._wrap(getattr(tables, name)))

    def _wrap(self, real: Any) -> Any:
        def write(*args: Any, **kwargs: Any) -> Any:
            index = self.calls
            self.calls += 1
            if index == self.fail_at:
                raise DependencyUnavailable("injected")
            return real(*args, **kwargs)
        return write


@pytest.fixture
def server(ca):
    files = {"list.txt": text_source(DOMAINS[:100]), "register.csv": register_source(REGISTER)}
    with FaultyServer(files, ca=ca) as running:
        yield running


@pytest.fixture
def definition(server, tmp_path) -> Path:
    path = tmp_path / "variants.json"
    sources = [{"url": server.url("list.txt"), "format": "zorgmail_text", "network": "zorgmail"},
               {"url": server.url("register.csv"), "format": "nta_register_csv"}]
    path.write_text(json.dumps({"zorgmail": {"sources": sources}}))
    return path


@pytest.fixture
def make_sync(app_env, definition, ca_bundle):
    def build(*, timeout: float = 2.0, attempts: int = 3, max_bytes: int = 1 << 20, clock: Any = utcnow,
              grace: float = 600, ca: str | None = None) -> BookSync:
        fetcher = SourceFetcher(ca_bundle=ca_bundle if ca is None else ca, timeout=timeout, attempts=attempts,
                                backoff=0.01, max_bytes=max_bytes)
        return BookSync(runtime.books(), definition, fetcher, grace_seconds=grace, clock=clock)
    return build


def served(variant: str = "zorgmail") -> dict[str, BookEntry]:
    """What a new worker would load now."""
    return DomainBookStore(runtime.tables(), check_seconds=0).current(variant).entries


def names(server: FaultyServer) -> list[str]:
    return ["list.txt", "register.csv"]


# ----- item 1: conditional HTTPS fetches, timeouts, size cap, retries ---------------------------

def test_issue13_item1_https_sync_then_unchanged_resync_costs_one_request_per_source_and_no_writes(
        make_sync, server, app_env, monkeypatch):
    sync = make_sync()
    first = sync.run()
    assert first.variants[0].outcome == "changed" and first.table_writes > 0
    assert served() == expected_entries(server.files, server, names(server))
    before = dict(server.requests)
    writes = Writes(runtime.tables(), monkeypatch)
    again = sync.run()
    assert writes.calls == 0 and again.table_writes == 0
    assert {name: server.requests[name] - before[name] for name in before} == {"list.txt": 1, "register.csv": 1}
    assert again.variants[0].outcome == "unchanged" and again.variants[0].sources_unchanged == 2


def test_issue13_item1_if_modified_since_gives_304_without_etags(make_sync, server, monkeypatch):
    server.etags = False
    sync = make_sync()
    sync.run()
    writes = Writes(runtime.tables(), monkeypatch)
    again = sync.run()
    assert writes.calls == 0 and all(s.outcome == "unchanged" and s.requests == 1 for s in again.variants[0].sources)


def test_issue13_item1_resets_truncated_bodies_and_5xx_are_retried(make_sync, server):
    server.faults["list.txt"] = ["reset", "truncate", "503"]
    server.faults["register.csv"] = ["500"]
    answer = make_sync(attempts=4).run()
    sources = {s.name.rsplit("/", 1)[1]: s for s in answer.variants[0].sources}
    assert sources["list.txt"].outcome == "changed" and sources["list.txt"].requests == 4
    assert sources["register.csv"].outcome == "changed" and sources["register.csv"].requests == 2
    assert served() == expected_entries(server.files, server, names(server))


def test_issue13_item1_slow_and_trickling_sources_time_out_and_keep_the_last_good_content(make_sync, server):
    make_sync().run()
    good = served()
    server.put("list.txt", text_source(DOMAINS[:110]))
    server.slow_seconds = 1.5
    server.faults["list.txt"] = ["slow", "trickle"]
    answer = make_sync(timeout=0.6, attempts=2).run()
    report = answer.variants[0]
    assert report.outcome == "partial" and report.sources[0].outcome == "failed"
    assert "timed out" in (report.sources[0].error or "")
    assert served() == good
    assert runtime.books().status("zorgmail").last_error is not None


def test_issue13_item1_size_cap_and_client_errors_are_not_retried(make_sync, server):
    answer = make_sync(max_bytes=1024).run()
    source = answer.variants[0].sources[0]
    assert source.outcome == "failed" and "larger than" in (source.error or "") and source.requests == 1
    assert answer.variants[0].outcome == "failed"          # a first generation needs every source
    server.faults["list.txt"] = ["404"]
    assert make_sync().run().variants[0].sources[0].requests == 1


def test_issue13_item1_redirects_are_followed_only_to_https(make_sync, server):
    server.faults["list.txt"] = ["redirect"]
    server.faults["register.csv"] = ["redirect-http"]
    sources = make_sync().run().variants[0].sources
    assert sources[0].outcome == "changed" and sources[0].requests == 2
    assert sources[1].outcome == "failed" and "non-https" in (sources[1].error or "") and sources[1].requests == 1


@pytest.mark.parametrize("elsewhere", ["another host", "another port"])
def test_d1_a_redirect_to_another_host_or_port_is_not_followed_and_the_source_keeps_its_content(
        make_sync, server, ca, elsewhere):
    """Security review F7: a hijacked source must not point the sync at another (internal) HTTPS
    service. ``localhost`` is the same machine and in the server's certificate: only the name differs."""
    make_sync().run()
    good = served()
    with FaultyServer({"list.txt": text_source(DOMAINS[:110])}, ca=ca) as other:
        target = (f"https://localhost:{server.port}/list.txt" if elsewhere == "another host"
                  else other.url("list.txt"))
        server.put("list.txt", text_source(DOMAINS[:110]))
        server.faults["list.txt"] = [f"location {target}"]
        before = server.requests["list.txt"]
        listed = make_sync().run().variants[0].sources[0]
        assert other.requests["list.txt"] == 0
    assert listed.outcome == "failed" and "another host" in (listed.error or "")
    assert server.requests["list.txt"] - before == 1                          # not retried
    assert served() == good


# A malformed address (security review F2): the source fails at once (an address does not mend by
# itself), keeps its last good content, and the rest of the run goes on.
MALFORMED = ["https://[::1", "//[::1/list.txt", "https://127.0.0.1:99999/list.txt",
             "https://" + "a" * 64 + ".example/list.txt"]


@pytest.mark.parametrize("location", MALFORMED)
def test_d3_a_malformed_redirect_fails_that_source_alone_and_keeps_its_last_good_content(make_sync, server,
                                                                                         location):
    make_sync().run()
    good = served()
    server.put("list.txt", text_source(DOMAINS[:110]))
    server.put("register.csv", register_source(REGISTER + [("nieuw.example", "Nieuw", "ja")]))
    server.faults["list.txt"] = [f"location {location}"]
    before = server.requests["list.txt"]
    report = make_sync().run().variants[0]
    listed, register = report.sources
    assert listed.outcome == "failed" and listed.error
    assert server.requests["list.txt"] - before == 1                          # not retried: not transient
    assert register.outcome == "changed" and report.outcome == "partial"
    assert set(served()) == set(good) | {"nieuw.example"}


def test_d3_a_source_address_that_cannot_be_used_fails_that_source_and_the_operator_gets_200(
        app_env, server, ca_bundle, tmp_path, functions, monkeypatch):
    """A host label over 63 characters: urllib3 refuses it when connecting (LocationParseError)."""
    import azure.functions as func
    from helpers import json_of

    from sendsecure.provision import service_credential

    bad = "https://" + "a" * 64 + ".example/list.txt"
    definition = tmp_path / "review-f2.json"
    definition.write_text(json.dumps({
        "zorgmail": {"sources": [{"url": bad, "format": "zorgmail_text", "network": "zorgmail"},
                                 {"url": server.url("register.csv"), "format": "nta_register_csv"}]},
        "sigra": {"sources": [{"url": server.url("register.csv"), "format": "nta_register_csv"}]}}))
    monkeypatch.setenv("DOMAIN_BOOK_SOURCES", str(definition))
    monkeypatch.setenv("BOOK_SYNC_CA_BUNDLE", ca_bundle)
    runtime.reset()
    credential, _ = service_credential("book-sync")
    request = func.HttpRequest("POST", "http://127.0.0.1/api/v1/admin/domain-book/sync",
                               headers={"authorization": f"Bearer {credential}"}, body=b"")
    response = functions["sync_domain_book_now"].get_user_function()(request)
    assert response.status_code == 200, response.get_body()
    variants = {v["variant"]: v for v in json_of(response)["variants"]}
    assert variants["sigra"]["outcome"] == "changed"
    zorgmail = variants["zorgmail"]
    assert zorgmail["outcome"] == "failed" and zorgmail["sources"][0]["outcome"] == "failed"
    assert zorgmail["sources"][0]["requests"] == 1 and zorgmail["sources"][0]["error"]
    assert zorgmail["sources"][1]["outcome"] == "changed"


def test_issue13_item1_tls_is_verified_against_the_ca_bundle_setting(make_sync, server):
    answer = make_sync(ca="").run()                         # the default bundle does not know the test CA
    assert all(s.outcome == "failed" and "TLS" in (s.error or "") for s in answer.variants[0].sources)
    with pytest.raises(DependencyUnavailable):
        served()


# ----- security review F3: one deadline for the run, each URL once -----------------------------

def timed_sync(definition: Path, ca_bundle: str, clock: Clock, slept: list[float], *,
               deadline: float = 90, attempts: int = 3) -> BookSync:
    """A sync whose waits only advance its clock (no real sleep), with the default Retry-After cap."""
    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(seconds)

    fetcher = SourceFetcher(ca_bundle=ca_bundle, timeout=2, attempts=attempts, backoff=0.01, sleep=sleep)
    return BookSync(runtime.books(), definition, fetcher, clock=clock, deadline_seconds=deadline)


def test_d1_a_source_in_maintenance_cannot_hold_the_run_past_its_deadline(app_env, server, definition, ca_bundle):
    """Retry-After: 60 three times made a run wait 120 s for one source (host.json functionTimeout:
    120 s). Now no wait ends past the deadline: that source fails as transient, keeps its content."""
    clock, slept = Clock(), []
    sync = timed_sync(definition, ca_bundle, clock, slept)
    sync.run()
    good = served()
    server.put("list.txt", text_source(DOMAINS[:110]))
    server.put("register.csv", register_source(REGISTER + [("nieuw.example", "Nieuw", "ja")]))
    server.faults["list.txt"] = ["maintenance"] * 3
    started = clock.now
    report = sync.run().variants[0]
    assert sum(slept) <= 90 and clock.now - started <= timedelta(seconds=90)
    listed, register = report.sources
    assert listed.outcome == "failed" and "deadline" in (listed.error or "") and listed.requests == 2
    assert register.outcome == "changed" and report.outcome == "partial"
    assert set(served()) == set(good) | {"nieuw.example"}


def test_d1_sources_left_when_the_deadline_passes_fail_as_transient_without_a_request(
        app_env, server, definition, ca_bundle):
    clock, slept = Clock(), []
    sync = timed_sync(definition, ca_bundle, clock, slept, deadline=60)
    sync.run()
    good = served()
    server.put("register.csv", register_source(REGISTER + [("nieuw.example", "Nieuw", "ja")]))
    server.on_request = lambda name: clock.advance(61) if name == "list.txt" else None   # a 61 s answer
    before = server.requests["register.csv"]
    report = sync.run().variants[0]
    listed, register = report.sources
    assert listed.outcome == "unchanged"
    assert register.outcome == "failed" and "deadline" in (register.error or "") and register.requests == 0
    assert server.requests["register.csv"] == before and slept == []
    assert served() == good
    server.on_request = None
    assert sync.run().variants[0].sources[1].outcome == "changed"   # the next run is on time again


def test_d1_a_url_two_variants_share_is_fetched_once_per_run(app_env, server, ca_bundle, tmp_path):
    sources = [{"url": server.url("list.txt"), "format": "zorgmail_text", "network": "zorgmail"},
               {"url": server.url("register.csv"), "format": "nta_register_csv"}]
    definition = tmp_path / "variants.json"
    definition.write_text(json.dumps({"zorgmail": {"sources": sources}}))
    clock, slept = Clock(), []
    timed_sync(definition, ca_bundle, clock, slept).run()
    definition.write_text(json.dumps({"zorgmail": {"sources": sources}, "sigra": {"sources": sources[1:]}}))

    def requests_of(run: Any) -> tuple[Any, dict[str, int]]:
        before = dict(server.requests)
        answer = run()
        return answer, {name: server.requests[name] - before.get(name, 0) for name in server.requests}

    sync = timed_sync(definition, ca_bundle, clock, slept)
    # sigra is new (no validators), zorgmail has them: one unconditional fetch serves both.
    answer, made = requests_of(sync.run)
    assert made == {"list.txt": 1, "register.csv": 1} and answer.source_requests == 2
    reports = {report.variant: report for report in answer.variants}
    assert reports["zorgmail"].outcome == "unchanged" and reports["sigra"].outcome == "changed"
    answer, made = requests_of(sync.run)                               # both conditional now: one 304
    assert made == {"list.txt": 1, "register.csv": 1} and answer.source_requests == 2
    assert all(report.outcome == "unchanged" for report in answer.variants)
    server.faults["register.csv"] = ["404"]                            # a failure is not asked twice
    answer, made = requests_of(sync.run)
    assert made["register.csv"] == 1
    assert all(report.sources[-1].outcome == "failed" for report in answer.variants)


# ----- security review F1: a source URL's query and user info show nowhere ----------------------

SECRET = "sig=S3cr3tT0ken%2Bxyz"


def secret_url(server: FaultyServer, name: str) -> str:
    """A SAS-like URL with user info; the test server answers by path and ignores both."""
    return server.url(name).replace("https://", "https://lezer:Wachtw00rd@") + f"?sv=2024-05-04&sp=r&{SECRET}"


def stored_text() -> str:
    """Everything the book's two tables hold (pointers, lease, every segment chunk)."""
    tables = runtime.tables()
    rows = [*tables.query(storage.BOOK_META, "PartitionKey ne ''"), *tables.query(storage.BOOK, "PartitionKey ne ''")]
    return json.dumps([dict(row) for row in rows], default=str)


def shows_no_secret(text: str) -> bool:
    return "S3cr3t" not in text and "Wachtw00rd" not in text and "sv=2024" not in text


def test_d3_a_source_urls_query_and_user_info_show_nowhere(app_env, server, ca_bundle, tmp_path, functions,
                                                           caplog):
    from helpers import json_of

    from sendsecure.core.booksources import source_name

    url = secret_url(server, "list.txt")
    server.put("partners.txt", text_source(["partner-1.example", "partner-2.example"]))
    other = secret_url(server, "partners.txt").replace(SECRET, "sig=AnotherS3cr3t")   # another list, its own token
    definition = tmp_path / "variants.json"
    definition.write_text(json.dumps({"zorgmail": {"sources": [
        {"url": url, "format": "zorgmail_text", "network": "zorgmail"},
        {"url": other, "format": "zorgmail_text", "network": "zorgmail"},
        {"url": server.url("register.csv"), "format": "nta_register_csv"}]}}))
    fetcher = SourceFetcher(ca_bundle=ca_bundle, timeout=2, attempts=2, backoff=0.01)
    sync = BookSync(runtime.books(), definition, fetcher)
    caplog.set_level("DEBUG")
    first = sync.run()
    names_given = [source.name for source in first.variants[0].sources]
    assert names_given[0] == source_name(url) and len(set(names_given)) == 3
    assert first.variants[0].outcome == "changed"
    server.faults["list.txt"] = ["404", "503", "503"]
    second = sync.run()
    assert second.variants[0].outcome == "partial" and second.variants[0].error
    assert source_name(url) in (second.variants[0].error or "")
    runtime.books().forget()
    request = __import__("azure.functions", fromlist=["HttpRequest"]).HttpRequest(
        "GET", "http://127.0.0.1/api/v1/health", headers={}, body=b"")
    health = json_of(run_function(functions["get_health"], request))
    assert "answered 404" in health["domain_book"]["variants"]["zorgmail"]["last_error"]
    assert source_name(url) in {entry.source for entry in served().values()}
    answers = json.dumps(msgspec.to_builtins([first, second]))
    for shown in (json.dumps(health), answers, caplog.text, stored_text()):
        assert shows_no_secret(shown), shown[:2000]


def test_d3_a_book_synced_when_sources_were_named_by_their_whole_url_keeps_working(
        app_env, server, ca_bundle, tmp_path, monkeypatch):
    """State stored before review F1 (pointer sources and entries named by the whole URL) is found by
    the URL, keeps protecting (the shrink check, the last good content on a failure) and moves to
    the new names with one full fetch; afterwards the source is conditional again."""
    from sendsecure.core import booksources

    url = secret_url(server, "list.txt")
    definition = tmp_path / "variants.json"
    definition.write_text(json.dumps({"zorgmail": {"sources": [
        {"url": url, "format": "zorgmail_text", "network": "zorgmail"},
        {"url": server.url("register.csv"), "format": "nta_register_csv"}]}}))
    clock = Clock()
    fetcher = SourceFetcher(ca_bundle=ca_bundle, timeout=2, attempts=1, backoff=0.01)

    def sync() -> Any:
        return BookSync(runtime.books(), definition, fetcher, grace_seconds=0, clock=clock).run()

    with monkeypatch.context() as before_the_fix:
        before_the_fix.setattr(booksources, "source_name", lambda whole: whole)
        assert sync().variants[0].outcome == "changed"
    assert not shows_no_secret(stored_text())                 # what a book synced before the fix holds
    good = served()

    server.faults["list.txt"] = ["404"]                       # the first run after the fix fails that source
    failing = sync().variants[0]
    assert failing.outcome == "partial" and failing.sources[0].outcome == "failed"
    assert served() == good and shows_no_secret(failing.error or "")
    runtime.books().forget()
    assert shows_no_secret(runtime.books().status("zorgmail").last_error or "")

    server.put("list.txt", text_source(DOMAINS[:70]))         # shrunk by 30 %: still refused
    refused = sync().variants[0]
    assert refused.sources[0].outcome == "refused" and served() == good

    server.put("list.txt", text_source(DOMAINS[:100]))
    clock.advance(1)
    moved = sync().variants[0]
    assert moved.sources[0].outcome == "changed" and moved.sources[0].requests == 1
    assert set(served()) == set(good) and served()["praktijk-000.example"].source == booksources.source_name(url)
    clock.advance(1)
    sync()                                                    # the retired segments go (grace 0)
    assert shows_no_secret(stored_text())
    before = server.requests["list.txt"]
    again = sync().variants[0]
    assert again.outcome == "unchanged" and again.sources[0].outcome == "unchanged"
    assert server.requests["list.txt"] - before == 1


# ----- a URL source's state survives a new token (D3: the shrink check after a token rotation) ------

class TokenServer(FaultyServer):
    """The source server with a SAS-like check on ``list.txt``: once ``token`` is set, a request whose
    query lacks ``sig=<token>`` gets 403 (as Azure Blob answers a revoked or expired SAS).
    ``conditional[name]`` records, per request, whether it carried ``If-None-Match``."""

    def __init__(self, files: dict[str, bytes], **kwargs: Any) -> None:
        super().__init__(files, **kwargs)
        self.token = ""
        self.conditional: dict[str, list[bool]] = {}

    def before_answer(self, handler: Any, name: str) -> bool:
        self.conditional.setdefault(name, []).append("If-None-Match" in handler.headers)
        if name == "list.txt" and self.token and f"sig={self.token}" not in urlsplit(handler.path).query.split("&"):
            payload = b"forbidden\n"
            handler.send_response(403)
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
            return True
        return super().before_answer(handler, name)


def sas_url(server: FaultyServer, name: str, token: str, password: str = "Wachtw00rd") -> str:
    return (server.url(name).replace("https://", f"https://lezer:{password}@")
            + f"?sv=2024-05-04&sp=r&sig={token}")


@pytest.fixture
def token_server(ca):
    files = {"list.txt": text_source(DOMAINS[:100]), "register.csv": register_source(REGISTER)}
    with TokenServer(files, ca=ca) as running:
        yield running


@pytest.fixture
def token_sync(app_env, token_server, ca_bundle, tmp_path):
    """``token_sync(token, password)``: the operator's definition with that SAS token (the server
    accepting only it: the old one is revoked), then one run; its variant report."""
    definition = tmp_path / "variants.json"
    clock = Clock()
    fetcher = SourceFetcher(ca_bundle=ca_bundle, timeout=2, attempts=1, backoff=0.01)

    def run(token: str, password: str = "Wachtw00rd", *, advance: float = 0) -> Any:
        token_server.token = token
        definition.write_text(json.dumps({"zorgmail": {"sources": [
            {"url": sas_url(token_server, "list.txt", token, password), "format": "zorgmail_text",
             "network": "zorgmail"},
            {"url": token_server.url("register.csv"), "format": "nta_register_csv"}]}}))
        clock.advance(advance)
        return BookSync(runtime.books(), definition, fetcher, grace_seconds=0, clock=clock).run()
    return run


def test_d3_a_new_sas_token_keeps_the_sources_state_so_the_shrink_check_refuses_a_truncated_first_fetch(
        token_sync, token_server, caplog):
    """The operator rotates the token (query and password) while the source serves a truncated list:
    the first fetch with the new token is compared with the last good content (and asked
    conditionally with its validators) and refused; the book keeps its entries."""
    first = token_sync("S3cr3tEen")
    assert first.variants[0].outcome == "changed"
    good, name = served(), first.variants[0].sources[0].name
    caplog.set_level("DEBUG")
    token_server.put("list.txt", text_source(DOMAINS[:70]))            # 30 % gone: a truncated book
    rotated = token_sync("S3cr3tTwee", "N1euwWachtw00rd")
    report = rotated.variants[0]
    assert report.sources[0].outcome == "refused", report
    assert "shrank from 100 to 70" in (report.sources[0].error or "")
    assert report.outcome == "partial" and served() == good and report.sources[0].name == name
    assert token_server.conditional["list.txt"][-1]                     # its validators went out
    runtime.books().forget()
    shown_error = runtime.books().status("zorgmail").last_error or ""
    assert name in shown_error                                          # what health shows
    token_server.put("list.txt", text_source(DOMAINS[:100]))            # the whole list again: 304
    back = token_sync("S3cr3tTwee", "N1euwWachtw00rd", advance=1).variants[0]
    assert back.outcome == "unchanged" and back.sources[0].outcome == "unchanged" and back.error is None
    assert token_server.conditional["list.txt"][-1] and served() == good
    answers = json.dumps(msgspec.to_builtins([first, rotated]))
    for shown in (answers, shown_error, caplog.text, stored_text()):
        assert shows_no_secret(shown) and "N1euw" not in shown and "?" not in name, shown[:2000]


def test_d3_a_new_sas_token_for_an_unchanged_list_costs_one_conditional_request_and_no_table_writes(
        token_sync, token_server, monkeypatch):
    assert token_sync("S3cr3tEen").variants[0].outcome == "changed"
    good = served()
    writes = Writes(runtime.tables(), monkeypatch)
    answer = token_sync("S3cr3tTwee", "N1euwWachtw00rd")
    report = answer.variants[0]
    assert report.outcome == "unchanged" and report.sources[0].outcome == "unchanged", report
    assert report.sources[0].requests == 1 and token_server.conditional["list.txt"][-1]
    assert writes.calls == 0 and answer.table_writes == 0 and served() == good


def hashed_name(url: str) -> str:
    """How a URL source was named before its name became the URL without query and user info (the
    state key did not survive a new token): that URL plus a hash of the whole URL."""
    import hashlib

    parts = urlsplit(url)
    bare = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"
    return url if bare == url else f"{bare} [{hashlib.sha256(url.encode()).hexdigest()[:8]}]"


@pytest.mark.parametrize("token_after_the_upgrade", ["S3cr3tEen", "S3cr3tTwee"])
def test_d3_a_book_synced_when_url_sources_were_named_with_a_hash_of_the_whole_url_keeps_its_state(
        token_sync, token_server, monkeypatch, token_after_the_upgrade):
    """State stored under the hashed name is found after the upgrade, also when the token was rotated
    at the same time: the shrink check applies to the first run; the source is then fetched in full
    once and stored under its new name, and is conditional again afterwards."""
    from sendsecure.core import booksources

    with monkeypatch.context() as before_the_change:
        before_the_change.setattr(booksources, "source_name", hashed_name)
        assert token_sync("S3cr3tEen").variants[0].outcome == "changed"
    stored_names = [source.name for source in runtime.books().pointer("zorgmail").sources]
    assert stored_names[0].endswith("]") and " [" in stored_names[0]    # what such a book holds
    good = served()

    token_server.put("list.txt", text_source(DOMAINS[:70]))             # the first run after the upgrade
    refused = token_sync(token_after_the_upgrade).variants[0]
    assert refused.sources[0].outcome == "refused" and served() == good, refused

    token_server.put("list.txt", text_source(DOMAINS[:100]))
    moved = token_sync(token_after_the_upgrade, advance=1).variants[0]
    name = moved.sources[0].name
    assert moved.sources[0].outcome == "changed" and moved.sources[0].requests == 1
    assert " [" not in name and runtime.books().pointer("zorgmail").sources[0].name == name
    assert set(served()) == set(good) and served()["praktijk-000.example"].source == name
    token_sync(token_after_the_upgrade, advance=1)                      # the retired segments go (grace 0)
    again = token_sync(token_after_the_upgrade, advance=1).variants[0]
    assert again.outcome == "unchanged" and again.sources[0].outcome == "unchanged"
    assert token_server.conditional["list.txt"][-1]
    assert shows_no_secret(stored_text())


def test_d3_two_sources_of_a_variant_whose_urls_differ_only_in_query_or_user_info_are_refused(
        app_env, server, ca_bundle, tmp_path, monkeypatch):
    """Such URLs are one source (the query and user info are its credentials, not which list it is):
    they would share one state, so the definition is refused before any request or write, naming
    the source without its query. Another variant may use the same list with its own token."""
    from sendsecure.core.booksources import read_definition, source_name
    from sendsecure.errors import ConfigurationError

    url = secret_url(server, "list.txt")
    other = url.replace(SECRET, "sig=AnotherS3cr3t").replace("lezer:", "ander:")
    definition = tmp_path / "variants.json"
    definition.write_text(json.dumps({"zorgmail": {"sources": [
        {"url": url, "format": "zorgmail_text", "network": "zorgmail"},
        {"url": server.url("register.csv"), "format": "nta_register_csv"},
        {"url": other, "format": "zorgmail_text", "network": "e-zorg"}]}}))
    writes = Writes(runtime.tables(), monkeypatch)
    sync = BookSync(runtime.books(), definition, SourceFetcher(ca_bundle=ca_bundle, timeout=2, attempts=1))
    with pytest.raises(ConfigurationError) as raised:
        sync.run()
    message = str(raised.value)
    assert "sources 1 and 3" in message and source_name(url) in message and shows_no_secret(message), message
    assert writes.calls == 0 and sum(server.requests.values()) == 0
    definition.write_text(json.dumps({
        "zorgmail": {"sources": [{"url": url, "format": "zorgmail_text", "network": "zorgmail"}]},
        "sigra": {"sources": [{"url": other, "format": "zorgmail_text", "network": "zorgmail"}]}}))
    assert read_definition("zorgmail", definition)[0].name == read_definition("sigra", definition)[0].name
    answer = sync.run()
    assert [report.outcome for report in answer.variants] == ["changed", "changed"]


# ----- item 2: checks, refusals, atomic flips, failures at every write -------------------------

def test_issue13_item2_garbage_lines_idn_and_mixed_case(make_sync, server):
    server.put("list.txt", text_source(DOMAINS[:100] + ["Ziekenhuis-MÜNCHEN.Example", "PRAKTIJK-HOOFD.example",
                                                       "not a domain!!", "@@@", "geheim@"]))
    answer = make_sync().run()
    source = answer.variants[0].sources[0]
    assert source.outcome == "changed" and source.rejected == 5   # "not", "a", "domain!!", "@@@", "geheim@"
    assert all(item.startswith("line ") and "@@@" not in item and "geheim" not in item for item in source.rejections)
    book = served()
    assert normalise_domain("Ziekenhuis-MÜNCHEN.Example") in book and "praktijk-hoofd.example" in book


@pytest.mark.parametrize("shrunk", [70, 0])
def test_issue13_item2_shrunk_or_empty_source_is_refused_and_its_last_good_content_stays(make_sync, server, shrunk):
    make_sync().run()
    before = served()
    server.put("list.txt", text_source(DOMAINS[:shrunk]))
    server.put("register.csv", register_source(REGISTER + [("nieuw.example", "Nieuw", "ja")]))
    report = make_sync().run().variants[0]
    assert report.outcome == "partial" and report.sources[0].outcome == "refused"
    assert report.sources[1].outcome == "changed" and report.added == 1
    book = served()
    assert set(book) == set(before) | {"nieuw.example"}
    assert runtime.books().pointer("zorgmail").synced_at is not None


def test_issue13_item2_a_storage_failure_at_each_write_leaves_the_last_good_book(make_sync, server, monkeypatch):
    clock = Clock()
    sync = make_sync(clock=clock, grace=0)
    sync.run()
    writes = Writes(runtime.tables(), monkeypatch)
    versions = [(DOMAINS[:100], REGISTER), (DOMAINS[:105], REGISTER[:29])]
    # How many writes a changing sync makes (lease, segments, old segments deleted, flip, release).
    server.put("list.txt", text_source(versions[1][0]))
    server.put("register.csv", register_source(versions[1][1]))
    clock.advance(LEASE_SECONDS + 1)
    sync.run()
    total = writes.calls
    assert total >= 4
    for fail_at in range(total):
        old, new = versions[fail_at % 2 == 0], versions[fail_at % 2 == 1]
        good = served()
        server.put("list.txt", text_source(new[0]))
        server.put("register.csv", register_source(new[1]))
        target = expected_entries(server.files, server, names(server))
        writes.calls, writes.fail_at = 0, fail_at
        clock.advance(LEASE_SECONDS + 1)                   # a lease left behind is stale by now
        try:
            sync.run()
            flipped = True
        except (DependencyUnavailable, SyncBusy):
            flipped = False
        writes.fail_at = None
        assert served() == (target if flipped else good), f"failure at write {fail_at}"
        clock.advance(LEASE_SECONDS + 1)
        sync.run()                                         # the next run completes the change
        assert served() == target
        del old


def test_issue13_item2_old_segments_are_deleted_after_the_grace_period(make_sync, server):
    clock = Clock()
    sync = make_sync(clock=clock, grace=600)
    sync.run()
    first = runtime.books().pointer("zorgmail")
    server.put("list.txt", text_source(DOMAINS[100:200]))      # all new: a new base, the old one retired
    sync.run()
    second = runtime.books().pointer("zorgmail")
    retired = first.segments() - second.segments()
    assert retired and set(second.retired) == retired
    stored = runtime.books().stored_segments()
    assert retired <= stored                                   # still there for workers loading it
    server.put("register.csv", register_source(REGISTER[:29]))
    clock.advance(601)
    sync.run()
    assert not retired & runtime.books().stored_segments()
    assert not set(runtime.books().pointer("zorgmail").retired) & retired


def test_issue13_item2_leftovers_of_a_run_that_died_before_its_flip_are_deleted(make_sync, server, monkeypatch):
    sync = make_sync()
    sync.run()
    store = runtime.books()
    server.put("list.txt", text_source(DOMAINS[100:200]))
    monkeypatch.setattr(store.tables, "submit", _fail_on_meta(store.tables.submit))
    with pytest.raises(DependencyUnavailable):
        sync.run()
    monkeypatch.undo()
    leftover = store.stored_segments() - store.pointer("zorgmail").segments()
    assert leftover
    server.put("register.csv", register_source(REGISTER[:29]))
    server.put("list.txt", text_source(DOMAINS[:100]))
    sync.run()
    assert not leftover & store.stored_segments()


def _fail_on_meta(real: Any) -> Any:
    def submit(name: str, operations: Any) -> Any:
        if name == storage.BOOK_META:
            raise DependencyUnavailable("injected")
        return real(name, operations)
    return submit


# ----- item 3: incremental -------------------------------------------------------------------

def test_issue13_item3_one_percent_changed_writes_at_most_a_tenth_of_a_full_sync(app_env, tmp_path, ca, ca_bundle,
                                                                                 monkeypatch):
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    from generate_book import generate

    definition = generate(20000, tmp_path / "book")
    sync = BookSync(runtime.books(), definition)
    full = sync.run()
    text = (tmp_path / "book" / "zorgmail.txt").read_text()
    domains = [word for line in text.splitlines() if not line.startswith("###") for word in line.split()]
    changed = set(domains[::len(domains) // 50][:50])           # 1 % of the book, spread over it
    text = "".join(line if line.startswith("###") else
                   " ".join("gewijzigd-" + word if word in changed else word for word in line.split()) + "\n"
                   for line in text.splitlines(keepends=True))
    (tmp_path / "book" / "zorgmail.txt").write_text(text)
    again = sync.run()
    report = again.variants[0]
    assert report.added == 50 and report.removed + report.changed == 50
    assert again.table_writes <= 0.10 * full.table_writes, (again.table_writes, full.table_writes)
    from sendsecure.core.booksources import load_variant
    assert served() == load_variant("zorgmail", definition).entries
    assert sync.run().table_writes == 0


# ----- item 4: the lease ---------------------------------------------------------------------

def test_issue13_item4_a_held_lease_refuses_a_second_run_and_a_stale_one_is_taken_over(make_sync, server):
    clock = Clock()
    runtime.tables().insert(storage.BOOK_META, {"PartitionKey": CURRENT, "RowKey": LEASE_ROW, "holder": "other",
                                                "expires_at": clock.now + timedelta(seconds=60)})
    with pytest.raises(SyncBusy):
        make_sync(clock=clock).run()
    with pytest.raises(DependencyUnavailable):
        served()
    clock.advance(61)
    assert make_sync(clock=clock).run().variants[0].outcome == "changed"


def test_issue13_item4_a_run_whose_lease_was_taken_over_does_not_flip(make_sync, server, monkeypatch):
    sync = make_sync()
    sync.run()
    good = served()
    server.put("list.txt", text_source(DOMAINS[100:200]))
    store = runtime.books()
    real = store.write_segment

    def taken_over(segment: Any) -> int:
        row = runtime.tables().get(storage.BOOK_META, CURRENT, LEASE_ROW)
        runtime.tables().upsert(storage.BOOK_META, {**row, "holder": "someone else"})
        return real(segment)

    monkeypatch.setattr(store, "write_segment", taken_over)
    with pytest.raises(SyncBusy):
        sync.run()
    assert served() == good


def test_issue13_item4_two_runs_at_once_leave_one_consistent_book(make_sync, server):
    make_sync().run()
    server.put("list.txt", text_source(DOMAINS[50:200]))
    outcomes: list[str] = []

    def run() -> None:
        try:
            outcomes.append(make_sync().run().variants[0].outcome)
        except SyncBusy:
            outcomes.append("busy")

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert "changed" in outcomes and len(outcomes) == 3
    assert served() == expected_entries(server.files, server, names(server))


# ----- item 5: health and info ----------------------------------------------------------------

def test_issue13_item5_health_is_degraded_when_the_book_is_older_than_the_setting(functions, app_env, monkeypatch):
    from helpers import json_of

    store = runtime.books()
    entries = {"a.example": BookEntry("a.example", "A", "zorgmail", True, False)}
    store.publish("zorgmail", entries, "v1")
    store.publish("sigra", entries, "v1", synced_at=utcnow() - timedelta(hours=25))
    request = __import__("azure.functions", fromlist=["HttpRequest"]).HttpRequest(
        "GET", "http://127.0.0.1/api/v1/health", headers={}, body=b"")
    health = json_of(run_function(functions["get_health"], request))
    assert health["status"] == "degraded"
    assert health["domain_book"]["variants"]["sigra"]["stale"] is True
    assert health["domain_book"]["variants"]["zorgmail"]["stale"] is False
    monkeypatch.setenv("BOOK_MAX_AGE_HOURS", "48")
    runtime.reset()
    health = json_of(run_function(functions["get_health"], request))
    assert health["status"] == "ok"


def test_issue13_item5_health_shows_the_last_sync_error_per_variant(make_sync, server, functions):
    from helpers import json_of

    make_sync().run()
    server.faults["list.txt"] = ["404"]
    make_sync().run()
    request = __import__("azure.functions", fromlist=["HttpRequest"]).HttpRequest(
        "GET", "http://127.0.0.1/api/v1/health", headers={}, body=b"")
    runtime.books().forget()
    variant = json_of(run_function(functions["get_health"], request))["domain_book"]["variants"]["zorgmail"]
    assert variant["available"] and "answered 404" in variant["last_error"] and variant["last_error_at"]
    assert variant["version"] and variant["age_seconds"] is not None


# ----- item 7: workers pick up a new generation; a failed check keeps the snapshot ------------

def test_issue13_item7_workers_pick_up_a_new_generation_after_the_check_interval(make_sync, server):
    ticks = [0.0]
    worker = DomainBookStore(runtime.tables(), check_seconds=10, clock=lambda: ticks[0])
    make_sync().run()
    first = worker.current("zorgmail")
    server.put("list.txt", text_source(DOMAINS[:105]))
    make_sync().run()
    ticks[0] = 9.0
    assert worker.current("zorgmail") is first
    ticks[0] = 10.5
    assert worker.current("zorgmail").version != first.version


def test_issue13_item7_a_worker_that_cannot_read_the_pointer_keeps_its_snapshot(make_sync, server, monkeypatch):
    worker = DomainBookStore(runtime.tables(), check_seconds=0)
    with pytest.raises(DependencyUnavailable):
        worker.current("zorgmail")                           # nothing yet: V-O3
    make_sync().run()
    book = worker.current("zorgmail")

    def down(*args: Any, **kwargs: Any) -> Any:
        raise DependencyUnavailable("storage down")

    monkeypatch.setattr(runtime.tables(), "get", down)
    assert worker.current("zorgmail") is book
    fresh = DomainBookStore(runtime.tables(), check_seconds=0)
    with pytest.raises(DependencyUnavailable):
        fresh.current("zorgmail")


def test_issue13_publish_keeps_pointer_fields(app_env):
    store = runtime.books()
    pointer = store.publish("zorgmail", {"a.example": BookEntry("a.example", "A", "zorgmail", True, False)}, "v")
    again = replace(store.pointer("zorgmail"), etag="")
    assert again == replace(pointer, etag="")


def test_issue13_item5_a_source_failing_for_longer_than_the_max_age_makes_the_book_stale(make_sync, server, functions):
    from helpers import json_of

    clock = Clock()
    clock.advance(-25 * 3600)
    make_sync(clock=clock).run()                           # the last run that accepted every source
    clock.advance(25 * 3600)
    server.faults["list.txt"] = ["404"]
    assert make_sync(clock=clock).run().variants[0].outcome == "partial"
    runtime.books().forget()
    assert runtime.books().status("zorgmail").available
    request = __import__("azure.functions", fromlist=["HttpRequest"]).HttpRequest(
        "GET", "http://127.0.0.1/api/v1/health", headers={}, body=b"")
    variant = json_of(run_function(functions["get_health"], request))["domain_book"]["variants"]["zorgmail"]
    assert variant["stale"] is True and variant["age_seconds"] >= 25 * 3600 - 60
    make_sync(clock=clock).run()
    runtime.books().forget()
    assert json_of(run_function(functions["get_health"], request))["domain_book"]["variants"]["zorgmail"][
        "stale"] is False


def test_issue13_item3_an_unchanged_book_writes_its_sync_time_at_most_hourly_without_the_lease(make_sync, server,
                                                                                                monkeypatch):
    clock = Clock()
    sync = make_sync(clock=clock)
    sync.run()
    writes = Writes(runtime.tables(), monkeypatch)
    clock.advance(1800)
    sync.run()
    assert writes.calls == 0
    clock.advance(1900)
    sync.run()
    assert writes.calls == 1                               # the pointer's sync time, under its ETag
    assert runtime.books().pointer("zorgmail").synced_at == clock.now
    assert runtime.tables().get(storage.BOOK_META, CURRENT, LEASE_ROW)["holder"] == ""


def test_issue13_item3_sources_shared_by_variants_are_stored_once(app_env):
    from sendsecure.bookstore import publish_from_sources

    root = Path(__file__).resolve().parents[2]
    publish_from_sources(runtime.books(), root / "domainbook" / "variants.json", ["zorgmail", "sigra"])
    pointers = runtime.books().pointers()
    shared = pointers["zorgmail"].segments() & pointers["sigra"].segments()
    assert len(shared) == 3                                # e-zorg, zorgring-nhn, the register
    assert runtime.books().stored_segments() == pointers["zorgmail"].segments() | pointers["sigra"].segments()
