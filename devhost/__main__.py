"""Run the app locally: ``python -m devhost [--port 7071] [--tenants FILE ...] [--outbox DIR]``.

Starts Azurite (unless ``TABLES_CONNECTION_STRING`` points at a running one), loads the tenant
definitions into the tenants table, and serves ``function_app.app`` with uvicorn on
127.0.0.1. Every flag has a setting of the same meaning, so a test harness can use either.
Stop with Ctrl-C; Azurite stops with it.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _host_json_route_prefix() -> str:
    try:
        config = json.loads((ROOT / "host.json").read_text("utf-8"))
    except (OSError, ValueError):
        return "api"
    return config.get("extensions", {}).get("http", {}).get("routePrefix", "api")


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
    parser.add_argument("--limit-concurrency", type=int, default=int(env("DEVHOST_LIMIT_CONCURRENCY", "512")),
                        help="connections or requests at once; beyond it 503")
    args = parser.parse_args(argv)

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
    os.environ.setdefault("MAIL_OUTBOX_LOG_CODES", "true")  # development only: show the code

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
            # Until the timer sync exists, the book comes from source files through its parsers.
            from sendsecure.bookstore import publish_from_sources
            from sendsecure.core.tenants import DomainBookVariant

            try:
                pointers = publish_from_sources(runtime.books(), settings.domain_book_sources,
                                                [variant.value for variant in DomainBookVariant])
            except ConfigurationError as error:
                log.error("domain book: %s", error)
                return 2
            for pointer in pointers:
                log.info("domain book %s: %d entries, version %s", pointer.variant, pointer.entry_count, pointer.version)
        else:
            log.warning("DOMAIN_BOOK_SOURCES is empty: no domain book, validation offers standard sending (V-O3)")
        log.info("mail transport: %s%s", settings.mail_transport,
                 f" -> {Path(settings.mail_outbox_dir).resolve()}" if settings.mail_transport == "outbox" else "")

        import uvicorn

        import function_app

        from .asgi import FunctionHost
        from .protocol import DeadlineHttpToolsProtocol

        origins = tuple(o.strip() for o in os.environ.get("CORS_ALLOWED_ORIGINS", "").split(",") if o.strip())
        threads = int(os.environ.get("PYTHON_THREADPOOL_THREAD_COUNT", "") or 32)  # as the Python worker
        # The host caps bodies at the largest route limit; each function checks its own (413).
        host = FunctionHost(function_app.app, route_prefix=_host_json_route_prefix(), cors_origins=origins,
                            threads=threads, max_body_bytes=max(settings.max_body_bytes, settings.max_draft_bytes),
                            body_timeout=args.body_timeout)
        DeadlineHttpToolsProtocol.header_timeout = args.header_timeout
        log.info("serving %d HTTP and %d timer functions on http://%s:%d/%s",
                 len(host.http_functions), len(host.timer_functions), args.host, args.port,
                 _host_json_route_prefix())
        # uvicorn re-raises SIGTERM after its shutdown, which would skip the finally below and
        # leave Azurite running; exiting with SystemExit runs it.
        signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
        # proxy_headers=False: uvicorn would otherwise take the client address from a loopback
        # peer's own X-Forwarded-For claim; the host appends the real peer as Azure's front end does.
        uvicorn.run(host, host=args.host, port=args.port, loop="uvloop", http=DeadlineHttpToolsProtocol,
                    log_level=args.log_level.lower(), access_log=args.access_log, lifespan="on",
                    proxy_headers=False, server_header=False, timeout_keep_alive=args.keep_alive,
                    limit_concurrency=args.limit_concurrency)
        return 0
    finally:
        if azurite is not None:
            azurite.stop()


if __name__ == "__main__":
    sys.exit(main())
