"""Issue 14: the Outlook add-in in headless chromium against the development host (conftest.py)."""
from __future__ import annotations

import json
import re

import pytest
import requests
from addin_pane import api_login, latest_code, new_prefix, open_pane
from devhost_process import start_devhost, stop_devhost

EXTERNAL = {"type": "externalUser"}
COMMUNITY = "dr.jansen@gezondheidscentrum-oost.example"  # in the sample ZorgMail address book
OWN = "collega@ziekenhuis-a.example"  # the own organisation of the test tenant zorg-a
INTERNET_ID = "<AM0PR01MB0001.addin@AM0PR01MB0001.eurprd01.prod.exchangelabs.com>"


def _put_settings(host, session, **settings) -> None:
    answer = requests.put(host.url("/api/v1/settings"), json={"language": "nl", "send_delay_seconds": 0, **settings},
                          headers={"Authorization": f"Bearer {session['session_token']}"}, timeout=10)
    assert answer.status_code == 200, answer.text


def test_a1_log_in_with_the_code_from_the_outbox(browser, devhost):
    pane = open_pane(browser, devhost, "login", "login@ziekenhuis-a.example",
                     to=[{"address": COMMUNITY}], subject="Verwijzing")
    page = pane.page
    page.get_by_role("button", name="Verstuur code").wait_for()
    pane.check("start")
    before = set(devhost.outbox.glob("*.eml"))
    page.get_by_role("button", name="Verstuur code").click()
    page.get_by_text("Er is een code verstuurd naar login@ziekenhuis-a.example").wait_for()
    code = latest_code(devhost.outbox, before)
    pane.check("code-entry")
    page.get_by_label("Uw autorisatiecode").fill(f"{(int(code) + 1) % 10**6:06d}")
    page.get_by_role("button", name="Inloggen").click()
    page.get_by_text(re.compile(r"De code klopt niet\. Nog \d poging")).wait_for()
    pane.check("wrong-code")
    page.get_by_label("Uw autorisatiecode").fill(code)
    page.get_by_role("button", name="Inloggen").click()
    validated = page.get_by_role("button", name="Toon gevalideerde ontvangers (1)")
    validated.wait_for()  # W1: validated recipients collapsed
    assert validated.get_attribute("aria-expanded") == "false"
    pane.check("logged-in-verdict")
    validated.click()
    card = page.get_by_test_id("recipient").filter(has_text=COMMUNITY)
    assert card.get_attribute("data-colour") == "green"
    assert page.get_by_role("button", name="Veilig verzenden").is_enabled()
    pane.check("validated-open")
    assert page.evaluate("window.__sendsecureMetrics.firstVerdictMs") > 0
    assert pane.errors == []


def test_w2_external_recipient_needs_a_phone_invalid_then_valid_then_send(browser, devhost):
    session = api_login(devhost, "phone@ziekenhuis-a.example")
    pane = open_pane(browser, devhost, "phone", session["mailbox"], session=session,
                     to=[{"address": "piet.phone@gmail.example", **EXTERNAL}], subject="Verwijzing",
                     attachments=[{"name": "brief.pdf", "size": 183211}])
    page = pane.page
    card = page.get_by_test_id("recipient").filter(has_text="piet.phone@gmail.example")
    card.get_by_text("Actie nodig").wait_for()
    assert card.get_attribute("data-colour") == "red"
    send = page.get_by_role("button", name="Veilig verzenden")
    assert send.is_disabled()
    page.get_by_role("heading", name="Installatietype: Viewer - 06 verplicht").wait_for()  # the blue box (§2.2.2.1)
    page.get_by_text("Een mobiel nummer is verplicht").wait_for()
    pane.check("phone-required")
    page.get_by_role("button", name="Verberg uitleg").click()
    assert page.get_by_text("Een mobiel nummer is verplicht").count() == 0
    number = page.get_by_label(re.compile("Mobiel nummer voor piet.phone@gmail.example"))
    number.fill("12345")
    page.get_by_role("button", name="Opslaan").click()
    page.get_by_text(re.compile("geen geldig telefoonnummer")).wait_for()
    pane.check("phone-invalid")
    number.fill("06 12345678")
    page.get_by_role("button", name="Opslaan").click()
    page.get_by_text(re.compile("Nummer opgeslagen")).wait_for()
    page.wait_for_function("() => !document.querySelector('[data-testid=recipient][data-colour=red]')")
    page.wait_for_function("() => !Array.from(document.querySelectorAll('button'))"
                           ".find((b) => b.textContent === 'Veilig verzenden').disabled")
    pane.check("phone-saved")
    send.click()
    page.get_by_text("Uw bericht is veilig verzonden.").wait_for()
    state = pane.state()
    assert state["sent"] == 1
    assert state["stamped"]["X-SendSecure-Envelope"] and state["stamped"]["X-SendSecure-Stamp"]
    assert "+316" not in str(state["stamped"])  # S8: no phone number in a header
    pane.check("sent")


