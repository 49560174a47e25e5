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


def describe(e164: str) -> dict[str, str]:
    """``{phone, national_format, region}`` of a normalised number (API.md "/phones")."""
    import phonenumbers

    number = phonenumbers.parse(e164, None)
    return {
        "phone": e164,
        "national_format": phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL),
        "region": phonenumbers.region_code_for_number(number) or "",
    }


LANGUAGE_COUNTRIES = ("NL", "GB", "DE")  # the countries of the add-in's languages (P3)


@functools.lru_cache(maxsize=8)
def country_list(language: str) -> tuple[dict[str, object], ...]:
    """P3: every region phonenumbers knows, named in ``language`` by the Unicode CLDR (Babel):
    the language's own country first, then the other languages' countries, then all others
    alphabetically by name (accents ignored for the order)."""
    import unicodedata

    import phonenumbers
    from babel import Locale

    names = Locale.parse(language).territories
    first = [DEFAULT_REGION.get(language, "NL")] + [c for c in LANGUAGE_COUNTRIES if c != DEFAULT_REGION.get(language)]

    def entry(region: str) -> dict[str, object]:
        return {"region": region, "name": names.get(region, region),
                "calling_code": phonenumbers.country_code_for_region(region)}

    def order(item: dict[str, object]) -> str:
        text = unicodedata.normalize("NFKD", str(item["name"]))
        return "".join(c for c in text if not unicodedata.combining(c)).casefold()

    rest = sorted((entry(r) for r in phonenumbers.SUPPORTED_REGIONS if r not in first), key=order)
    return tuple([entry(r) for r in first] + rest)
