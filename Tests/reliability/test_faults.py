#!/usr/bin/env python3
"""Faults: broken weights are refused, and the process survives (or recovers from) signals mid-request.

Weights (each on a copy of MIRRORGAN_WEIGHTS in a temporary directory):
  - a byte flipped in a weights file, MANIFEST left alone          → the sha256 check names the file;
  - a float's exponent bits flipped (→ Inf/NaN), MANIFEST rewritten → the tensor check names file and tensor;
  - a byte flipped in the JSON header, MANIFEST rewritten           → the header check names the file;
  - the file truncated, MANIFEST rewritten                          → names the file and a tensor past the end;
  - a tensor removed (file rewritten with safetensors), MANIFEST rewritten → names the file and the tensor;
  - a tensor of the wrong shape, MANIFEST rewritten                 → names the file and the tensor.
  For each: `mirrorgan serve` exits with status 2, its message names what is expected, and /readyz (polled
  every 20 ms from start to exit) never answers 200.
Signals:
  - SIGKILL while a generation runs → the client sees the connection drop; a new process on the same port
    serves again;
  - SIGTERM while a generation runs → that request completes with 200; requests sent during the drain get
    503 (or connection refused once the listener is closed); /readyz answers 503; exit status 0.

Needs numpy and safetensors (training/.venv).
"""
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import hashlib

import numpy as np
from safetensors.numpy import load_file, save_file

from common import sanitizer_failures, CAPTIONS, Server, WEIGHTS, check_environment, generate, log, metric, request, write_result

TARGET = "text_encoder.safetensors"


def rewrite_manifest(directory):
    lines = []
    with open(os.path.join(directory, "MANIFEST")) as f:
        for line in f:
            if not line.strip():
                continue
            _, name = line.split(None, 1)
            name = name.strip()
            with open(os.path.join(directory, name), "rb") as g:
                lines.append(f"{hashlib.sha256(g.read()).hexdigest()}  {name}\n")
    with open(os.path.join(directory, "MANIFEST"), "w") as f:
        f.writelines(lines)


def header_of(path):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        return n, json.loads(f.read(n))


def first_tensor(path):
    """(name, entry) of the F32 tensor whose data starts first, skipping __metadata__."""
    _, h = header_of(path)
    items = [(k, v) for k, v in h.items() if k != "__metadata__"]
    return min(items, key=lambda kv: kv[1]["data_offsets"][0])


def flip_data_byte(d):
    p = os.path.join(d, TARGET)
    n, _ = header_of(p)
    with open(p, "r+b") as f:
        f.seek(8 + n + 1001)
        b = f.read(1)
        f.seek(8 + n + 1001)
        f.write(bytes([b[0] ^ 0x10]))
    return {"file": TARGET, "tensor": None, "expect": ["sha256", "MANIFEST"]}


def flip_to_nonfinite(d):
    p = os.path.join(d, TARGET)
    n, h = header_of(p)
    name, entry = first_tensor(p)
    off = 8 + n + entry["data_offsets"][0] + 4 * 7  # the 8th float of the tensor
    with open(p, "r+b") as f:
        f.seek(off + 2)
        b2, b3 = f.read(2)
        f.seek(off + 2)
        f.write(bytes([b2 | 0x80, b3 | 0x7F]))  # exponent bits all ones: ±Inf or NaN
    rewrite_manifest(d)
    return {"file": TARGET, "tensor": name}


def flip_header_byte(d):
    p = os.path.join(d, TARGET)
    with open(p, "r+b") as f:
        data = bytearray(f.read())
    i = data.index(b'"dtype"', 8)
    data[i + 1] ^= 0x20  # "dtype" -> "Dtype": the entry has no dtype
    with open(p, "wb") as f:
        f.write(data)
    rewrite_manifest(d)
    _, h = header_of(p)
    name = next(k for k, v in h.items() if isinstance(v, dict) and "Dtype" in v)
    return {"file": TARGET, "tensor": name}


