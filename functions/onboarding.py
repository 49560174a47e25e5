"""Tenant onboarding (SPEC I2): the definitions ``infra/tenant.bicep`` deploys go live on this timer."""
import logging

import azure.functions as func

from sendsecure import runtime
from sendsecure.provision import provision_tenant
from sendsecure.tenantstore import sync_tenants as sync

bp = func.Blueprint()
logger = logging.getLogger(__name__)


# Every two minutes (a timer runs on one instance at a time); also when an instance starts, so a
# fresh deployment serves its tenants at once. One list call when nothing changed.
@bp.function_name("sync_tenants")
@bp.timer_trigger(schedule="0 */2 * * * *", arg_name="timer", run_on_startup=True, use_monitor=True)
def sync_tenants(timer: func.TimerRequest) -> None:
    source = runtime.tenant_source()
    if source is None:
        logger.info("TENANT_CONFIG_ENDPOINT is not set: tenants come from provisioning only")
        return
    sync(runtime.tenant_directory(), source, provision_tenant)
