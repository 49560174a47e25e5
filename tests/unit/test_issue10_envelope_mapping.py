"""The verdict's recipients as envelope recipients (issue 10 item 3; V-R4 with T1)."""
from __future__ import annotations

import pytest
from test_rules_table import NTA_D, draft, run

from sendsecure.core.drafts import parse_draft
from sendsecure.core.envelope import Fallback
from sendsecure.core.tenants import InstallationType
from sendsecure.sending import _fallback, _typed_numbers, envelope_recipients, is_secure_allow, policy_version


@pytest.mark.parametrize(("installation", "has_phone", "expected"), [
    ("viewer_sms_required", True, Fallback("sms")),
    ("viewer_sms_required", False, Fallback("sms")),      # V-R4: without a phone the fallback bounces
    ("viewer_sms_optional", True, Fallback("sms")),
    ("viewer_sms_optional", False, Fallback("email")),
    ("viewer", True, Fallback("email")),
    ("standard", True, None),                             # no Viewer to fall back to
])
def test_issue10_item3_v_r4_nta_fallback_per_installation(installation, has_phone, expected):
    assert _fallback(installation, has_phone) == expected


def test_issue10_item2_only_security_by_default_off_is_standard_sending():
    assert is_secure_allow(["auto_send"]) and is_secure_allow(["own_organisation_only"])
    assert not is_secure_allow(["security_by_default_off"])


def test_issue10_item3_policy_version_fits_the_stamp():
    for installation in ("viewer_sms_required", "viewer_sms_optional", "viewer", "standard"):
        assert installation in policy_version(installation) and len(policy_version(installation)) <= 40


@pytest.mark.parametrize(("stored", "expected"), [({}, "email"), ({NTA_D: "+31612345678"}, "sms")])
def test_v_r4_s9_a_typed_number_the_engine_does_not_ask_for_gives_no_sms_fallback(stored, expected):
    """viewer_sms_optional: an NTA-route recipient takes no number (phone_input none), so a number
    typed for it is not stored (P1) and must not promise the gateway an SMS fallback it cannot open;
    a number stored for it does."""
    raw = draft([NTA_D], phones={NTA_D: "06 12345678"})
    verdict = run(raw, InstallationType.VIEWER_SMS_OPTIONAL, stored_phones=stored, typed=True)
    [recipient] = envelope_recipients(verdict, _typed_numbers(parse_draft(raw), "nl"))
    assert recipient.route == "nta7516" and recipient.fallback == Fallback(expected)