def truncate(d):
    p = os.path.join(d, TARGET)
    n, h = header_of(p)
    size = os.path.getsize(p)
    cut = 8 + n + (size - 8 - n) // 2
    with open(p, "r+b") as f:
        f.truncate(cut)
    rewrite_manifest(d)
    # Which tensors end past the cut: the reader names one of them.
    past = [k for k, v in h.items() if k != "__metadata__" and 8 + n + v["data_offsets"][1] > cut]
    return {"file": TARGET, "tensor": past}


def missing_tensor(d):
    p = os.path.join(d, TARGET)
    _, h = header_of(p)
    tensors = load_file(p)
    name = sorted(tensors)[-1]
    del tensors[name]
    save_file(tensors, p, metadata=h.get("__metadata__"))
    rewrite_manifest(d)
    return {"file": TARGET, "tensor": name}


def wrong_shape(d):
    p = os.path.join(d, TARGET)
    _, h = header_of(p)
    tensors = load_file(p)
    name = next(k for k in sorted(tensors) if tensors[k].ndim == 2)
    t = tensors[name]
    tensors[name] = np.ascontiguousarray(t.reshape(t.shape[1], t.shape[0]) if t.shape[0] != t.shape[1] else t[:-1])
    save_file(tensors, p, metadata=h.get("__metadata__"))
    rewrite_manifest(d)
    return {"file": TARGET, "tensor": name}


WEIGHT_FAULTS = [flip_data_byte, flip_to_nonfinite, flip_header_byte, truncate, missing_tensor, wrong_shape]


def weight_fault(fault, tmp):
    d = os.path.join(tmp, fault.__name__)
    shutil.copytree(WEIGHTS, d)
    expect = fault(d)
    server = Server(f"fault_{fault.__name__}", weights=d, wait_ready=False)
    ready_200, polls = 0, 0
    while server.proc.poll() is None and server.port:
        try:
            polls += 1
            if request(server.port, "GET", "/readyz", timeout=2)[0] == 200:
                ready_200 += 1
        except OSError:
            pass
        time.sleep(0.02)
    try:
        rc = server.proc.wait(60)
    except Exception:
        server.proc.kill()
        rc = "timeout"
    server.stop()
    text = server.stderr_text()
    message = next((l for l in text.splitlines() if "refusing to serve" in l), "")
    problems = []
    if rc != 2:
        problems.append(f"exit status {rc}, expected 2")
    if ready_200:
        problems.append(f"/readyz answered 200 {ready_200} times")
    if expect["file"] not in message:
        problems.append(f"message does not name {expect['file']}")
    tensors = expect["tensor"] if isinstance(expect["tensor"], list) else [expect["tensor"]] if expect["tensor"] else []
    if tensors and not any(f"'{t}'" in message for t in tensors):
        problems.append(f"message does not name the tensor ({', '.join(tensors[:3])})")
    for word in expect.get("expect", []):
        if word not in message:
            problems.append(f"message lacks {word!r}")
    return {"fault": fault.__name__, "exit_status": rc, "readyz_polls": polls, "readyz_200": ready_200,
            "message": message, "problems": problems}


