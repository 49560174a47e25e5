"""One worker process of the development host: builds the app and its host from the environment.

``python -m devhost`` prepares everything shared once (Azurite, keys, tables, tenants, the book),
writes its options into the environment, and then serves ``create_host()``: in its own process
with one worker, or in ``FUNCTIONS_WORKER_PROCESS_COUNT`` worker processes started by uvicorn
(spawned, so each imports ``function_app`` anew and builds its own clients and per-worker
caches, as each Python worker process of the Functions host does).
"""
from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PARENT_PID = "DEVHOST_PARENT_PID"  # set by the parent when it starts several workers
_PR_SET_PDEATHSIG = 1


def route_prefix() -> str:
    try:
        config = json.loads((ROOT / "host.json").read_text("utf-8"))
    except (OSError, ValueError):
        return "api"
    prefix = config.get("extensions", {}).get("http", {}).get("routePrefix", "api")
    return prefix if isinstance(prefix, str) else "api"


def _float(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


def _end_with_parent() -> None:
    """A worker ends with the devhost, even if the devhost is killed without its cleanup."""
    parent = os.environ.get(PARENT_PID, "")
    if not parent.isdigit() or os.getpid() == int(parent):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the parent's own shutdown still stops us
        return
    if os.getppid() != int(parent):  # the parent died before prctl
        os.kill(os.getpid(), signal.SIGTERM)


def create_host():  # -> FunctionHost (imported late: the parent need not import the app)
    """The ASGI application of one worker (uvicorn factory ``devhost.worker:create_host``)."""
    _end_with_parent()
    if not logging.getLogger().handlers:  # a spawned worker: the parent's logging is not inherited
        logging.basicConfig(level=os.environ.get("LOG_LEVEL", "info").upper(),
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.getLogger("azure").setLevel(logging.WARNING)  # SDK request logs: URLs and headers
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))

    import function_app
    from sendsecure.settings import get_settings

    from .addin import AddinFiles
    from .asgi import FunctionHost
    from .protocol import DeadlineHttpToolsProtocol

    settings = get_settings()
    origins = tuple(o.strip() for o in os.environ.get("CORS_ALLOWED_ORIGINS", "").split(",") if o.strip())
    # As the Python worker: unset, its ThreadPoolExecutor's default, min(32, CPUs + 4).
    threads = int(os.environ.get("PYTHON_THREADPOOL_THREAD_COUNT", "") or min(32, (os.cpu_count() or 1) + 4))
    # The host caps bodies at the largest route limit; each function checks its own (413).
    host = FunctionHost(function_app.app, route_prefix=route_prefix(), cors_origins=origins, threads=threads,
                        max_body_bytes=max(settings.max_body_bytes, settings.max_draft_bytes),
                        body_timeout=_float("DEVHOST_BODY_TIMEOUT_SECONDS", 10.0))
    DeadlineHttpToolsProtocol.header_timeout = _float("DEVHOST_HEADER_TIMEOUT_SECONDS", 10.0)
    logging.getLogger("devhost").info("worker %d: %d HTTP and %d timer functions", os.getpid(),
                                      len(host.http_functions), len(host.timer_functions))
    return AddinFiles(host)  # the built add-in at /addin/ (docs/addin.md)
