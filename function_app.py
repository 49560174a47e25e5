"""Composition only: logging, the FunctionApp, and one Blueprint per area."""
import logging

import azure.functions as func

from functions import auth, drafts, fallback, health, housekeeping, info, phones, session, settings
from sendsecure.settings import get_settings

logging.getLogger("azure").setLevel(logging.WARNING)  # SDK request logs carry URLs and headers
get_settings()  # a wrong setting (e.g. development back ends in Azure) fails start-up, not every request

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
for blueprint in (auth.bp, session.bp, settings.bp, drafts.bp, phones.bp, info.bp, health.bp, housekeeping.bp, fallback.bp):
    app.register_functions(blueprint)
