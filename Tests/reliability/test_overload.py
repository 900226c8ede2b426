#!/usr/bin/env python3
"""Overload: far more concurrent generation clients than workers + queue, for OVERLOAD_SECONDS (default 60).

Passes when every answer is 200 or 503 (no 5xx other than 503, no resets, no timeouts), there are both 200s
and 503s, every 503 carries Retry-After, /healthz answers 200 throughout (polled every 250 ms on its own
connections) and afterwards, and the server's counters agree with what the clients saw.
Reports throughput and the p50/p99 latency of the 200s.

Environment: OVERLOAD_SECONDS (60), OVERLOAD_CLIENTS (48), OVERLOAD_QUEUE (4), MIRRORGAN_BIN, MIRRORGAN_WEIGHTS.
"""
import collections
import os
import sys
import threading
import time

from common import sanitizer_failures, CAPTIONS, Poller, Server, check_environment, log, metric, percentile, request, write_result, generate

SECONDS = float(os.environ.get("OVERLOAD_SECONDS", "60"))
CLIENTS = int(os.environ.get("OVERLOAD_CLIENTS", "48"))
QUEUE = int(os.environ.get("OVERLOAD_QUEUE", "4"))


def main():
    check_environment()
    # Per-IP limit off: every client is 127.0.0.1, and the point is the queue, not MHD's connection cap.
    env = {"MIRRORGAN_PER_IP_LIMIT": "0", "MIRRORGAN_LOG_REQUESTS": "0"}
    with Server("overload", args=["--queue-size", str(QUEUE), "--threads", "1"], env=env) as server:
        port = server.port
        statuses = collections.Counter()
        latencies_ok, errors, missing_retry_after = [], [], 0
        lock = threading.Lock()
        stop_at = time.monotonic() + SECONDS

        def client(i):
            nonlocal missing_retry_after
            n = 0
            while time.monotonic() < stop_at:
                t0 = time.monotonic()
                try:
                    status, headers, _ = generate(port, CAPTIONS[(i + n) % len(CAPTIONS)], seed=i * 100000 + n, timeout=120)
                except OSError as e:
                    with lock:
                        errors.append(f"{e.__class__.__name__}: {e}")
                    time.sleep(0.05)
                    continue
                dt = time.monotonic() - t0
                with lock:
                    statuses[status] += 1
                    if status == 200:
                        latencies_ok.append(dt)
                    elif status == 503 and "retry-after" not in headers:
                        missing_retry_after += 1
                n += 1

        health = Poller(port, "/healthz", interval=0.25)
        health.start()
        threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(CLIENTS)]
        t_start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - t_start
        health.stop()
        after = request(port, "GET", "/healthz", timeout=10)[0]
        ready_after = request(port, "GET", "/readyz", timeout=10)[0]
        metrics = request(port, "GET", "/metrics", timeout=10)[2].decode()
        alive = server.proc.poll() is None

    bad_health = [s for s in health.samples if s[1] != 200]
    health_lat = [s[2] for s in health.samples if s[1] == 200]
    ok = statuses.get(200, 0)
    rejected = statuses.get(503, 0)
    server_queue_full = metric(metrics, "mirrorgan_rejected_total", 'reason="queue_full"')
    server_200 = metric(metrics, "mirrorgan_http_requests_total", 'route="/v1/images/generations",code="200"')
    result = {
        "seconds": round(elapsed, 1), "clients": CLIENTS, "queue_size": QUEUE, "workers": 1,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "connection_errors": len(errors), "connection_error_examples": errors[:5],
        "requests_per_second": round(sum(statuses.values()) / elapsed, 1),
        "generations_per_second": round(ok / elapsed, 2),
        "latency_200_p50_s": round(percentile(latencies_ok, 50) or 0, 3),
        "latency_200_p99_s": round(percentile(latencies_ok, 99) or 0, 3),
        "latency_200_max_s": round(max(latencies_ok, default=0), 3),
        "healthz_polls": len(health.samples), "healthz_failures": len(bad_health),
        "healthz_p99_s": round(percentile(health_lat, 99) or 0, 4),
        "healthz_after": after, "readyz_after": ready_after,
        "missing_retry_after": missing_retry_after,
        "server_rejected_queue_full": server_queue_full, "server_generations_200": server_200,
    }
    log(result)
    write_result("overload", result)
    failures = []
    if set(statuses) - {200, 503}:
        failures.append(f"answers other than 200/503: {dict(statuses)}")
    if errors:
        failures.append(f"{len(errors)} connection errors, e.g. {errors[:3]}")
    if ok == 0 or rejected == 0:
        failures.append(f"expected both 200s and 503s: {dict(statuses)}")
    if missing_retry_after:
        failures.append(f"{missing_retry_after} 503s without Retry-After")
    if bad_health:
        failures.append(f"/healthz failed {len(bad_health)} times: {bad_health[:3]}")
    if after != 200 or ready_after != 200 or not alive:
        failures.append(f"after the run: healthz {after}, readyz {ready_after}, alive {alive}")
    if server_queue_full != rejected or server_200 != ok:
        failures.append(f"server counters disagree: queue_full {server_queue_full} vs {rejected}, 200s {server_200} vs {ok}")
    failures += sanitizer_failures()
    for f in failures:
        log("FAIL:", f)
    log("overload:", "FAIL" if failures else "ok")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
