"""Phone numbers for SMS access codes (SPEC P2, P3, V-R3): parsed and normalised with phonenumbers.

Pure. ``normalise_phone`` turns any reasonable input (``06 12345678``, ``+31 6-1234 5678``,
``0031612345678``) into E.164, with the default region following the user's language (P3).
A number must be valid and able to receive SMS: mobile, or "fixed line or mobile" where a
country's numbering cannot tell them apart (as in the US).
"""
from __future__ import annotations

import functools

DEFAULT_REGION = {"nl": "NL", "en": "GB", "de": "DE"}
INVALID_PHONE = "invalid_phone"
NOT_MOBILE = "not_mobile"


@functools.lru_cache(maxsize=16384)
def normalise_phone(raw: str, region: str = "NL") -> tuple[str | None, str | None]:
    """(E.164 number, None) or (None, ``invalid_phone`` | ``not_mobile``)."""
    import phonenumbers

    text = raw.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None, INVALID_PHONE
    if not phonenumbers.is_valid_number(number):
        return None, INVALID_PHONE
    kind = phonenumbers.number_type(number)
    if kind not in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE):
        return None, NOT_MOBILE
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None
