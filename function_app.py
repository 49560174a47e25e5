"""Composition only: logging, the FunctionApp, one Blueprint per area, and the fallback and the
OpenAPI document handed the operations the areas declare."""
import logging

import azure.functions as func

from functions import (
    admin,
    auth,
    drafts,
    fallback,
    gateway,
    health,
    housekeeping,
    info,
    messages,
    onboarding,
    phones,
    session,
    settings,
)
from functions import booksync as book_sync_area  # issue 13
from sendsecure.http.api import operations_of
from sendsecure.settings import get_settings

logging.getLogger("azure").setLevel(logging.WARNING)  # SDK request logs carry URLs and headers
get_settings()  # a wrong setting (e.g. development back ends in Azure) fails start-up, not every request

AREAS = (auth.bp, session.bp, settings.bp, drafts.bp, messages.bp, phones.bp, info.bp, health.bp, gateway.bp,
         book_sync_area.bp, admin.bp)
OPERATIONS = operations_of(AREAS)
health.describe(OPERATIONS)

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
for blueprint in (*AREAS, housekeeping.bp, onboarding.bp, fallback.serve(OPERATIONS)):
    app.register_functions(blueprint)
