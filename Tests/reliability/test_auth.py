#!/usr/bin/env python3
"""Auth: with --api-key-file, every route except /healthz, /readyz, /metrics, / and /openapi.yaml (and OPTIONS
preflights) needs `Authorization: Bearer <key>`; anything else is 401 with `WWW-Authenticate: Bearer`.
Every 401 is counted in mirrorgan_rejected_total{reason="auth"}, and neither the keys nor the wrong
tokens clients sent appear anywhere in the server's stderr (request log and lifecycle events).
"""
import base64
import os
import sys
import tempfile

from common import sanitizer_failures, CAPTIONS, Server, check_environment, log, metric, request, write_result

KEY1 = "mg-test-key-7f3a9c1e5b2d4068a1c3e5f7b9d1f3a5"
KEY2 = "second.key_with-punct~ok"
WRONG = ["mg-test-key-7f3a9c1e5b2d4068a1c3e5f7b9d1f3a", KEY1 + "0", "mg-wrong-key-0000000000000000", KEY2.upper()]


def main():
    check_environment()
    failures, checks = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        key_file = os.path.join(tmp, "keys")
        with open(key_file, "w") as f:
            f.write(f"# API keys\n\n  {KEY1}  \r\n{KEY2}\n# {WRONG[2]}\n")
        with Server("auth", args=["--api-key-file", key_file, "--threads", "1"]) as server:
            port = server.port

            def expect(status, method, path, headers=None, body=None, label=""):
                nonlocal checks
                checks += 1
                got, h, data = request(port, method, path, body, headers)
                ok = got == status if isinstance(status, int) else got in status
                if not ok:
                    failures.append(f"{label or method + ' ' + path} {headers}: {got}, expected {status}: {data[:200]!r}")
                if got == 401 and h.get("www-authenticate", "").split()[0:1] != ["Bearer"]:
                    failures.append(f"{method} {path}: 401 without WWW-Authenticate: Bearer")
                return got

            gen = {"caption": CAPTIONS[0], "seed": 1}
            png = b"\x89PNG\r\n\x1a\nnot really"
            # Open routes, no key.
            for path in ["/healthz", "/readyz", "/metrics", "/", "/openapi.yaml"]:
                expect(200, "GET", path)
            expect(204, "OPTIONS", "/v1/images/generations")
            expect(404, "GET", "/no/such/route")
            # Protected routes: every way of not presenting a valid key.
            bad_auth = [None, {"Authorization": ""}, {"Authorization": "Bearer"}, {"Authorization": "Bearer "},
                        {"Authorization": f"Basic {base64.b64encode(f'user:{KEY1}'.encode()).decode()}"},
                        {"Authorization": f"Token {KEY1}"}, {"Authorization": KEY1},
                        {"Authorization": f"Bearer {KEY1} {KEY1}"}, {"Authorization": "Bearer # API keys"},
                        {"X-API-Key": KEY1}] + [{"Authorization": f"Bearer {w}"} for w in WRONG]
            rejected = 0
            for headers in bad_auth:
                expect(401, "GET", "/v1/models", headers); rejected += 1
                expect(401, "HEAD", "/v1/models", headers); rejected += 1
                expect(401, "POST", "/v1/images/generations", headers, gen); rejected += 1
                expect(401, "POST", "/v1/captions", {**(headers or {}), "Content-Type": "image/png"}, png); rejected += 1
            expect(401, "GET", f"/v1/models?api_key={KEY1}"); rejected += 1
            # Valid keys (scheme case-insensitive, surrounding blanks ignored).
            for auth in [f"Bearer {KEY1}", f"Bearer {KEY2}", f"bearer {KEY1}", f"Bearer   {KEY2}  "]:
                expect(200, "GET", "/v1/models", {"Authorization": auth})
            expect(200, "POST", "/v1/images/generations", {"Authorization": f"Bearer {KEY1}"}, gen)
            expect(400, "POST", "/v1/captions", {"Authorization": f"Bearer {KEY2}", "Content-Type": "image/png"}, png)
            metrics = request(port, "GET", "/metrics")[2].decode()
            counted = metric(metrics, "mirrorgan_rejected_total", 'reason="auth"')
            if counted != rejected:
                failures.append(f"mirrorgan_rejected_total{{reason=\"auth\"}} is {counted}, clients got {rejected} 401s")
        stderr = server.stderr_text()
    leaked = [k for k in [KEY1, KEY2] + WRONG if k in stderr]
    leaked += ["base64 Basic credentials"] if base64.b64encode(f"user:{KEY1}".encode()).decode() in stderr else []
    if leaked:
        failures.append(f"keys or tokens in the server log: {leaked}")
    log_lines = stderr.count('"msg":"request"')
    result = {"checks": checks, "rejected_401": rejected, "metric_rejected_auth": counted,
              "log_lines_scanned": len(stderr.splitlines()), "request_log_lines": log_lines,
              "keys_in_log": leaked, "failures": failures}
    failures += sanitizer_failures()
    write_result("auth", result)
    for f in failures:
        log("FAIL:", f)
    log(f"auth: {checks} checks, {rejected} rejections counted {counted}, {len(stderr.splitlines())} log lines scanned:",
        "FAIL" if failures else "ok")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
