"""The domain book sync: on a timer and on the operator's request (SPEC D1, D3; API.md
"Administration"; docs/domain-book-sync.md)."""
import logging
from typing import Any

import azure.functions as func

from sendsecure import runtime
from sendsecure.core.models import BookSyncAnswer
from sendsecure.errors import DependencyUnavailable, ServiceMisconfigured
from sendsecure.http.api import ApiBlueprint
from sendsecure.http.httpapi import NO_STORE, json_response
from sendsecure.http.serviceauth import service
from sendsecure.servicecredentials import ServicePrincipal

bp = ApiBlueprint()
logger = logging.getLogger(__name__)

_AUTH: dict[int, tuple[str, tuple[str, ...]]] = {
    401: ("No, a malformed or a wrong service credential, or a user session",
          ("unauthenticated", "service_credential_required")),
    403: ("A service credential of another role", ("wrong_role",)),
    409: ("Another sync is running (Retry-After)", ("sync_in_progress",)),
    429: ("Too many refused credentials from this client group (Retry-After)", ("rate_limited",)),
}
_SERVICE: dict[str, Any] = {"security": [{"service": []}]}


@bp.function_name("sync_domain_book")
@bp.timer_trigger(schedule="%BOOK_SYNC_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=True)
def sync_domain_book(timer: func.TimerRequest) -> None:
    from sendsecure.booksync import SyncBusy  # the sync's code loads when a sync runs, not at import

    try:
        runtime.book_sync().run()
    except SyncBusy:
        logger.info("domain book sync skipped: another run holds the lease")
    except DependencyUnavailable as error:   # an outage: one warning, no traceback; the next run syncs
        if isinstance(error, ServiceMisconfigured):
            raise                            # not an outage: the operator must see it as an error
        logger.warning("domain book sync skipped: storage or the key store is unavailable (%s); the next "
                       "scheduled run tries again", type(error).__name__)


@bp.operation("sync_domain_book_now", "POST", "v1/admin/domain-book/sync",
              "Sync every domain book variant now; what changed per variant (D1, D3)",
              answer=BookSyncAnswer, session=False, errors=(401, 403, 409, 429, 503), problems=_AUTH, extra=_SERVICE)
@service("book-sync")
def sync_domain_book_now(req: func.HttpRequest, principal: ServicePrincipal) -> func.HttpResponse:
    logger.info("domain book sync requested by %s", principal.actor)
    return json_response(runtime.book_sync().run(), headers=NO_STORE)
