"""Small helpers shared by the test tiers."""
from __future__ import annotations

import email
import email.message
import email.policy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sendsecure.core.domainbook import BookEntry, DomainBook


class Outbox:
    """The development outbox of one test: the mails in the order they were written."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def messages(self) -> list[email.message.EmailMessage]:
        if not self.folder.exists():
            return []
        return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
                for p in sorted(self.folder.glob("*.eml"))]

    def last_code(self) -> str:
        messages = self.messages()
        assert messages, "no mail in the outbox"
        return str(messages[-1]["X-Dev-Login-Code"])


def run_function(fn, request):
    """Call a registered function's user function as the host does: an async one (on-send and
    health run on threads of their own, ``httpapi.on_own_threads``) is awaited on an event loop."""
    import asyncio
    import inspect

    user_function = fn.get_user_function()
    if inspect.iscoroutinefunction(user_function):
        return asyncio.run(user_function(request))
    return user_function(request)


def json_of(response) -> dict:
    return json.loads(response.get_body())


# The small in-memory domain book of the rule tests (tables and properties).
RULES_SYNCED_AT = datetime(2026, 11, 28, 8, 0, 0, tzinfo=UTC)
RULES_NOW = RULES_SYNCED_AT + timedelta(hours=2)    # X4: the book is exactly 7200 s old then
RULES_BOOK_VERSION = "test-v1"
RULES_BOOK = DomainBook.build("zorgmail", RULES_BOOK_VERSION, RULES_SYNCED_AT, {
    e.key: e for e in [
        BookEntry("ziekenhuis-a.example", "Ziekenhuis A", "zorgmail", True, True, "", "test"),
        BookEntry("huisarts-b.example", "Huisartsenpraktijk B", "zorgmail", True, False, "", "test"),
        BookEntry("ezorg-praktijk.example", "E-Zorg Praktijk", "e-zorg", True, True, "", "test"),
        BookEntry("nta-ziekenhuis-d.example", "Ziekenhuis D", "nta7516:veilig-mailen-bv", False, True,
                  "Veilig Mailen BV", "test"),
        BookEntry("nta-praktijk-e.example", "Praktijk E", "nta7516:ander-bv", False, False, "Ander BV", "test"),
        BookEntry("dr.jansen@gezondheidscentrum-oost.example", "Dr. Jansen", "zorgmail", True, False, "", "test"),
        BookEntry("ziekenhuis-rijnmond.example", "Ziekenhuis Rijnmond", "zorgmail", True, True, "", "test"),
    ]
})
