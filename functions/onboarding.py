"""Tenant onboarding (SPEC I2): the definitions ``infra/tenant.bicep`` deploys go live on this timer."""
import logging

import azure.functions as func

from sendsecure import runtime
from sendsecure.provision import provision_tenant
from sendsecure.tenantstore import sync_tenants as sync

bp = func.Blueprint()
logger = logging.getLogger(__name__)


# Every two minutes, on one instance at a time (the timer's lease); one list call when nothing changed.
# Not on start-up: that would run on every scale-out, and the tenants table already holds what earlier
# runs wrote.
@bp.function_name("sync_tenants")
@bp.timer_trigger(schedule="0 */2 * * * *", arg_name="timer", run_on_startup=False, use_monitor=True)
def sync_tenants(timer: func.TimerRequest) -> None:
    source = runtime.tenant_source()
    if source is None:
        logger.info("TENANT_CONFIG_ENDPOINT is not set: tenants come from provisioning only")
        return
    sync(runtime.tenant_directory(), source, provision_tenant)
