"""A local Entra ID for the Entra login tests (issue 12): real RSA keys and JWTs, real HTTPS.

One HTTPS server on 127.0.0.1 (a free port; tests/httpsfake.py) behind TLS with a self-signed certificate
made here with ``cryptography`` (the clients trust exactly that certificate: ``ENTRA_CA_BUNDLE``;
nothing turns verification off) plays:
- the authority: ``/organizations/v2.0/.well-known/openid-configuration`` (issuer template and
  ``jwks_uri``), the JWKS, and per tenant the OpenID configuration and token endpoint msal's
  on-behalf-of flow uses;
- Microsoft Graph: ``GET /v1.0/me?$select=mail,userPrincipalName,proxyAddresses``.
Tests change what it publishes (``keys``), make the JWKS fail (``jwks_status``), and read what
it saw (``jwks_requests``, ``obo_requests``, ``problems``).
"""
from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from httpsfake import JsonHandler, LocalHttps, self_signed_context

API_CLIENT_ID = "6b0d5f3c-1e2a-4b7c-9d8e-0f1a2b3c4d5e"
API_APP_ID_URI = f"api://sendsecure.example/{API_CLIENT_ID}"
ADDIN_CLIENT_ID = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
CLIENT_SECRET = "obo~client~secret~value"
SCOPE = "access_as_user"


class SigningKey:
    """An RSA key of the fake authority: its public JWK and tokens signed with it."""

    def __init__(self, kid: str | None = None) -> None:
        self.kid = kid or uuid.uuid4().hex[:16]
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self) -> dict[str, Any]:
        data = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**data, "kid": self.kid, "use": "sig", "x5t": self.kid}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        return jwt.encode(claims, self.private, algorithm="RS256", headers={"kid": self.kid, "typ": "JWT", **header})


