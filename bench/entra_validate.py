"""Entra ID login (issue 12): token validation with a warm key cache, and ``POST /auth/entra`` under load.

1. In process: ``EntraLogin.validate`` (shape, RS256 header, key from the warm per-worker cache,
   PyJWT's signature/exp/nbf/aud, the claim checks) on a real RS256 token (2048-bit key, the
   size Entra uses), µs per token over ``--tokens`` validations, median of ``--runs``; beside
   it PyJWT's ``jwt.decode`` alone (the RSA verification dominates) and two refusals that
   never reach a key (``alg: none``, an unknown key id within the refresh minute).
2. Over HTTP (unless ``--skip-load``): the development host (subprocess, its own Azurite) pointed
   at a local HTTPS authority (tests/entrafake.py; self-signed certificate it trusts through
   ``ENTRA_CA_BUNDLE``), ``POST /api/v1/auth/entra`` for the demo Entra tenant (tenants/demo.json,
   demo-kliniek) with ``--connections`` connections, ``--load-runs`` runs of ``--seconds``
   after a warm-up, twice: each connection from its own loopback address (the Python generator
   of loadtools.py, 16 clients: the figure), then all from one address (``--generator``; every
   request changes the same login-window row, so concurrent ones race for it: the flood case,
   429 when a change loses too often). Every request makes a session (a Table insert), an audit
   row and a count in the client's login window; the window's limit is raised for the run
   (``LOGIN_VERIFY_LIMIT_PER_CLIENT``).

    python bench/entra_validate.py [--tokens 2000] [--runs 5] [--connections 16] [--seconds 10]
                                   [--generator auto|wrk|python] [--skip-load]

Writes bench/results/entra_validate.json. Traffic goes to 127.0.0.1 only; the authority is
stopped and the development host is stopped by its pid at the end.
"""
from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import jwt  # noqa: E402
from entrafake import API_CLIENT_ID, EntraServer, SigningKey, unsigned  # noqa: E402
from loadtools import (  # noqa: E402
    RESULTS,
    DevHost,
    add_generator_argument,
    azurite_pids,
    install_stop_handlers,
    measure,
    pick_generator,
    run_python,
    stop_host,
)

from sendsecure.adapters.jwks import EntraKeys  # noqa: E402
from sendsecure.core.entratoken import TokenPolicy, TokenRefused  # noqa: E402
from sendsecure.core.logincodes import IssueWindow  # noqa: E402
from sendsecure.entra import EntraLogin, EntraPolicy  # noqa: E402

DEMO_TID = "00000000-0000-4000-8000-000000000001"   # demo-kliniek in tenants/demo.json
DEMO_MAILBOX = "eva@demo-kliniek.example"
OID = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"


def per_token_us(action, tokens: int, runs: int) -> dict:
    results = []
    for _ in range(runs):
        started = time.perf_counter()
        for _ in range(tokens):
            action()
        results.append((time.perf_counter() - started) / tokens * 1e6)
    return {"median_us": round(statistics.median(results), 1), "runs_us": [round(r, 1) for r in results]}


def refused(call) -> None:
    try:
        call()
    except TokenRefused:
        return
    raise AssertionError("expected a refusal")


