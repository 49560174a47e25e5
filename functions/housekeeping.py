"""Housekeeping on a timer: Table Storage has no expiry, so ended sessions and codes are removed;
the audit log's finished days are sealed and days past ``AUDIT_RETENTION_DAYS`` purged (X7)."""
import logging

import azure.functions as func

from sendsecure import runtime
from sendsecure.errors import DependencyUnavailable, ServiceMisconfigured

bp = func.Blueprint()
logger = logging.getLogger(__name__)


@bp.function_name("purge_expired")
@bp.timer_trigger(schedule="%PURGE_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=True)
def purge_expired(timer: func.TimerRequest) -> None:
    try:
        _housekeeping()
    except DependencyUnavailable as error:   # an outage: one warning, no traceback; tomorrow's run goes on
        if isinstance(error, ServiceMisconfigured):
            raise
        logger.warning("housekeeping skipped: storage or the key store is unavailable (%s); the next scheduled "
                       "run does it", type(error).__name__)


def _housekeeping() -> None:
    sessions = runtime.sessions().purge_expired()
    codes = runtime.email_login().purge_expired()
    logger.info("purged %d ended sessions and %d expired login codes", sessions, codes)
    from sendsecure.audit.trail import daily_housekeeping  # with the signing code: loaded when the timer runs

    audit = daily_housekeeping()
    logger.info("audit log: %d day(s) sealed, %d row(s) purged, %d tenant(s) failed", audit["days_sealed"],
                audit["rows_purged"], audit["failed"])
    if audit["refused"]:   # does not heal by itself: an operator must look (docs/operations.md)
        logger.error("audit log: %d tenant(s) refused sealing: a checkpoint or seal does not verify; verify those "
                     "tenants' logs", audit["refused"])
