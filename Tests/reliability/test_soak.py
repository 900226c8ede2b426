#!/usr/bin/env python3
"""Soak: SOAK_REQUESTS (default 1000) sequential generation requests against one server process.

Every 10th request is also a caption request for the PNG just generated (so PNG decode is exercised too).
RSS (VmRSS from /proc/<pid>/status) and the number of open descriptors (/proc/<pid>/fd) are recorded every
SOAK_SAMPLE (100) requests, starting once the server's own background warm-up has finished (/readyz "warm": the
R-precision bank's sentence features, ~22 MB, which on a loaded machine could still be growing when the baseline
was taken and read as +5 % drift). After the warm-up (the first sample), every later RSS sample must stay within
±SOAK_RSS_TOLERANCE (5 %) of the warm-up value, and the descriptor count must not grow (±SOAK_FD_SLACK, 2,
for a connection still closing). Every request must answer 200.
"""
import base64
import json
import os
import sys
import time

from common import sanitizer_failures, CAPTIONS, Server, check_environment, generate, log, request, write_result

N = int(os.environ.get("SOAK_REQUESTS", "1000"))
SAMPLE = int(os.environ.get("SOAK_SAMPLE", "100"))
TOLERANCE = float(os.environ.get("SOAK_RSS_TOLERANCE", "0.05"))
FD_SLACK = int(os.environ.get("SOAK_FD_SLACK", "2"))


def main():
    check_environment()
    samples, failures, statuses = [], [], {}
    t_start = time.monotonic()
    with Server("soak", args=["--threads", "1"], env={"MIRRORGAN_LOG_REQUESTS": "0"}) as server:
        log(f"server warm after {server.wait_warm():.1f}s more")
        samples.append({"requests": 0, "rss_mib": round(server.rss_bytes() / 2**20, 1), "fds": server.fd_count()})
        log("start:", samples[-1])
        for i in range(1, N + 1):
            caption = CAPTIONS[i % len(CAPTIONS)]
            status, _, body = generate(server.port, caption, seed=i, n=1 + (i % 2), return_attention=(i % 3 == 0))
            statuses[status] = statuses.get(status, 0) + 1
            if status != 200:
                failures.append(f"request {i}: {status} {body[:200]!r}")
            elif i % 10 == 0:
                png = base64.b64decode(json.loads(body)["data"][0]["b64_json"])
                c_status, _, c_body = request(server.port, "POST", "/v1/captions", png, {"Content-Type": "image/png"})
                statuses[f"caption {c_status}"] = statuses.get(f"caption {c_status}", 0) + 1
                if c_status != 200:
                    failures.append(f"caption {i}: {c_status} {c_body[:200]!r}")
            if i % SAMPLE == 0:
                samples.append({"requests": i, "rss_mib": round(server.rss_bytes() / 2**20, 1), "fds": server.fd_count(),
                                "elapsed_s": round(time.monotonic() - t_start, 1)})
                log(samples[-1])
        alive = server.proc.poll() is None
    if len(samples) < 3:
        failures.append(f"too few samples ({len(samples)}) for a verdict: raise SOAK_REQUESTS or lower SOAK_SAMPLE")
    else:
        base = samples[1]  # after the warm-up
        for s in samples[2:]:
            drift = s["rss_mib"] / base["rss_mib"] - 1
            s["rss_drift_pct"] = round(100 * drift, 2)
            if abs(drift) > TOLERANCE:
                failures.append(f"RSS {s['rss_mib']} MiB at {s['requests']} requests is {100 * drift:+.1f}% from {base['rss_mib']} MiB")
            if s["fds"] > base["fds"] + FD_SLACK:
                failures.append(f"{s['fds']} open descriptors at {s['requests']} requests, {base['fds']} after warm-up")
    if not alive:
        failures.append("server died")
    rss = [s["rss_mib"] for s in samples[1:]]
    result = {"requests": N, "statuses": {str(k): v for k, v in statuses.items()}, "samples": samples,
              "rss_warmup_mib": samples[1]["rss_mib"] if len(samples) > 1 else None,
              "rss_min_mib": min(rss, default=None), "rss_max_mib": max(rss, default=None),
              "seconds": round(time.monotonic() - t_start, 1), "failures": failures}
    failures += sanitizer_failures()
    write_result("soak", result)
    for f in failures:
        log("FAIL:", f)
    log("soak:", "FAIL" if failures else "ok")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
