"""Review s20-hold: whose data a session reads and writes (``person_key``) and whose an envelope
sent through an Entra session without holder fields is (``LEGACY_HOLDER``), without storage."""
from __future__ import annotations

from datetime import UTC, datetime

from sendsecure.envelopes import LEGACY_HOLDER, StoredEnvelope, holder_of, own_message, sent_by_holder
from sendsecure.sessions import BEGINNING, Session, person_key

MAILBOX = "eva@kliniek-c.example"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
A, B = "a" * 40, "b" * 40


def session(holder: str | None = None, since: datetime | None = None, method: str = "entra") -> Session:
    return Session(tenant_id="kliniek-c", mailbox=MAILBOX, login_method=method, device_id="d", created_at=NOW,
                   last_used_at=NOW, expires_at=NOW, holder=holder, holder_since=since)


def envelope(holder: str | None, created_at: str = "2026-12-01T12:30:00Z") -> StoredEnvelope:
    return StoredEnvelope(envelope_id="e" * 32, tenant_id="kliniek-c", sent_by=MAILBOX, sender=MAILBOX,
                          message_id="m", draft_digest="d", created_at=created_at, record={}, headers={},
                          holder=holder)


def test_p1_only_a_later_holder_has_a_person_key_of_their_own():
    assert person_key(None, None) == "" and person_key(A, None) == "" and person_key(None, NOW) == ""
    assert person_key(A, BEGINNING) == ""               # the first holder recorded: the data stays where it was
    assert person_key(B, NOW) == B
    assert session(B, NOW).holder_key == B and session().holder_key == "" and session(A, BEGINNING).holder_key == ""


def test_s5_x6_an_entra_session_without_holder_fields_sends_as_legacy_which_no_later_holder_owns():
    assert holder_of(session()) == LEGACY_HOLDER
    assert holder_of(session(method="email_code")) is None
    assert holder_of(session(B, NOW)) == B
    legacy = envelope(LEGACY_HOLDER)
    assert sent_by_holder(session(), legacy) and own_message(session(), legacy)           # the sender itself
    assert sent_by_holder(session(A, BEGINNING), legacy)                                 # the first holder
    assert not sent_by_holder(session(B, NOW), legacy) and not own_message(session(B, NOW), legacy)
    assert sent_by_holder(session(B, NOW), envelope(None))          # no holder at all: the time decides
