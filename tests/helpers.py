"""Small helpers shared by the test tiers."""
from __future__ import annotations

import email
import email.message
import email.policy
import json
from pathlib import Path


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


def json_of(response) -> dict:
    return json.loads(response.get_body())