def unsigned(claims: dict[str, Any], kid: str) -> str:
    """A token with ``alg: none`` (no signature)."""
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{part({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{part(claims)}."


def hs256_with_public_key(claims: dict[str, Any], key: SigningKey) -> str:
    """The classic confusion attack: HS256 with the RSA public key (PEM) as the HMAC secret."""
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    import hmac

    signing_input = (part(json.dumps({"alg": "HS256", "typ": "JWT", "kid": key.kid}).encode()) + "."
                     + part(json.dumps(claims).encode()))
    signature = hmac.new(key.public_pem(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{part(signature)}"


@dataclass
class FakeEntra:
    base_url: str = ""
    keys: list[SigningKey] = field(default_factory=list)
    jwks_status: int = 200
    discovery_status: int = 200
    jwks_requests: int = 0
    discovery_requests: int = 0
    obo_requests: int = 0
    graph_requests: int = 0
    graph_status: int = 200
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)   # oid -> /me answer
    graph_tokens: dict[str, str] = field(default_factory=dict)          # graph token -> oid
    problems: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def issuer(self, tid: str) -> str:
        return f"{self.base_url}/{tid}/v2.0"

    def reset(self, keys: list[SigningKey]) -> None:
        with self.lock:
            self.keys = list(keys)
            self.jwks_status = self.discovery_status = self.graph_status = 200
            self.jwks_requests = self.discovery_requests = self.obo_requests = self.graph_requests = 0
            self.profiles.clear()
            self.graph_tokens.clear()
            self.problems.clear()

    def claims(self, tenant: str, object_id: str, user: str, /, **changes: Any) -> dict[str, Any]:
        """A v2.0 access token for the API as NAA gets it; ``changes`` replace (None removes)."""
        now = int(time.time())
        tid, oid, username = tenant, object_id, user
        claims: dict[str, Any] = {
            "aud": API_CLIENT_ID, "iss": self.issuer(tid), "iat": now - 10, "nbf": now - 10, "exp": now + 3600,
            "aio": "opaque", "azp": ADDIN_CLIENT_ID, "azpacr": "0", "name": "Eva de Vries", "oid": oid,
            "preferred_username": username, "rh": "opaque", "scp": SCOPE, "sid": str(uuid.uuid4()),
            "sub": "pairwise-" + oid[:8], "tid": tid, "uti": "opaque", "ver": "2.0",
        }
        for name, value in changes.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return claims


class _Handler(JsonHandler):
    fake: FakeEntra


    def do_GET(self) -> None:
        fake = self.fake
        path = urlsplit(self.path).path
        base = fake.base_url
        if path == "/organizations/v2.0/.well-known/openid-configuration":
            with fake.lock:
                fake.discovery_requests += 1
            if fake.discovery_status != 200:
                self._answer(fake.discovery_status, {"error": "temporarily_unavailable"})
                return
            self._answer(200, {"issuer": base + "/{tenantid}/v2.0",
                               "jwks_uri": base + "/organizations/discovery/v2.0/keys",
                               "token_endpoint": base + "/organizations/oauth2/v2.0/token",
                               "authorization_endpoint": base + "/organizations/oauth2/v2.0/authorize",
                               "id_token_signing_alg_values_supported": ["RS256"]})
        elif path == "/organizations/discovery/v2.0/keys":
            with fake.lock:
                fake.jwks_requests += 1
                status, keys = fake.jwks_status, [key.jwk() for key in fake.keys]
            if status != 200:
                self._answer(status, {"error": "temporarily_unavailable"})
            else:
                self._answer(200, {"keys": keys})
        elif path.endswith("/v2.0/.well-known/openid-configuration"):
            tid = path.split("/")[1]
            authority = f"{base}/{tid}"
            self._answer(200, {"issuer": f"{authority}/v2.0", "token_endpoint": f"{authority}/oauth2/v2.0/token",
                               "authorization_endpoint": f"{authority}/oauth2/v2.0/authorize",
                               "jwks_uri": base + "/organizations/discovery/v2.0/keys"})
        elif path == "/v1.0/me":
            self._me()
        else:
            fake.problems.append(f"unexpected GET {path}")
            self._answer(404, {"error": "not_found"})

    def _me(self) -> None:
        fake = self.fake
        with fake.lock:
            fake.graph_requests += 1
        query = parse_qs(urlsplit(self.path).query)
        if query.get("$select") != ["mail,userPrincipalName,proxyAddresses"]:
            fake.problems.append(f"/me with select {query.get('$select')}")
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        oid = fake.graph_tokens.get(token)
        if fake.graph_status != 200:
            self._answer(fake.graph_status, {"error": {"code": "ServiceUnavailable"}}, {"Retry-After": "7"})
        elif oid is None or oid not in fake.profiles:
            self._answer(401, {"error": {"code": "InvalidAuthenticationToken"}})
        else:
            self._answer(200, {"@odata.context": "…", **fake.profiles[oid]})

    def do_POST(self) -> None:
        fake = self.fake
        path = urlsplit(self.path).path
        if not path.endswith("/oauth2/v2.0/token"):
            fake.problems.append(f"unexpected POST {path}")
            self._answer(404, {"error": "not_found"})
            return
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(int(self.headers.get("Content-Length", "0")))
                                                  .decode()).items()}
        with fake.lock:
            fake.obo_requests += 1
        expected = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "client_id": API_CLIENT_ID,
                    "requested_token_use": "on_behalf_of"}
        wrong = [name for name, value in expected.items() if form.get(name) != value]
        if wrong or form.get("client_secret") != CLIENT_SECRET or "User.Read" not in form.get("scope", ""):
            fake.problems.append(f"OBO request with wrong {wrong or 'secret or scope'}")
            self._answer(400, {"error": "invalid_request"})
            return
        claims = jwt.decode(form.get("assertion", ""), options={"verify_signature": False})
        graph_token = "graph-" + uuid.uuid4().hex
        with fake.lock:
            fake.graph_tokens[graph_token] = claims["oid"]
        self._answer(200, {"token_type": "Bearer", "scope": "https://graph.microsoft.com/User.Read",
                           "expires_in": 3600, "ext_expires_in": 3600, "access_token": graph_token})


class EntraServer:
    """The fake on its own thread; ``stop()`` shuts it down (the test session does)."""

    def __init__(self, folder: Path) -> None:
        context, self.cert = self_signed_context(folder)
        self.fake = FakeEntra()
        self._https = LocalHttps(_Handler, context, name="fake-entra", fake=self.fake)
        self.fake.base_url = self._https.base_url

    @property
    def base_url(self) -> str:
        return self.fake.base_url

    def env(self, **extra: str) -> dict[str, str]:
        """The settings that point a back end at this authority."""
        return {"ENTRA_AUTHORITY": self.base_url, "ENTRA_CA_BUNDLE": str(self.cert),
                "ENTRA_API_CLIENT_ID": API_CLIENT_ID, "ENTRA_API_APP_ID_URI": API_APP_ID_URI,
                "ENTRA_ADDIN_CLIENT_ID": ADDIN_CLIENT_ID, "ENTRA_CLIENT_SECRET": CLIENT_SECRET,
                "GRAPH_BASE_URL": self.base_url, **extra}

    def stop(self) -> None:
        self._https.stop()


def point_app_at(entra_server, monkeypatch, keys):
    """The back end pointed at the local Entra authority, which signs with ``keys``; returns its fake."""
    from sendsecure import runtime

    entra_server.fake.reset(keys)
    for name, value in entra_server.env().items():
        monkeypatch.setenv(name, value)
    runtime.reset()
    return entra_server.fake
