"""The envelope from the deployment, with the gateway's own credential (SPEC S9; docs/sending.md).

``EnvelopeClient(api, credential).record(envelope_id)`` fetches ``GET <api>/gateway/envelopes/{id}``
(https; http only on the loopback, for the development host) and returns the signed record for
the check to verify; the numbers of the SMS recipients are kept in ``phones`` (address -> E.164),
outside the signed record. A revoked envelope is ``Rejected("revoked")``, an unknown one
``Rejected("envelope_unknown")``; no answer, 5xx, 429 or a refused credential is
``EnvelopeUnavailable`` (defer: the message stays queued while the operator fixes it).
"""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

from sendsecure.gateway.check import Rejected
from sendsecure.gateway.jwks import LOOPBACK, open_url

CREDENTIAL_ENV = "SENDSECURE_GATEWAY_CREDENTIAL"
MAX_BYTES = 8 * 1024 * 1024


class EnvelopeUnavailable(Exception):
    """The envelope cannot be had now: defer the message."""


class EnvelopeClient:
    def __init__(self, api: str, credential: str, *, timeout: float = 10) -> None:
        parts = urllib.parse.urlsplit(api)
        if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in LOOPBACK):
            raise ValueError("--api must be https (http only on the loopback, for development)")
        self.api = api.rstrip("/")
        self.keys_url = self.api + "/gateway/keys"
        self._credential = credential
        self.timeout = timeout
        self.phones: dict[str, str] = {}
        self.revoked = False

    def record(self, envelope_id: str) -> dict[str, object]:
        url = f"{self.api}/gateway/envelopes/{urllib.parse.quote(envelope_id, safe='')}"
        request = urllib.request.Request(url, headers={"Accept": "application/json",
                                                       "Authorization": f"Bearer {self._credential}"})
        try:
            with open_url(request, self.timeout) as answer:
                raw = answer.read(MAX_BYTES + 1)
        except urllib.error.HTTPError as error:
            if 300 <= error.code < 400:
                raise EnvelopeUnavailable(f"the deployment answered a redirect ({error.code}); not followed: "
                                          "the gateway credential goes to the configured --api only") from None
            if error.code == 404:
                raise Rejected("envelope_unknown", "the deployment has no envelope of this id") from None
            if error.code in (401, 403):
                raise EnvelopeUnavailable(f"the deployment refused the gateway credential ({error.code})") from None
            raise EnvelopeUnavailable(f"the deployment answered {error.code}") from None
        except (urllib.error.URLError, OSError) as error:
            raise EnvelopeUnavailable(f"the deployment does not answer ({type(error).__name__})") from None
        try:
            body = json.loads(raw[:MAX_BYTES])
            record, phones = body["record"], body["phones"]
            self.revoked = bool(body["revoked"])
            self.phones = {str(item["address"]): str(item["phone"]) for item in phones}
        except (ValueError, KeyError, TypeError):
            raise EnvelopeUnavailable("the deployment's answer is not an envelope") from None
        if not isinstance(record, dict):
            raise EnvelopeUnavailable("the deployment's answer is not an envelope")
        if self.revoked:
            raise Rejected("revoked", "the sender revoked this message: deliver nothing")
        return record
