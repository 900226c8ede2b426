#!/usr/bin/env python3
"""Hostile clients on the wire: malformed and abusive HTTP straight to the socket (what libmicrohttpd and
CHTTP parse before any Swift code runs). Best run against the AddressSanitizer build of the server
(MIRRORGAN_BIN=.build-asan/debug/mirrorgan): any ASan report in its stderr fails the test.

Sends: random garbage, WIRE_MUTANTS (default 400) byte-level mutants of valid requests (generation JSON,
caption multipart, chunked), a 100 KiB header, Content-Length over the limit, a chunked body over the limit,
bad chunk sizes, a client that stalls in the headers (cut off by the connection timeout), clients that hang
up mid-body and mid-inference, pipelined requests. Afterwards the server must be alive, /healthz 200, a
generation 200, and its open descriptors back to the starting count.
"""
import os
import random
import socket
import sys
import time

from common import sanitizer_failures, CAPTIONS, Server, check_environment, generate, log, request, write_result

MUTANTS = int(os.environ.get("WIRE_MUTANTS", "400"))


def send(port, data, read=True, timeout=5.0, close_early=False):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        if close_early:
            return b""
        if not read:
            return b""
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server answered and closed first (e.g. 413 mid-body): its reply is still readable below
        chunks = []
        while True:
            try:
                c = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not c:
                break
            chunks.append(c)
        return b"".join(chunks)
    except (BrokenPipeError, ConnectionResetError):
        return b"<reset>"
    finally:
        s.close()


def status_of(reply):
    if reply.startswith(b"HTTP/1."):
        try:
            return int(reply.split(b" ", 2)[1])
        except (IndexError, ValueError):
            return "bad status line"
    return reply[:20].decode("latin-1") or "closed"


def main():
    check_environment()
    rng = random.Random(1234)
    tally, failures = {}, []

    def note(kind, reply):
        st = status_of(reply)
        tally.setdefault(kind, {}).setdefault(str(st), 0)
        tally[kind][str(st)] += 1
        if isinstance(st, int) and st >= 500 and st != 503:
            failures.append(f"{kind}: {st}: {reply[:300]!r}")

    env = {"MIRRORGAN_CONNECTION_TIMEOUT": "2", "MIRRORGAN_MAX_BODY_BYTES": "65536", "MIRRORGAN_PER_IP_LIMIT": "0"}
    with Server("wire", args=["--threads", "1"], env=env) as server:
        port = server.port
        gen_body = b'{"caption":"a small red bird","seed":3}'
        gen = (b"POST /v1/images/generations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n" % len(gen_body) + gen_body)
        mp_body = (b"--B\r\nContent-Disposition: form-data; name=\"image\"\r\nContent-Type: image/png\r\n\r\n"
                   b"\x89PNG\r\n\x1a\n0000\r\n--B--\r\n")
        cap = (b"POST /v1/captions HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\n"
               b"Content-Length: %d\r\n\r\n" % len(mp_body) + mp_body)
        chunked = (b"POST /v1/images/generations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n10\r\n" + gen_body[:16] + b"\r\n%x\r\n" % (len(gen_body) - 16)
                   + gen_body[16:] + b"\r\n0\r\n\r\n")
        note("valid generation", send(port, gen, timeout=60))
        note("valid chunked", send(port, chunked, timeout=60))
        # Baseline after the first requests: libdispatch creates a timerfd once, on first use.
        time.sleep(0.5)
        fds_before = server.fd_count()
        for _ in range(50):
            note("garbage", send(port, bytes(rng.randrange(256) for _ in range(rng.randrange(1, 2048)))))
        for i in range(MUTANTS):
            base = bytearray(rng.choice([gen, cap, chunked, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"]))
            for _ in range(rng.randrange(1, 6)):
                if not base:
                    break
                op, pos = rng.randrange(4), rng.randrange(len(base))
                if op == 0:
                    base[pos] = rng.randrange(256)
                elif op == 1:
                    del base[pos:pos + rng.randrange(1, 16)]
                elif op == 2:
                    base[pos:pos] = bytes(rng.choice([b"\r\n", b"\x00", b":", b" ", b"%", b"%zz", b"\xff" * 8, b"9" * 20]))
                else:
                    base = base[:pos]
            note("mutant", send(port, bytes(base), timeout=60))
        note("100 KiB header", send(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 102400 + b"\r\n\r\n"))
        note("many headers", send(port, b"GET /healthz HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(5000)) + b"\r\n"))
        note("huge Content-Length", send(port, b"POST /v1/images/generations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                          b"Content-Length: 99999999999\r\n\r\n{"))
        note("negative Content-Length", send(port, b"POST /v1/captions HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"))
        big = b"x" * 200000
        note("chunked over limit", send(port, b"POST /v1/captions HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                                         b"Transfer-Encoding: chunked\r\n\r\n%x\r\n" % len(big) + big + b"\r\n0\r\n\r\n", timeout=15))
        note("bad chunk size", send(port, b"POST /v1/captions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n"))
        note("chunk size overflow", send(port, b"POST /v1/captions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                          b"ffffffffffffffffff\r\nab\r\n0\r\n\r\n"))
        note("both CL and TE", send(port, b"POST /v1/images/generations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                     b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"))
        note("pipelined", send(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 20 + gen, timeout=60))
        note("percent junk path", send(port, b"GET /%00%ff%2e%2e/%%%/../healthz?a=%zz&&=&b HTTP/1.1\r\nHost: x\r\n\r\n"))
        note("HTTP/0.9 and 2.0", send(port, b"GET /healthz\r\n\r\n") + b"|" + send(port, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"))
        # Stalled client: headers never finish; the 2 s connection timeout must cut it.
        t0 = time.monotonic()
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        try:
            cut = s.recv(100)
        except (socket.timeout, ConnectionResetError):
            cut = b"<timeout>"
        s.close()
        stall_s = time.monotonic() - t0
        if stall_s > 10:
            failures.append(f"stalled client held for {stall_s:.1f}s (timeout 2 s)")
        # Hang-ups: mid-body, and while the inference runs.
        for _ in range(10):
            send(port, gen[: len(gen) - 10], close_early=True)
        for _ in range(5):
            send(port, gen, close_early=True)
        time.sleep(3)  # let the abandoned inferences finish
        alive = server.proc.poll() is None
        health = request(port, "GET", "/healthz", timeout=10)[0] if alive else None
        final = generate(port, CAPTIONS[0], seed=1, timeout=120)[0] if alive else None
        deadline = time.time() + 15
        while alive and server.fd_count() > fds_before and time.time() < deadline:
            time.sleep(0.5)
        fds_after = server.fd_count() if alive else None
    stderr = server.stderr_text()
    asan = [l for l in stderr.splitlines() if "Sanitizer" in l or "runtime error" in l]
    if not alive:
        failures.append(f"server died: {stderr[-2000:]}")
    if health != 200 or final != 200:
        failures.append(f"after the abuse: healthz {health}, generation {final}")
    if fds_after is not None and fds_after > fds_before:
        failures.append(f"descriptors {fds_before} before, {fds_after} after")
    if asan:
        failures.append(f"sanitizer reports: {asan[:5]}")
    result = {"mutants": MUTANTS, "answers": tally, "stalled_client_cut_after_s": round(stall_s, 2),
              "fds_before": fds_before, "fds_after": fds_after, "sanitizer_reports": len(asan), "failures": failures}
    failures += sanitizer_failures()
    write_result("wire", result)
    for k, v in tally.items():
        log(f"{k}: {v}")
    for f in failures:
        log("FAIL:", f)
    log("wire:", "FAIL" if failures else "ok")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
