"""Languages (SPEC U1): nl, en and de; Dutch when nothing else is known."""
from __future__ import annotations

LANGUAGES = ("nl", "en", "de")
DEFAULT_LANGUAGE = "nl"


def negotiate_language(accept_language: str | None, preferred: str | None = None) -> str:
    """The user's setting if valid, else the best match of ``Accept-Language``, else Dutch."""
    if preferred and preferred.lower() in LANGUAGES:
        return preferred.lower()
    best, best_q = DEFAULT_LANGUAGE, -1.0
    for position, part in enumerate((accept_language or "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().split("-")[0].lower()
        if primary not in LANGUAGES:
            continue
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                continue
        # Earlier entries win ties, as the header lists them in order of preference.
        score = q - position * 1e-6
        if q > 0 and score > best_q:
            best, best_q = primary, score
    return best