def wait_in_flight(port, timeout=30):
    """Returns once a request other than this probe is inside the server (the in-flight gauge counts the
    /metrics request itself too)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = request(port, "GET", "/metrics")[2].decode()
        if metric(m, "mirrorgan_inflight_requests") >= 2:
            return
        time.sleep(0.02)


def sigkill_and_restart():
    problems = []
    s = Server("sigkill_1", args=["--threads", "1"])
    port = s.port
    outcome = {}

    def client():
        try:
            outcome["status"] = generate(port, CAPTIONS[0], seed=7, n=8, timeout=60)[0]
        except OSError as e:
            outcome["error"] = f"{e.__class__.__name__}"

    t = threading.Thread(target=client)
    t.start()
    # Kill as soon as the request is in the server: a fixed delay outlived the 8 images once inference got faster.
    wait_in_flight(port)
    s.signal(signal.SIGKILL)
    t.join(30)
    rc = s.proc.wait(10)
    s.stop()
    if "error" not in outcome:
        problems.append(f"the in-flight request did not see the connection drop: {outcome}")
    # Restart on the same port at once (the old socket may be in TIME_WAIT).
    t0 = time.monotonic()
    s2 = Server("sigkill_2", port=port, args=["--threads", "1"], wait_ready=False)
    if not s2.port:
        problems.append(f"restart on port {port} failed: {s2.stderr_text()[-500:]}")
        s2.stop()
        return {"test": "sigkill_restart", "problems": problems}
    s2.wait_ready()
    ready_s = time.monotonic() - t0
    status = generate(port, CAPTIONS[1], seed=8)[0]
    s2.stop()
    if status != 200:
        problems.append(f"after restart: {status}")
    return {"test": "sigkill_restart", "killed_exit": rc, "client_saw": outcome, "restart_ready_s": round(ready_s, 2),
            "status_after_restart": status, "problems": problems}


def sigterm_drain():
    problems = []
    s = Server("sigterm", args=["--threads", "1", "--queue-size", "4"])
    port = s.port
    outcome = {}

    def client():
        t0 = time.monotonic()
        try:
            outcome["status"] = generate(port, CAPTIONS[2], seed=9, n=8, timeout=120)[0]
        except OSError as e:
            outcome["error"] = f"{e.__class__.__name__}: {e}"
        outcome["seconds"] = round(time.monotonic() - t0, 2)

    t = threading.Thread(target=client)
    t.start()
    wait_in_flight(port)
    time.sleep(0.2)
    t_signal = time.monotonic()
    s.signal(signal.SIGTERM)
    # The drain starts on the signal's dispatch queue: requests that arrive before it are still served, so
    # wait for the server to say it is draining before probing (and report how long that took).
    while '"msg":"draining"' not in s.stderr_text() and time.monotonic() - t_signal < 10:
        time.sleep(0.005)
    drain_seen_s = time.monotonic() - t_signal
    during, readyz = {}, {}
    while s.proc.poll() is None:
        try:
            st = generate(port, CAPTIONS[3], seed=10, timeout=30)[0]
        except OSError:
            st = "refused"
        during[str(st)] = during.get(str(st), 0) + 1
        try:
            rz = request(port, "GET", "/readyz", timeout=5)[0]
        except OSError:
            rz = "refused"
        readyz[str(rz)] = readyz.get(str(rz), 0) + 1
        time.sleep(0.05)
    t.join(120)
    rc = s.proc.wait(30)
    s.stop()
    if outcome.get("status") != 200:
        problems.append(f"in-flight request: {outcome}")
    if set(during) - {"503", "refused"}:
        problems.append(f"requests during the drain got {during}")
    if "503" not in during:
        problems.append(f"no request was answered 503 during the drain: {during}")
    if set(readyz) - {"503", "refused"}:
        problems.append(f"/readyz during the drain: {readyz}")
    if rc != 0:
        problems.append(f"exit status {rc}")
    return {"test": "sigterm_drain", "drain_logged_after_s": round(drain_seen_s, 3), "inflight": outcome, "during_drain": during, "readyz_during_drain": readyz,
            "exit_status": rc, "problems": problems}


def main():
    check_environment()
    results = []
    only = sys.argv[1:]
    if only:  # e.g. test_faults.py sigterm_drain
        global WEIGHT_FAULTS
        WEIGHT_FAULTS = [f for f in WEIGHT_FAULTS if f.__name__ in only]
    with tempfile.TemporaryDirectory(prefix="mirrorgan-faults-") as tmp:
        for fault in WEIGHT_FAULTS:
            r = weight_fault(fault, tmp)
            log(f"{r['fault']}: exit {r['exit_status']}, readyz 200 x{r['readyz_200']} of {r['readyz_polls']}: {r['message']}",
                "" if not r["problems"] else f"PROBLEMS {r['problems']}")
            results.append(r)
    for test in (sigkill_and_restart, sigterm_drain):
        if only and test.__name__ not in only:
            continue
        r = test()
        log(r)
        results.append(r)
    san = sanitizer_failures()
    if san:
        results.append({"test": "sanitizers", "problems": san})
    failed = [r for r in results if r["problems"]]
    write_result("faults", {"results": results, "survived": len(results) - len(failed), "total": len(results)})
    log(f"faults: {len(results) - len(failed)}/{len(results)} ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
