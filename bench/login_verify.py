"""Cost of verifying a login code (SPEC A1; issue 8 items 4 and 5), real and decoy challenges.

Starts its own Azurite (by pid, stopped at the end), onboards the test tenants into fresh tables,
and times ``EmailCodeLogin.verify`` with a wrong code against challenges of an onboarded mailbox
(real) and of an unknown domain (decoy), each from its own client address so no lockout or rate
limit interferes: wall time (mostly Azurite round trips) and this process's CPU time. Also times
the code hash alone. Reports medians and p95 in ms. Runs against the code before issue 8 item 5
too (scrypt, no client argument), which is how the figures in docs/login.md were compared.

    python bench/login_verify.py [--rounds 40]

Writes bench/results/login_verify.json.
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = Path(__file__).resolve().parent / "results"


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"median_ms": round(statistics.median(ordered) * 1000, 3),
            "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 3), "n": len(ordered)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args(argv)
    from devhost.azurite import Azurite

    with Azurite() as azurite, tempfile.TemporaryDirectory() as folder:
        os.environ.update({"TABLES_CONNECTION_STRING": azurite.connection_string, "TABLE_PREFIX": "bench",
                           "MAIL_TRANSPORT": "outbox", "MAIL_OUTBOX_DIR": f"{folder}/outbox",
                           "LOCAL_KEY_DIR": f"{folder}/keys", "LOGIN_VERIFY_LIMIT_PER_CLIENT": "100000"})
        from sendsecure import runtime
        from sendsecure.core import logincodes
        from sendsecure.core.tenants import load_tenant_files
        from sendsecure.errors import InvalidCode
        from sendsecure.provision import provision

        runtime.reset()
        tenants = load_tenant_files([ROOT / "tests" / "data" / "tenants.json"])
        provision([t.id for t in tenants])  # keys and tables, as onboarding does (requests make none)
        runtime.tenant_directory().save(tenants)
        login = runtime.email_login()
        takes_client = "client" in inspect.signature(login.verify).parameters

        results: dict[str, object] = {}
        if hasattr(logincodes, "code_mac"):
            key = runtime.derived_keys().key("login-code")
            timings = []
            for _ in range(args.rounds * 10):
                start = time.perf_counter()
                logincodes.code_mac(key, "x" * 32, "123456")
                timings.append(time.perf_counter() - start)
            results["code_hash"] = {"kind": "hmac-sha256", **_stats(timings)}
        else:
            salt = logincodes.new_salt()
            timings = []
            for _ in range(args.rounds):
                start = time.perf_counter()
                logincodes.hash_code("123456", "x" * 32, salt)
                timings.append(time.perf_counter() - start)
            results["code_hash"] = {"kind": "scrypt", **_stats(timings)}

        # Interleaved, after a warm-up, so neither kind profits from warm connections or caches.
        kinds = (("verify_real", "ziekenhuis-a.example"), ("verify_decoy", "not-onboarded.example"))
        timings: dict[str, list[float]] = {label: [] for label, _ in kinds}
        cpu: dict[str, list[float]] = {label: [] for label, _ in kinds}
        for n in range(args.rounds + 5):
            for index, (label, domain) in enumerate(kinds):
                client = f"198.{51 + index}.{n // 250}.{n % 250}"
                challenge = login.request_code(f"user{n}@{domain}", client=client, language="nl")["challenge_id"]
                kwargs = {"device_id": "bench", **({"client": client} if takes_client else {})}
                start, start_cpu = time.perf_counter(), time.process_time()
                try:
                    login.verify(challenge, "000000", **kwargs)
                except InvalidCode:
                    pass
                if n >= 5:
                    timings[label].append(time.perf_counter() - start)
                    cpu[label].append(time.process_time() - start_cpu)
        for label, _ in kinds:
            results[label] = {**_stats(timings[label]), "cpu_median_ms": round(statistics.median(cpu[label]) * 1000, 3)}
        runtime.reset()
    print(json.dumps(results, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "login_verify.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