def test_p1_issue_addinfix_item2_a_typed_number_goes_with_the_send_without_saving(browser, devhost):
    """A valid number typed and not saved enables Veilig verzenden and goes in the send's
    draft.phones (the server stores it, P1); an invalid one is not stored and blocks, in words."""
    session = api_login(devhost, "getypt@ziekenhuis-a.example")
    address = "kees.typed@gmail.example"
    pane = open_pane(browser, devhost, "phone-typed", session["mailbox"], session=session,
                     to=[{"address": address, **EXTERNAL}], subject="Verwijzing")
    page = pane.page
    sends: list[dict] = []
    page.on("request", lambda r: sends.append(r.post_data_json)
            if r.method == "POST" and r.url.endswith("/api/v1/messages/send") else None)
    send = page.get_by_role("button", name="Veilig verzenden")
    card = page.get_by_test_id("recipient").filter(has_text=address)
    card.get_by_text("Actie nodig").wait_for()
    number = page.get_by_label(re.compile(f"Mobiel nummer voor {address}"))
    number.fill("12345")  # typed, never saved
    card.get_by_text(re.compile("geen geldig telefoonnummer")).wait_for()  # the verdict's words
    assert send.is_disabled() and card.get_attribute("data-colour") == "red"
    pane.check("typed-invalid")
    auth = {"Authorization": f"Bearer {session['session_token']}"}

    def stored() -> list[dict]:
        answer = requests.post(devhost.url("/api/v1/phones/lookup"), json={"addresses": [address]}, headers=auth,
                               timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()["phones"]

    assert stored() == []
    number.fill("06 12345678")  # typed, never saved: Opslaan is not pressed
    page.wait_for_function("() => !Array.from(document.querySelectorAll('button'))"
                           ".find((b) => b.textContent === 'Veilig verzenden').disabled")
    assert card.get_by_text(re.compile("geen geldig telefoonnummer")).count() == 0
    pane.check("typed-valid")
    send.click()
    page.get_by_text("Uw bericht is veilig verzonden.").wait_for()
    assert [body["draft"]["phones"] for body in sends] == [{address: "06 12345678"}]
    assert [p["phone"] for p in stored()] == ["+31612345678"]  # P1: stored by the send
    assert pane.state()["sent"] == 1


def test_p1_w2_a_number_typed_for_a_removed_recipient_never_moves_to_another(browser, devhost):
    """Review 2026-12-01: the cards were keyed by position, so removing the first recipient handed
    its typed number to the next one's field, and the send stored it as theirs. Each field belongs
    to its recipient; a removed recipient's typed number is dropped."""
    session = api_login(devhost, "verschuif@ziekenhuis-a.example")
    anna, bert = "anna.verschuif@gmail.example", "bert.verschuif@gmail.example"
    auth = {"Authorization": f"Bearer {session['session_token']}"}
    stored = requests.put(devhost.url("/api/v1/phones"), json={"address": bert, "phone": "+31622222222"},
                          headers=auth, timeout=10)
    assert stored.status_code == 200, stored.text
    pane = open_pane(browser, devhost, "phone-moves", session["mailbox"], session=session,
                     to=[{"address": anna, **EXTERNAL}, {"address": bert, **EXTERNAL}], subject="Brief")
    page = pane.page
    sends: list[dict] = []
    page.on("request", lambda r: sends.append(r.post_data_json)
            if r.method == "POST" and r.url.endswith("/api/v1/messages/send") else None)
    enabled = ("() => { const b = Array.from(document.querySelectorAll('button'))"
               ".find((x) => x.textContent === 'Veilig verzenden'); return b && !b.disabled; }")
    page.get_by_label(re.compile(f"Mobiel nummer voor {anna}")).fill("06 11111111")  # typed, not saved
    page.wait_for_function(enabled)                                                  # the verdict took it
    page.evaluate(f"window.__office.setRecipients('to', [{{address: '{bert}', type: 'externalUser'}}])")
    page.wait_for_function("() => document.querySelectorAll('[data-testid=recipient]').length === 1")
    field = page.get_by_label(re.compile(f"Mobiel nummer voor {bert}"))
    assert field.input_value() == "+31622222222"        # Bert's own stored number, not Anna's typed one
    page.wait_for_function(enabled)
    page.get_by_role("button", name="Veilig verzenden").click()
    page.get_by_text("Uw bericht is veilig verzonden.").wait_for()
    assert [body["draft"]["phones"] for body in sends] == [{}]   # nothing typed for anyone in the draft
    answer = requests.post(devhost.url("/api/v1/phones/lookup"), json={"addresses": [anna, bert]}, headers=auth,
                           timeout=10)
    assert [(p["address"], p["phone"]) for p in answer.json()["phones"]] == [(bert, "+31622222222")]


def test_s7_send_delay_counts_down_and_can_be_cancelled(browser, devhost):
    session = api_login(devhost, "delay@ziekenhuis-a.example")
    _put_settings(devhost, session, send_delay_seconds=10)
    pane = open_pane(browser, devhost, "delay", session["mailbox"], session=session,
                     to=[{"address": COMMUNITY}], subject="Uitslag")
    page = pane.page
    page.get_by_role("button", name="Veilig verzenden").click()
    page.get_by_role("timer").wait_for()
    assert re.search(r"over (10|9) seconden", page.get_by_role("timer").inner_text())
    pane.check("countdown")
    page.wait_for_function("() => document.activeElement && document.activeElement.textContent === 'Annuleren'")
    page.keyboard.press("Enter")  # the focus is on Annuleren: one key cancels
    page.get_by_text("Verzenden geannuleerd.").wait_for()
    assert pane.state()["sent"] == 0 and pane.state()["stamped"] is None
    pane.check("countdown-cancelled")


def test_s7_settings_unreadable_the_last_known_send_delay_still_counts_down(browser, devhost):
    """Review 2026-12-01: when GET /settings failed as the pane opened, the send went without the
    nurse's delay and without a word. The last delay the back end gave is used instead."""
    session = api_login(devhost, "vertraging@ziekenhuis-a.example")
    _put_settings(devhost, session, send_delay_seconds=10)
    pane = open_pane(browser, devhost, "delay-unreadable", session["mailbox"], session=session,
                     to=[{"address": COMMUNITY}], subject="Uitslag")
    page = pane.page
    page.get_by_role("button", name="Veilig verzenden").wait_for()       # settings read once: remembered
    page.route("**/api/v1/settings", lambda route: route.fulfill(
        status=503, headers={"Retry-After": "5"}, content_type="application/problem+json",
        body='{"type":"about:blank","title":"Unavailable","status":503,"code":"service_unavailable"}'))
    page.reload()
    page.get_by_role("button", name="Veilig verzenden").click()
    page.get_by_role("timer").wait_for()
    assert re.search(r"over (10|9) seconden", page.get_by_role("timer").inner_text())
    page.get_by_role("button", name="Annuleren").click()
    page.get_by_text("Verzenden geannuleerd.").wait_for()


def test_v_o4_on_send_with_auto_send_stamps_the_envelope(browser, devhost):
    session = api_login(devhost, "onsend@ziekenhuis-a.example")
    pane = open_pane(browser, devhost, "onsend-auto", session["mailbox"], session=session, page_name="commands.html",
                     to=[{"address": COMMUNITY}], subject="Labuitslag")
    page = pane.page
    page.wait_for_function("() => window.__office && window.__office.has('onMessageSendHandler')")
    outcome = page.evaluate("window.__office.fire('onMessageSendHandler')")
    assert outcome["allowEvent"] is True, outcome
    state = pane.state()
    assert state["stamped"]["X-SendSecure-Envelope"]
    assert state["properties"]["sendsecure_message_id"]
    # A retry of the same message (S4): the same envelope.
    again = page.evaluate("window.__office.fire('onMessageSendHandler')")
    assert again["allowEvent"] is True and pane.state()["stamped"] == state["stamped"]


def test_v_o4_on_send_intercepts_from_the_precomputed_verdict(browser, devhost):
    session = api_login(devhost, "intercept@ziekenhuis-a.example")
    pane = open_pane(browser, devhost, "onsend-intercept", session["mailbox"], session=session,
                     page_name="commands.html", to=[{"address": "nophone@gmail.example", **EXTERNAL}], subject="Brief")
    page = pane.page
    page.wait_for_function("() => window.__office && window.__office.has('onMessageRecipientsChangedHandler')")
    page.evaluate("window.__office.fire('onMessageRecipientsChangedHandler')")
    outcome = page.evaluate("window.__office.fire('onMessageSendHandler')")
    assert outcome["allowEvent"] is False
    assert "nophone@gmail.example" in outcome["errorMessage"]
    assert outcome["commandId"] == "msgComposeOpenPaneButton" and outcome["cancelLabel"] == "Open Send Secure"
    assert page.evaluate("window.__sendsecureLastDecision.source") == "cache"
    assert pane.state()["stamped"] is None


def test_v_o4_on_send_without_session_asks_to_log_in(browser, devhost):
    pane = open_pane(browser, devhost, "onsend-nosession", "nobody@ziekenhuis-a.example", page_name="commands.html",
                     to=[{"address": COMMUNITY}], subject="Brief")
    page = pane.page
    page.wait_for_function("() => window.__office && window.__office.has('onMessageSendHandler')")
    outcome = page.evaluate("window.__office.fire('onMessageSendHandler')")
    assert outcome["allowEvent"] is False and "niet ingelogd" in outcome["errorMessage"]


def test_u1_language_switch_in_settings(browser, devhost):
    session = api_login(devhost, "taal@ziekenhuis-a.example")
    _put_settings(devhost, session)
    pane = open_pane(browser, devhost, "language", session["mailbox"], session=session,
                     to=[{"address": COMMUNITY}], subject="Brief")
    page = pane.page
    page.get_by_role("button", name="Veilig verzenden").wait_for()
    page.get_by_role("button", name="Instellingen").click()
    page.get_by_role("heading", name="Instellingen").wait_for()
    page.get_by_text("Versie dienst").wait_for()
    pane.check("settings")
    page.get_by_label("Taal").select_option("en")
    page.get_by_role("button", name="Opslaan en sluiten").click()
    page.get_by_role("button", name="Send securely").wait_for()
    assert page.evaluate("document.documentElement.lang") == "en"
    pane.check("english")
    page.get_by_role("button", name="Settings").click()
    page.get_by_label("Language").select_option("de")
    page.get_by_role("button", name="Save and close").click()
    page.get_by_role("button", name="Sicher senden").wait_for()
    pane.check("german")


def test_x6_read_mode_of_an_item_without_envelope(browser, devhost):
    session = api_login(devhost, "lezen@ziekenhuis-a.example")
    pane = open_pane(browser, devhost, "read", session["mailbox"], session=session, mode="read", readHeaders="")
    pane.page.get_by_text("Dit bericht is niet via Send Secure verzonden.").wait_for()
    pane.check("read-plain")


@pytest.fixture(scope="module")
def devhost_without_book(azurite, tmp_path_factory, needs_build):
    host = start_devhost(tmp_path_factory.mktemp("nobook"), {
        "TABLES_CONNECTION_STRING": azurite.connection_string, "TABLE_PREFIX": new_prefix(), "DOMAIN_BOOK_SOURCES": ""})
    yield host
    stop_devhost(host)


def test_v_o3_no_book_offers_standard_sending(browser, devhost_without_book):
    host = devhost_without_book
    session = api_login(host, "geenboek@ziekenhuis-a.example")
    pane = open_pane(browser, host, "no-book", session["mailbox"], session=session,
                     to=[{"address": COMMUNITY}], subject="Brief")
    page = pane.page
    no_book = page.get_by_text(re.compile(r"domeinboek .*niet beschikbaar", re.IGNORECASE))
    no_book.first.wait_for()
    assert no_book.count() == 1  # said once, in words
    pane.check("no-book")
    page.get_by_role("button", name="Standaard versturen").click()
    page.get_by_text("Uw bericht is standaard verzonden.").wait_for()
    state = pane.state()
    assert state["sent"] == 1 and state["stamped"] is None


def test_w1_blocked_attachment_is_shown_open_in_red_and_can_be_removed(browser, devhost):
    session = api_login(devhost, "bijlage@ziekenhuis-a.example")
    pane = open_pane(browser, devhost, "attachments", session["mailbox"], session=session,
                     to=[{"address": COMMUNITY}], subject="Brief",
                     attachments=[{"name": "brief.pdf", "size": 1000}, {"name": "setup.exe", "size": 2000}])
    page = pane.page
    toggle = page.get_by_role("button", name="Verberg bijlagen (2)")
    toggle.wait_for()  # open at once: an attachment needs action
    exe = page.get_by_test_id("attachment").filter(has_text="setup.exe")
    assert exe.get_attribute("data-colour") == "red"
    assert page.get_by_role("button", name="Veilig verzenden").is_disabled()
    pane.check("attachment-blocked")
    page.get_by_role("button", name="Verwijder bijlage setup.exe").click()
    page.get_by_role("button", name="Toon bijlagen (1)").wait_for()  # nothing needs action: collapsed again
    assert [a["name"] for a in pane.state()["attachments"]] == ["brief.pdf"]
    page.wait_for_function("() => !Array.from(document.querySelectorAll('button'))"
                           ".find((b) => b.textContent === 'Veilig verzenden').disabled")
    pane.check("attachment-removed")


def test_a1_failed_login_offers_standard_sending(browser, devhost):
    pane = open_pane(browser, devhost, "login-failed", "mislukt@ziekenhuis-a.example",
                     to=[{"address": COMMUNITY}], subject="Brief")
    page = pane.page
    before = set(devhost.outbox.glob("*.eml"))
    page.get_by_role("button", name="Verstuur code").click()
    wrong = f"{(int(latest_code(devhost.outbox, before)) + 1) % 10**6:06d}"
    page.get_by_label("Uw autorisatiecode").fill("12")
    page.get_by_role("button", name="Inloggen").click()
    page.get_by_text("Vul de 6 cijfers van de code in.").wait_for()  # checked before asking the back end
    page.get_by_label("Uw autorisatiecode").fill(wrong)
    page.get_by_role("button", name="Inloggen").click()
    page.get_by_role("button", name="Standaard versturen").wait_for()
    pane.check("login-failed")
    page.get_by_role("button", name="Standaard versturen").click()
    page.wait_for_function("() => window.__office.state.sent === 1")
    assert pane.state()["stamped"] is None


def test_x6_read_mode_of_a_sent_item_shows_its_status_or_says_it_is_not_there_yet(browser, devhost):
    session = api_login(devhost, "status@ziekenhuis-a.example")
    sent = requests.post(devhost.url("/api/v1/messages/send"), timeout=10,
                         headers={"Authorization": f"Bearer {session['session_token']}"},
                         json={"message_id": "<status-1@test>", "draft": {"to": [{"address": COMMUNITY}], "cc": [],
                               "bcc": [], "subject": "Brief", "attachments": []}})
    assert sent.status_code == 201, sent.text
    envelope_id = sent.json()["envelope_id"]
    pane = open_pane(browser, devhost, "read-status", session["mailbox"], session=session, mode="read",
                     readHeaders=f"Subject: Brief\r\nX-SendSecure-Envelope: {envelope_id}\r\n")
    page = pane.page
    page.get_by_role("heading", name="Afleverstatus").wait_for()  # GET /messages/{id} (X6) of the host
    page.get_by_test_id("delivery").filter(has_text=COMMUNITY).get_by_text("onderweg").wait_for()
    pane.check("read-status")


def test_a3_an_ended_session_brings_back_the_login(browser, devhost):
    session = api_login(devhost, "uitgelogd@ziekenhuis-a.example")
    requests.delete(devhost.url("/api/v1/session"), timeout=10,
                    headers={"Authorization": f"Bearer {session['session_token']}"})
    pane = open_pane(browser, devhost, "session-ended", session["mailbox"], session=session,
                     to=[{"address": COMMUNITY}], subject="Brief")
    pane.page.get_by_role("button", name="Verstuur code").wait_for()
    pane.check("login-again")
    assert pane.page.evaluate("Object.keys(localStorage).filter((k) => k.startsWith('sendsecure.session.'))") == []


def test_issue14_keyboard_only_login_and_settings(browser, devhost):
    pane = open_pane(browser, devhost, "keyboard", "toetsen@ziekenhuis-a.example",
                     to=[{"address": COMMUNITY}], subject="Brief")
    page = pane.page
    page.get_by_role("button", name="Verstuur code").wait_for()
    before = set(devhost.outbox.glob("*.eml"))
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Verstuur code"
    page.keyboard.press("Enter")
    code = latest_code(devhost.outbox, before)
    page.get_by_label("Uw autorisatiecode").wait_for()
    page.wait_for_function("() => document.activeElement?.name === 'code'")  # focus moved there
    page.keyboard.type(code)
    page.keyboard.press("Enter")  # the form submits
    page.get_by_role("button", name="Veilig verzenden").wait_for()
    page.keyboard.press("Shift+Tab")  # from the body back to the header's settings button
    for _ in range(10):
        if page.evaluate("document.activeElement.getAttribute('aria-label')") == "Instellingen":
            break
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Instellingen"
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Instellingen").wait_for()
    page.get_by_label("Taal").focus()
    page.keyboard.press("ArrowDown")  # Nederlands -> English
    page.get_by_role("button", name="Opslaan en sluiten").focus()
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Send securely").wait_for()
    pane.check("keyboard-english")


def test_x6_s5_issue_addinfix_item1_read_mode_revoke_on_the_real_endpoints(browser, devhost):
    """A message sent through the panel, then read mode against the development host's real
    GET /messages/{id} and POST /messages/{id}/revoke. No recall is configured on this host (Graph
    stays out of it), so what the back end answers for the own-organisation recipient is shown."""
    session = api_login(devhost, "intrekken@ziekenhuis-a.example")
    compose = open_pane(browser, devhost, "read-revoke-send", session["mailbox"], session=session,
                        to=[{"address": OWN, "type": "user"}, {"address": COMMUNITY}], subject="Uitslag")
    compose.page.get_by_role("button", name="Veilig verzenden").click()
    compose.page.get_by_text("Uw bericht is veilig verzonden.").wait_for()
    envelope_id = compose.state()["stamped"]["X-SendSecure-Envelope"]
    compose.page.context.close()

    pane = open_pane(browser, devhost, "read-revoke", session["mailbox"], session=session, mode="read",
                     readHeaders=f"Subject: Uitslag\r\nX-SendSecure-Envelope: {envelope_id}\r\n",
                     internetMessageId=INTERNET_ID)
    page = pane.page
    revokes: list[object] = []
    page.on("request", lambda r: revokes.append(r.post_data_json)
            if r.method == "POST" and r.url.endswith(f"/messages/{envelope_id}/revoke") else None)
    cards = page.get_by_test_id("delivery")
    cards.filter(has_text=OWN).wait_for()
    assert [c.inner_text().split("\n")[0] for c in cards.all()] == [OWN, COMMUNITY]
    assert page.get_by_text("onderweg").count() == 2  # no gateway event yet
    pane.check("read-status")
    page.get_by_role("button", name="Bericht intrekken").click()
    page.get_by_text("Weet u zeker dat u dit bericht wilt intrekken?").wait_for()
    assert revokes == []  # nothing revoked before the confirmation
    pane.check("read-revoke-confirm")
    page.get_by_role("button", name="Bericht intrekken").click()
    page.get_by_text(re.compile("Ingetrokken op")).wait_for()
    assert revokes == [{"internet_message_id": INTERNET_ID}]  # the item's own: not a shared mailbox

    auth = {"Authorization": f"Bearer {session['session_token']}"}
    stored = requests.get(devhost.url(f"/api/v1/messages/{envelope_id}"), headers=auth, timeout=10).json()
    answered = {r["address"]: r["recall"] for r in stored["recipients"]}
    # docs/sending.md: without RECALL_CLIENT_ID the revoke stands and own-organisation copies are `failed`.
    assert answered == {OWN: "failed", COMMUNITY: "out_of_reach"}
    words = {"recalled": "teruggehaald uit de mailbox", "not_found": "niet (meer) in de mailbox",
             "failed": "terughalen mislukt", "out_of_reach": "buiten de eigen organisatie"}
    for address, outcome in answered.items():
        card = cards.filter(has_text=address)
        assert card.get_attribute("data-outcome") == outcome
        assert f"Intrekken: {words[outcome]}" in card.inner_text()
    retry = page.get_by_role("button", name="Terughalen opnieuw proberen")
    assert cards.filter(has_text=OWN).get_attribute("data-colour") == "red"
    page.get_by_text("Bij 1 ontvanger(s) in uw organisatie is het terughalen mislukt.").wait_for()
    pane.check("read-revoked")
    with page.expect_response(lambda r: r.url.endswith("/revoke")) as retried:
        retry.click()
    assert retried.value.status == 200
    page.wait_for_function("() => !Array.from(document.querySelectorAll('button'))"
                           ".find((b) => b.textContent === 'Terughalen opnieuw proberen')?.disabled")
    assert revokes == [{"internet_message_id": INTERNET_ID}, {"internet_message_id": INTERNET_ID, "retry_failed": True}]
    again = requests.get(devhost.url(f"/api/v1/messages/{envelope_id}"), headers=auth, timeout=10).json()
    assert {c.get_attribute("data-outcome") for c in cards.all()} == {r["recall"] for r in again["recipients"]}
    pane.check("read-retried")


def test_issue_addinfix_item3_pages_work_under_the_content_security_policy(browser, devhost):
    """Both pages carry the policy and run under it without a violation (every pane.check asserts
    that too); the policy is enforced: an inline script is refused and the refusal is seen."""
    for name in ("taskpane.html", "commands.html"):
        policy = requests.get(devhost.url(f"/addin/{name}"), timeout=10).headers["content-security-policy"]
        assert "script-src 'self' https://appsforoffice.microsoft.com;" in policy
        assert "frame-ancestors https://outlook.office.com" in policy
    handler = open_pane(browser, devhost, "csp-handler", "csp@ziekenhuis-a.example", page_name="commands.html",
                        to=[{"address": COMMUNITY}], subject="Brief")
    handler.page.wait_for_function("() => window.__office && window.__office.has('onMessageSendHandler')")
    assert handler.page.evaluate("window.__office.fire('onMessageSendHandler')")["allowEvent"] is False  # no session
    assert handler.csp_violations() == [] and handler.errors == []
    handler.page.context.close()

    pane = open_pane(browser, devhost, "csp", "csp@ziekenhuis-a.example", to=[{"address": COMMUNITY}], subject="Brief")
    page = pane.page
    page.get_by_role("button", name="Verstuur code").wait_for()
    pane.check("login")  # screenshot, overflow, axe, no CSP violation
    page.evaluate("() => { const s = document.createElement('script'); s.textContent = 'window.__inline = 1';"
                  " document.head.append(s); }")
    page.wait_for_function("() => window.__cspViolations.length > 0")
    assert page.evaluate("window.__inline") is None
    assert pane.csp_violations()[0].startswith("script-src-elem inline")


def _enabled_secure_send(page) -> None:
    page.wait_for_function("() => { const b = Array.from(document.querySelectorAll('button'))"
                           ".find((b) => b.textContent === 'Veilig verzenden'); return b && !b.disabled; }")


def _auth(session) -> dict[str, str]:
    return {"Authorization": f"Bearer {session['session_token']}"}


def test_a3_a_session_ended_before_veilig_verzenden_brings_back_the_login(browser, devhost):
    session = api_login(devhost, "send401@ziekenhuis-a.example")
    pane = open_pane(browser, devhost, "send-401", session["mailbox"], session=session,
                     to=[{"address": COMMUNITY}], subject="Brief")
    page = pane.page
    _enabled_secure_send(page)
    assert requests.delete(devhost.url("/api/v1/session"), headers=_auth(session), timeout=10).status_code == 204
    page.get_by_role("button", name="Veilig verzenden").click()
    page.get_by_role("button", name="Verstuur code").wait_for()  # the login screen, not an English error
    assert "session is required" not in page.evaluate("document.body.innerText")
    assert page.evaluate("Object.keys(localStorage).filter((k) => k.startsWith('sendsecure.session.'))") == []
    assert pane.state()["sent"] == 0
    pane.check("send-401-login")


def test_u1_v_m1_subject_emptied_after_the_verdict_422_in_words_and_the_confirmation_appears(browser, devhost):
    session = api_login(devhost, "nosubject@ziekenhuis-a.example")
    pane = open_pane(browser, devhost, "send-422-subject", session["mailbox"], session=session,
                     to=[{"address": COMMUNITY}], subject="Brief")
    page = pane.page
    _enabled_secure_send(page)
    page.evaluate("window.__office.setSubject('')")  # no change event: the verdict still has the subject
    page.get_by_role("button", name="Veilig verzenden").click()
    page.get_by_text("Het onderwerp is leeg. Vink hieronder aan").wait_for()
    confirm = page.get_by_label("Ik verstuur zonder onderwerp")
    confirm.wait_for()  # the verdict was asked again: the V-M1 box is there
    text = page.evaluate("document.body.innerText")
    assert "confirm that it may be sent" not in text and "must be true" not in text
    pane.check("send-422-subject")
    confirm.check()
    page.get_by_role("button", name="Veilig verzenden").click()
    page.get_by_text("Uw bericht is veilig verzonden.").wait_for()
    assert pane.state()["sent"] == 1


def test_s4_message_id_conflict_gets_a_new_id_once_and_a_second_conflict_is_in_words(browser, devhost):
    session = api_login(devhost, "conflict@ziekenhuis-a.example")
    old = "<conflict-old@sendsecure>"
    first = requests.post(devhost.url("/api/v1/messages/send"), headers=_auth(session), timeout=10, json={
        "message_id": old, "draft": {"to": [{"address": COMMUNITY}], "cc": [], "bcc": [], "subject": "Brief",
                                     "attachments": []}})
    assert first.status_code == 201, first.text
    # The item's earlier envelope never left ("Niet verzenden"), then the subject changed.
    pane = open_pane(browser, devhost, "send-409", session["mailbox"], session=session, to=[{"address": COMMUNITY}],
                     subject="Brief (gewijzigd)", properties={"sendsecure_message_id": old})
    page = pane.page
    _enabled_secure_send(page)
    page.get_by_role("button", name="Veilig verzenden").click()
    page.get_by_text("Uw bericht is veilig verzonden.").wait_for()
    state = pane.state()
    assert state["sent"] == 1 and state["properties"]["sendsecure_message_id"] != old
    assert state["stamped"]["X-SendSecure-Envelope"] != first.json()["envelope_id"]

    # A back end that keeps answering 409: one retry, then the conflict in the user's words.
    again = open_pane(browser, devhost, "send-409-twice", session["mailbox"], session=session,
                      to=[{"address": COMMUNITY}], subject="Brief 2")
    sends: list[str] = []

    def conflict(route):
        sends.append(route.request.post_data_json["message_id"])
        route.fulfill(status=409, content_type="application/problem+json", body=json.dumps({
            "type": "about:blank", "title": "t", "status": 409, "code": "message_id_conflict",
            "detail": "This message id was sent with another draft"}))
    again.page.route("**/api/v1/messages/send", conflict)
    _enabled_secure_send(again.page)
    again.page.get_by_role("button", name="Veilig verzenden").click()
    again.page.get_by_text("Dit bericht is eerder met een andere inhoud aangeboden").wait_for()
    assert len(sends) == 2 and sends[0] != sends[1]
    assert "another draft" not in again.page.evaluate("document.body.innerText")
    assert again.state()["sent"] == 0
    again.check("send-409-words")


def test_issue_addinreview_503_on_the_verdict_retries_once_by_itself_and_offers_opnieuw_proberen(browser, devhost):
    session = api_login(devhost, "busy@ziekenhuis-a.example")
    pane = open_pane(browser, devhost, "verdict-503", session["mailbox"], session=session,
                     to=[{"address": COMMUNITY}], subject="Brief")
    page = pane.page
    calls: list[int] = []
    state = {"down": True}

    def validate(route):
        calls.append(1)
        if state["down"]:
            route.fulfill(status=503, content_type="application/problem+json", headers={"Retry-After": "1"},
                          body=json.dumps({"type": "about:blank", "title": "t", "status": 503, "detail": "English",
                                           "code": "dependency_unavailable"}))
        else:
            route.continue_()
    page.route("**/api/v1/drafts/validate", validate)
    page.reload()
    page.get_by_text("tijdelijk niet beschikbaar").wait_for()
    retry = page.get_by_role("button", name="Opnieuw proberen")
    retry.wait_for()
    assert page.get_by_role("button", name="Veilig verzenden").is_disabled()
    assert page.get_by_role("button", name="Standaard versturen").is_disabled()
    pane.check("verdict-503")
    page.wait_for_timeout(2500)  # Retry-After 1 s: one automatic retry, not more
    assert len(calls) == 2, calls
    page.wait_for_timeout(1500)
    assert len(calls) == 2, calls
    state["down"] = False
    retry.click()
    _enabled_secure_send(page)
    assert page.get_by_role("button", name="Opnieuw proberen").count() == 0


def test_w2_verwijder_nummer_that_fails_says_so_and_keeps_the_number(browser, devhost):
    session = api_login(devhost, "removefail@ziekenhuis-a.example")
    address = "stored.remove@gmail.example"
    stored = requests.put(devhost.url("/api/v1/phones"), json={"address": address, "phone": "+31622222222"},
                          headers=_auth(session), timeout=10)
    assert stored.status_code == 200, stored.text
    pane = open_pane(browser, devhost, "phone-remove-fails", session["mailbox"], session=session,
                     to=[{"address": address, **EXTERNAL}], subject="Brief")
    page = pane.page
    page.route("**/api/v1/phones/remove", lambda route: route.fulfill(
        status=503, content_type="application/problem+json", headers={"Retry-After": "5"},
        body=json.dumps({"type": "about:blank", "title": "t", "status": 503, "code": "dependency_unavailable"})))
    page.get_by_role("button", name="Verwijder nummer").click()
    page.get_by_text(re.compile("Het nummer is niet verwijderd.*tijdelijk niet beschikbaar.*5 seconden")).wait_for()
    assert page.get_by_label(re.compile(f"Mobiel nummer voor {address}")).input_value() != ""
    pane.check("phone-remove-fails")