def validation(server: EntraServer, key: SigningKey, tokens: int, runs: int) -> dict:
    keys = EntraKeys(server.base_url, ca_bundle=str(server.cert))
    service = EntraLogin(tables=None, tenants=None, sessions=None, keys=keys, graph=None,  # type: ignore[arg-type]
                         pseudonyms=None, audit_log=None,  # type: ignore[arg-type]
                         policy=EntraPolicy(TokenPolicy((API_CLIENT_ID,), "access_as_user", None, 60),
                                            IssueWindow(60, 900)))
    token = key.sign(server.fake.claims(DEMO_TID, OID, DEMO_MAILBOX))
    assert service.validate(token).object_id == OID          # warms the cache: one discovery, one JWKS fetch
    fetches = server.fake.jwks_requests
    public = key.private.public_key()
    forged_none = unsigned(server.fake.claims(DEMO_TID, OID, DEMO_MAILBOX), key.kid)
    unknown = SigningKey("bench-unknown").sign(server.fake.claims(DEMO_TID, OID, DEMO_MAILBOX))
    result = {
        "token_chars": len(token),
        "validate": per_token_us(lambda: service.validate(token), tokens, runs),
        "pyjwt_decode_only": per_token_us(
            lambda: jwt.decode(token, public, algorithms=["RS256"], audience=API_CLIENT_ID,
                               options={"verify_iss": False}), tokens, runs),
        "refuse_alg_none": per_token_us(lambda: refused(lambda: service.validate(forged_none)), tokens, runs),
        "refuse_unknown_kid": per_token_us(lambda: refused(lambda: service.validate(unknown)), tokens, runs),
    }
    result["jwks_fetches_during_runs"] = server.fake.jwks_requests - fetches
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--load-runs", type=int, default=3)
    parser.add_argument("--skip-load", action="store_true")
    add_generator_argument(parser)
    args = parser.parse_args(argv)
    install_stop_handlers()
    result: dict = {"benchmark": "entra_validate"}
    key = SigningKey("bench-key")
    with tempfile.TemporaryDirectory(prefix="bench-entra-") as tmp:
        server = EntraServer(Path(tmp))
        server.fake.reset([key])
        try:
            result["in_process"] = validation(server, key, args.tokens, args.runs)
            v = result["in_process"]
            print(f"validate (warm cache): {v['validate']['median_us']:.1f} µs/token; PyJWT decode alone "
                  f"{v['pyjwt_decode_only']['median_us']:.1f} µs; refuse alg none "
                  f"{v['refuse_alg_none']['median_us']:.1f} µs; refuse unknown kid "
                  f"{v['refuse_unknown_kid']['median_us']:.1f} µs; "
                  f"JWKS fetches during the runs: {v['jwks_fetches_during_runs']}")
            if not args.skip_load:
                result["load"] = load(server, key, args, parser, Path(tmp))
        finally:
            server.stop()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "entra_validate.json"
    out.write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    print(f"written: {out}")
    return 0


def load(server: EntraServer, key: SigningKey, args: argparse.Namespace, parser: argparse.ArgumentParser,
         tmp: Path) -> dict:
    generator_name, generator = pick_generator(parser, args.generator)
    token = key.sign(server.fake.claims(DEMO_TID, OID, DEMO_MAILBOX))   # valid for an hour
    azurite_before = azurite_pids()
    host = DevHost(tmp / "host", {**server.env(), "LOGIN_VERIFY_LIMIT_PER_CLIENT": "100000000"})
    (tmp / "host").mkdir()
    report: dict = {"generator": generator_name, "connections": args.connections, "seconds": args.seconds,
                    "runs": args.load_runs}
    try:
        host.start()
        body = json.dumps({"mailbox": DEMO_MAILBOX, "device_id": "bench"}).encode()
        runs_args = argparse.Namespace(runs=args.load_runs, seconds=args.seconds, connections=args.connections)
        url = f"{host.base}/api/v1/auth/entra"
        with distinct_clients():
            report["post_auth_entra"] = measure("POST /api/v1/auth/entra, 16 clients (127.0.0.2-17)", url, token,
                                                runs_args, run_python, method="POST", body=body,
                                                content_type="application/json", ok=(200, 200))
        report["one_address"] = measure("POST /api/v1/auth/entra, one address", url, token, runs_args, generator,
                                        method="POST", body=body, content_type="application/json", ok=(200, 200))
    except BaseException:
        print(f"devhost log (tail):\n{host.log_tail()}", file=sys.stderr)
        raise
    finally:
        report["shutdown"] = stop_host(host, azurite_before)
    report["jwks_fetches"] = server.fake.jwks_requests
    for name in ("post_auth_entra", "one_address"):
        r = report[name]
        print(f"{name} ({args.connections} connections): {r['median_rps']:.1f} req/s, p50 {r['median_p50_ms']:.2f} ms, "
              f"p99 {r['median_p99_ms']:.2f} ms, errors {r['total_errors']} / {r['total_requests']}")
    return report


@contextlib.contextmanager
def distinct_clients():
    """Each connection of the Python generator from its own loopback address (127.0.0.2, .3, ...):
    16 clients, each with its own login window, as 16 users behind 16 addresses. (The development
    host, like Azure's front end, takes the client from the TCP peer.)"""
    import loadtools

    original = loadtools.asyncio.open_connection
    counter = itertools.count()

    async def open_connection(host, port, **kwargs):
        return await original(host, port, local_addr=(f"127.0.0.{2 + next(counter) % 250}", 0), **kwargs)

    loadtools.asyncio.open_connection = open_connection
    try:
        yield
    finally:
        loadtools.asyncio.open_connection = original


if __name__ == "__main__":
    sys.exit(main())
