"""Composition only: logging, the FunctionApp, and one Blueprint per area."""
import logging

import azure.functions as func

from functions import auth, drafts, fallback, health, housekeeping, info, phones, session, settings

logging.getLogger("azure").setLevel(logging.WARNING)  # SDK request logs carry URLs and headers

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
for blueprint in (auth.bp, session.bp, settings.bp, drafts.bp, phones.bp, info.bp, health.bp, housekeeping.bp, fallback.bp):
    app.register_functions(blueprint)
