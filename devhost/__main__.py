"""Run the app locally: ``python -m devhost [--port 7071] [--tenants FILE ...] [--outbox DIR] [--workers N]``.

Starts Azurite (unless ``TABLES_CONNECTION_STRING`` points at a running one), serves the domain
book's sources over HTTPS on loopback (devhost/booksources.py), provisions keys and tables,
loads the tenant definitions, syncs the book from those URLs, all once, and then serves
``function_app.app`` with uvicorn on 127.0.0.1: in this process, or with ``--workers``
(``FUNCTIONS_WORKER_PROCESS_COUNT``) above 1 in that many worker processes sharing one
listening socket, each with its own app and per-worker caches (devhost/worker.py). Every flag
has a setting of the same meaning, so a test harness can use either. Stop with Ctrl-C, SIGTERM
or SIGHUP (the terminal closed); the workers and Azurite stop with it, also when the stop comes
during the start. While it runs, ``.run/operator.env`` holds the settings an operator's command
needs against it (docs/operations.md "Running operator commands against make run").
"""
from __future__ import annotations

import argparse
import errno
import logging
import os
import shlex
import shutil
import signal
import socket
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


def port_problem(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on now, or None. Bound as uvicorn binds it
    (SO_REUSEADDR: only a socket listening there makes it busy, not one in TIME_WAIT)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            return f"port {port} is in use; run `PORT={port + 1} make run` (or python -m devhost --port {port + 1})"
        return f"cannot listen on {host}:{port}: {error.strerror or error}"
    return None


def _exit_on_signal(number: int, frame: object) -> None:
    sys.exit(128 + number)


def _serve_workers(config) -> None:  # config: uvicorn.Config
    """uvicorn's supervisor of several workers, except that SIGHUP (a closed terminal) stops them
    all as SIGTERM does; uvicorn's own SIGHUP restarts them and keeps running."""
    from uvicorn.supervisors.multiprocess import Multiprocess

    class Supervisor(Multiprocess):
        def handle_hup(self) -> None:
            logging.getLogger("uvicorn.error").info("Received SIGHUP, exiting.")
            self.should_exit.set()

    Supervisor(config, sockets=[config.bind_socket()]).run()


# The settings an operator's command (python -m sendsecure.audit, provision, offboard, dryrun) needs
# to reach what this host runs on: storage, keys, tenants, the audit's retention.
OPERATOR_SETTINGS = ("TABLES_CONNECTION_STRING", "TABLES_ENDPOINT", "AZURE_CLIENT_ID", "AZURE_CREDENTIAL",
                     "TABLE_PREFIX", "KEY_STORE", "LOCAL_KEY_DIR", "KEY_VAULT_URL", "TENANT_DEFINITIONS",
                     "TENANT_CONFIG_ENDPOINT", "AUDIT_RETENTION_DAYS")
_OPERATOR_ENV_MARK = "# Written by the development host (python -m devhost), pid {pid}; removed when it stops."


def operator_values(settings) -> dict[str, str]:  # settings: sendsecure.settings.Settings
    """OPERATOR_SETTINGS as this host uses them (paths made absolute, so any working directory works)."""
    return {
        "TABLES_CONNECTION_STRING": settings.tables_connection_string,
        "TABLES_ENDPOINT": settings.tables_endpoint,
        "AZURE_CLIENT_ID": settings.managed_identity_client_id,
        "AZURE_CREDENTIAL": settings.azure_credential,
        "TABLE_PREFIX": settings.table_prefix,
        "KEY_STORE": settings.key_store,
        "LOCAL_KEY_DIR": str(Path(settings.local_key_dir).resolve()),
        "KEY_VAULT_URL": settings.key_vault_url,
        "TENANT_DEFINITIONS": settings.tenant_definitions,
        "TENANT_CONFIG_ENDPOINT": settings.tenant_config_endpoint,
        "AUDIT_RETENTION_DAYS": str(settings.audit_retention_days),
    }


def write_operator_env(path: Path, settings) -> None:
    """``NAME='value'`` lines a shell can source (``set -a; . FILE; set +a``), mode 0600: the
    connection string may hold a storage key (Azurite's is public; a real account's is not)."""
    lines = [_OPERATOR_ENV_MARK.format(pid=os.getpid())]
    lines += [f"{name}={shlex.quote(value)}" for name, value in operator_values(settings).items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        os.fchmod(file.fileno(), 0o600)
        file.write("\n".join(lines) + "\n")
    os.replace(partial, path)


def remove_operator_env(path: Path) -> None:
    """Remove the file if it is still this host's (another host started later may have replaced it)."""
    try:
        with path.open(encoding="utf-8") as file:
            ours = file.readline().rstrip("\n") == _OPERATOR_ENV_MARK.format(pid=os.getpid())
        if ours:
            path.unlink()
    except OSError:
        pass


def _shown_python() -> str:
    """How to name this interpreter in a hint: .venv/bin/python when it is the project's."""
    venv = ROOT / ".venv" / "bin" / "python"
    return ".venv/bin/python" if Path(sys.executable) == venv else sys.executable


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
    parser.add_argument("--operator-env", default=env("DEVHOST_OPERATOR_ENV", str(ROOT / ".run" / "operator.env")),
                        help="file with the settings an operator's command needs against this host "
                             "(DEVHOST_OPERATOR_ENV; empty: none); removed when the host stops")
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

    operator_env = Path(args.operator_env).resolve() if args.operator_env else None
    problem = port_problem(args.host, args.port)
    if problem:
        # Before anything starts: uvicorn would only find out after Azurite, keys and the sync.
        log.error("%s", problem)
        return 2

    # A closed terminal (SIGHUP) or SIGTERM ends the host like Ctrl-C: through the finally below,
    # which stops Azurite (in a session of its own, so the terminal's signal never reaches it) and
    # removes the sources' folder and the operator settings. uvicorn handles SIGTERM itself while
    # it serves and raises it again once it has shut down; SIGHUP is passed on as SIGTERM.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGHUP, lambda number, frame: signal.raise_signal(signal.SIGTERM))

    sources = azurite = None
    sources_dir = ROOT / ".run" / f"booksources-{os.getpid()}"
    definition = os.environ.get("DOMAIN_BOOK_SOURCES", "domainbook/variants.json").strip()
    try:
        if definition:
            # The book's sources over HTTPS on loopback with a throw-away CA the host trusts, so the
            # start-up sync takes the real path (devhost/booksources.py).
            from .booksources import serve_definition

            try:
                sources, served, ca_bundle = serve_definition(Path(definition), sources_dir)
            except (OSError, ValueError, AttributeError) as error:
                log.error("domain book: cannot read the definition %s (%s)", definition, type(error).__name__)
                return 2
            os.environ["DOMAIN_BOOK_SOURCES"] = str(served)
            os.environ["BOOK_SYNC_CA_BUNDLE"] = str(ca_bundle)
            log.info("domain book sources on https://127.0.0.1:%d/ (CA %s)", sources.port, ca_bundle)

        if not os.environ.get("TABLES_CONNECTION_STRING") and not os.environ.get("TABLES_ENDPOINT"):
            from .azurite import Azurite

            # Azurite.start stops it itself when interrupted; the finally below stops it once started.
            azurite = Azurite(int(os.environ["AZURITE_PORT"]) if os.environ.get("AZURITE_PORT") else None)
            azurite.start()
            os.environ["TABLES_CONNECTION_STRING"] = azurite.connection_string
            log.info("Azurite (tables, in memory) on 127.0.0.1:%d", azurite.port)
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
        if operator_env is not None:
            write_operator_env(operator_env, settings)
            shown = operator_env.relative_to(Path.cwd()) if operator_env.is_relative_to(Path.cwd()) else operator_env
            log.info("operator commands against this host: set -a; . %s; set +a; then e.g. "
                     "%s -m sendsecure.audit verify --tenant %s (docs/operations.md)", shown,
                     _shown_python(), tenants[0].id if tenants else "<tenant>")

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
            # uvicorn re-raises SIGTERM after its shutdown; our handler (above) turns it into
            # SystemExit, so the finally below runs.
            uvicorn.run(create_host(), **options)
        else:
            # One listening socket, bound here; uvicorn spawns the workers (each imports the app
            # anew: its own clients and caches), restarts one that dies, and on SIGINT, SIGTERM or
            # SIGHUP stops them all and returns, so the finally below stops Azurite.
            os.environ[PARENT_PID] = str(os.getpid())
            _serve_workers(uvicorn.Config("devhost.worker:create_host", factory=True, workers=args.workers,
                                          **options))
        return 0
    finally:
        if azurite is not None:
            azurite.stop()
        if sources is not None:
            sources.stop()
        if definition:
            shutil.rmtree(sources_dir, ignore_errors=True)
        if operator_env is not None:
            remove_operator_env(operator_env)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C during the start: everything started is stopped (finally)
        sys.exit(128 + signal.SIGINT)
