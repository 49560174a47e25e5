"""Housekeeping on a timer: Table Storage has no expiry, so ended sessions and codes are removed."""
import logging

import azure.functions as func

from sendsecure import runtime

bp = func.Blueprint()
logger = logging.getLogger(__name__)


@bp.function_name("purge_expired")
@bp.timer_trigger(schedule="%PURGE_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=True)
def purge_expired(timer: func.TimerRequest) -> None:
    sessions = runtime.sessions().purge_expired()
    codes = runtime.email_login().purge_expired()
    logger.info("purged %d ended sessions and %d expired login codes", sessions, codes)
