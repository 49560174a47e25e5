"""SPEC A1 (and U1): the login-code mail in nl, en and de, as text and HTML."""
from __future__ import annotations

from html.parser import HTMLParser

import pytest

import sendsecure.adapters.mail as mail_module
from sendsecure.adapters.mail import OutgoingMail, login_code_mail
from sendsecure.core.datafiles import data_file

SENDER = "no-reply@sendsecure.example"
TO = "jan@ziekenhuis.example"
CODE = "407215"
LANGUAGES = ("nl", "en", "de")


def make(language: str, code: str = CODE, minutes: int = 10) -> OutgoingMail:
    return login_code_mail(sender=SENDER, to=TO, code=code, language=language, valid_minutes=minutes)


class _Collector(HTMLParser):
    """Collects start tags, end tags, the text and the root element's attributes."""

    VOID = {"meta", "br", "img", "hr", "link", "input"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.balanced = True
        self.text: list[str] = []
        self.tags: list[str] = []
        self.html_attrs: dict[str, str | None] = {}

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "html":
            self.html_attrs = dict(attrs)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.balanced = False

    def handle_data(self, data):
        self.text.append(data)


def parse(markup: str) -> _Collector:
    collector = _Collector()
    collector.feed(markup)
    collector.close()
    return collector


@pytest.mark.parametrize("language", LANGUAGES)
def test_a1_login_code_mail_carries_the_code_in_text_and_html(language):
    mail = make(language)
    assert CODE in mail.text
    assert CODE in mail.html
    assert mail.login_code == CODE


@pytest.mark.parametrize("language", LANGUAGES)
def test_a1_login_code_mail_states_the_validity_minutes(language):
    mail = make(language, minutes=17)
    assert "17" in mail.text
    assert "17" in mail.html
    assert "{minutes}" not in mail.text and "{minutes}" not in mail.html


def test_a1_login_code_mail_subject_differs_per_language():
    subjects = {language: make(language).subject for language in LANGUAGES}
    assert len(set(subjects.values())) == 3, subjects
    assert all(subject.strip() for subject in subjects.values())


@pytest.mark.parametrize("language", LANGUAGES)
def test_u1_login_code_mail_text_is_in_the_requested_language(language):
    texts = data_file("login_code_mail.json")[language]
    mail = make(language)
    assert mail.language == language
    assert mail.subject == texts["subject"]
    assert texts["intro"] in mail.text


@pytest.mark.parametrize("language", LANGUAGES)
def test_a1_login_code_mail_html_is_well_formed_with_lang_attribute(language):
    mail = make(language)
    assert mail.html.startswith("<!DOCTYPE html>")
    document = parse(mail.html)
    assert document.balanced and document.stack == []
    assert document.html_attrs.get("lang") == language
    assert "script" not in document.tags
    assert CODE in "".join(document.text)


@pytest.mark.parametrize("language", ["fr", "", "xx", "nl-NL"])
def test_u1_login_code_mail_unknown_language_falls_back_to_dutch(language):
    mail = make(language)
    dutch = make("nl")
    assert mail.language == "nl"
    assert mail.subject == dutch.subject
    assert mail.text == dutch.text
    assert 'lang="nl"' in mail.html


def test_a1_login_code_mail_escapes_markup_in_texts(monkeypatch):
    hostile = {
        language: {
            "subject": "Code <script>alert(1)</script>",
            "greeting": "Hi <b>there</b> & co",
            "intro": "<script>steal()</script>",
            "validity": "{minutes} <img src=x onerror=alert(1)>",
            "ignore": "\"quoted\" 'single'",
            "never_share": "<iframe>",
            "signature": "</body></html><script>",
        }
        for language in LANGUAGES
    }
    monkeypatch.setattr(mail_module, "data_file", lambda name: hostile)
    mail = make("en")
    lowered = mail.html.lower()
    assert "<script" not in lowered
    assert "<img" not in lowered
    assert "<iframe" not in lowered
    assert "<b>" not in lowered
    document = parse(mail.html)
    assert document.balanced and document.stack == []
    assert set(document.tags) <= {"html", "head", "meta", "title", "body", "p"}
    # The escaped text still reads as the original text.
    assert "<script>steal()</script>" in "".join(document.text)


def test_a1_email_message_has_plain_and_html_parts():
    message = make("de").to_email_message()
    assert message.is_multipart()
    assert message.get_content_type() == "multipart/alternative"
    types = [part.get_content_type() for part in message.iter_parts()]
    assert types == ["text/plain", "text/html"]
    assert message["To"] == TO
    assert message["From"] == SENDER
    assert message["Subject"] == make("de").subject


@pytest.mark.parametrize("language", LANGUAGES)
def test_u1_email_message_has_content_language_header(language):
    message = make(language).to_email_message()
    # Also after serialising: this is what the mail transport sends.
    assert message["Content-Language"] == language
    assert f"Content-Language: {language}" in message.as_string()


def test_a1_email_message_parts_carry_the_code():
    message = make("en").to_email_message()
    plain = message.get_body(preferencelist=("plain",)).get_content()
    markup = message.get_body(preferencelist=("html",)).get_content()
    assert CODE in plain
    assert CODE in markup
    assert markup.startswith("<!DOCTYPE html>")


def test_a1_email_message_is_marked_auto_generated_with_message_id_and_date():
    message = make("nl").to_email_message()
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"].endswith("@sendsecure.example>")
    assert message["Date"]
