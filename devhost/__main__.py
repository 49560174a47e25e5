"""Run the app locally: ``python -m devhost [--port 7071] [--tenants FILE ...] [--outbox DIR] [--workers N]``.

Starts Azurite (unless ``TABLES_CONNECTION_STRING`` points at a running one), serves the domain
book's sources over HTTPS on loopback (devhost/booksources.py), provisions keys and tables,
loads the tenant definitions, syncs the book from those URLs, all once, and then serves
``function_app.app`` with uvicorn on 127.0.0.1: in this process, or with ``--workers``
(``FUNCTIONS_WORKER_PROCESS_COUNT``) above 1 in that many worker processes sharing one
listening socket, each with its own app and per-worker caches (devhost/worker.py). Every flag
has a setting of the same meaning, so a test harness can use either. Stop with Ctrl-C or
SIGTERM; the workers and Azurite stop with it.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_WORKERS = 10  # the Functions host's limit of FUNCTIONS_WORKER_PROCESS_COUNT


def _worker_count(value: str) -> int:
    """FUNCTIONS_WORKER_PROCESS_COUNT as the Functions host reads it: empty is 1; not a number is
    refused at start (0, as out of range)."""
    value = value.strip()
    if not value:
        return 1
    return int(value) if value.isascii() and value.isdigit() and len(value) < 4 else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "7071")))
    parser.add_argument("--tenants", nargs="*", help="tenant definition files or folders (TENANT_DEFINITIONS)")
    parser.add_argument("--outbox", help="folder for mailed login codes (MAIL_OUTBOX_DIR)")
    parser.add_argument("--domain-book", help="variant definition file of the book sources (DOMAIN_BOOK_SOURCES)")
    parser.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "info"))
    parser.add_argument("--access-log", action="store_true", help="log every request (slower)")
    env = os.environ.get
    parser.add_argument("--header-timeout", type=float, default=float(env("DEVHOST_HEADER_TIMEOUT_SECONDS", "10")),
                        help="seconds for a request's head to arrive, else the connection is closed")
    parser.add_argument("--body-timeout", type=float, default=float(env("DEVHOST_BODY_TIMEOUT_SECONDS", "10")),
                        help="seconds for a request's body to arrive, else 408")
    parser.add_argument("--keep-alive", type=float, default=float(env("DEVHOST_KEEP_ALIVE_SECONDS", "5")),
                        help="seconds an idle keep-alive connection is kept")
    parser.add_argument("--workers", type=int, default=_worker_count(env("FUNCTIONS_WORKER_PROCESS_COUNT", "")),
                        help="worker processes, each with its own app and caches (FUNCTIONS_WORKER_PROCESS_COUNT, "
                             f"1 to {MAX_WORKERS}, as the Functions host)")
    parser.add_argument("--limit-concurrency", type=int, default=int(env("DEVHOST_LIMIT_CONCURRENCY", "512")),
                        help="connections or requests at once; beyond it 503")
    args = parser.parse_args(argv)
    if not 1 <= args.workers <= MAX_WORKERS:
        parser.error(f"--workers (FUNCTIONS_WORKER_PROCESS_COUNT) must be 1 to {MAX_WORKERS}")

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)  # SDK request logs: URLs and headers
    log = logging.getLogger("devhost")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("the development host is meant for loopback only; serving on %s", args.host)
    if args.tenants:
        os.environ["TENANT_DEFINITIONS"] = os.pathsep.join(args.tenants)
    if args.outbox:
        os.environ["MAIL_OUTBOX_DIR"] = args.outbox
    if args.domain_book is not None:
        os.environ["DOMAIN_BOOK_SOURCES"] = args.domain_book
    os.environ.setdefault("PURGE_SCHEDULE", "0 17 3 * * *")
    os.environ.setdefault("BOOK_SYNC_SCHEDULE", "0 */15 * * * *")
    os.environ.setdefault("MAIL_OUTBOX_LOG_CODES", "true")  # development only: show the code

    sources = None
    definition = os.environ.get("DOMAIN_BOOK_SOURCES", "domainbook/variants.json").strip()
    if definition:
        # The book's sources over HTTPS on loopback with a throw-away CA the host trusts, so the
        # start-up sync takes the real path (devhost/booksources.py).
        from .booksources import serve_definition

        try:
            sources, served, ca_bundle = serve_definition(Path(definition),
                                                          ROOT / ".run" / f"booksources-{os.getpid()}")
        except (OSError, ValueError, AttributeError) as error:
            log.error("domain book: cannot read the definition %s (%s)", definition, type(error).__name__)
            return 2
        os.environ["DOMAIN_BOOK_SOURCES"] = str(served)
        os.environ["BOOK_SYNC_CA_BUNDLE"] = str(ca_bundle)
        log.info("domain book sources on https://127.0.0.1:%d/ (CA %s)", sources.port, ca_bundle)

    azurite = None
    if not os.environ.get("TABLES_CONNECTION_STRING") and not os.environ.get("TABLES_ENDPOINT"):
        from .azurite import Azurite

        azurite = Azurite(int(os.environ["AZURITE_PORT"]) if os.environ.get("AZURITE_PORT") else None).start()
        os.environ["TABLES_CONNECTION_STRING"] = azurite.connection_string
        log.info("Azurite (tables, in memory) on 127.0.0.1:%d", azurite.port)
    try:
        sys.path.insert(0, str(ROOT))
        from sendsecure import runtime
        from sendsecure.core.tenants import load_tenant_files
        from sendsecure.errors import ConfigurationError
        from sendsecure.settings import get_settings

        try:
            settings = get_settings()
            paths = [p for p in settings.tenant_definitions.split(os.pathsep) if p]
            tenants = load_tenant_files(paths)
            from sendsecure.provision import provision

            provision([t.id for t in tenants])  # keys and tables, as onboarding does in Azure
            runtime.tenant_directory().save(tenants)
        except ConfigurationError as error:
            log.error("configuration: %s", error)
            return 2
        log.info("tenants loaded: %s", ", ".join(f"{t.id} ({', '.join(t.mail_domains)})" for t in tenants))
        if settings.domain_book_sources:
            # The timer's sync, once now (the timer itself runs on demand: /admin/functions/sync_domain_book).
            try:
                answer = runtime.book_sync().run()
            except ConfigurationError as error:
                log.error("domain book: %s", error)
                return 2
            for report in answer.variants:
                log.info("domain book %s: %s, %d entries, version %s", report.variant, report.outcome,
                         report.entries, report.version)
        else:
            log.warning("DOMAIN_BOOK_SOURCES is empty: no domain book, validation offers standard sending (V-O3)")
        log.info("mail transport: %s%s", settings.mail_transport,
                 f" -> {Path(settings.mail_outbox_dir).resolve()}" if settings.mail_transport == "outbox" else "")

        import uvicorn

        from .protocol import DeadlineHttpToolsProtocol
        from .worker import PARENT_PID, create_host, route_prefix

        # The workers read their options from the environment (spawned workers inherit it).
        os.environ["DEVHOST_HEADER_TIMEOUT_SECONDS"] = str(args.header_timeout)
        os.environ["DEVHOST_BODY_TIMEOUT_SECONDS"] = str(args.body_timeout)
        os.environ["LOG_LEVEL"] = args.log_level
        log.info("serving on http://%s:%d/%s with %d worker process(es)", args.host, args.port, route_prefix(),
                 args.workers)
        # proxy_headers=False: uvicorn would otherwise take the client address from a loopback
        # peer's own X-Forwarded-For claim; the host appends the real peer as Azure's front end does.
        options = dict(host=args.host, port=args.port, loop="uvloop", http=DeadlineHttpToolsProtocol,
                       log_level=args.log_level.lower(), access_log=args.access_log, lifespan="on",
                       proxy_headers=False, server_header=False, timeout_keep_alive=args.keep_alive,
                       limit_concurrency=args.limit_concurrency)
        if args.workers == 1:
            # uvicorn re-raises SIGTERM after its shutdown, which would skip the finally below and
            # leave Azurite running; exiting with SystemExit runs it.
            signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
            uvicorn.run(create_host(), **options)
        else:
            # One listening socket, bound here; uvicorn spawns the workers (each imports the app
            # anew: its own clients and caches), restarts one that dies, and on SIGINT/SIGTERM
            # stops them all and returns, so the finally below stops Azurite.
            os.environ[PARENT_PID] = str(os.getpid())
            uvicorn.run("devhost.worker:create_host", factory=True, workers=args.workers, **options)
        return 0
    finally:
        if azurite is not None:
            azurite.stop()
        if sources is not None:
            sources.stop()
            shutil.rmtree(Path(os.environ["BOOK_SYNC_CA_BUNDLE"]).parent, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
