"""The verdict's recipients as envelope recipients (issue 10 item 3; V-R4 with T1)."""
from __future__ import annotations

import pytest

from sendsecure.core.envelope import Fallback
from sendsecure.sending import _fallback, is_secure_allow, policy_version


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
