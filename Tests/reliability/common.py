"""Shared helpers for the reliability tests: start the real `mirrorgan serve` binary on an ephemeral
loopback port, talk HTTP to it with the standard library only, read /proc for RSS and descriptors.

Environment:
    MIRRORGAN_BIN      the binary (default .build/release/mirrorgan)
    MIRRORGAN_WEIGHTS  a complete model directory (default Weights/synthbirds)
    RELIABILITY_OUT    where results (JSON) and server logs go (default .build-reliability)
"""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.abspath(os.path.join(ROOT, os.environ.get("MIRRORGAN_BIN", ".build/release/mirrorgan")))
WEIGHTS = os.path.abspath(os.path.join(ROOT, os.environ.get("MIRRORGAN_WEIGHTS", "Weights/synthbirds")))
OUT = os.path.abspath(os.path.join(ROOT, os.environ.get("RELIABILITY_OUT", ".build-reliability")))
os.makedirs(OUT, exist_ok=True)

CAPTIONS = [
    "this bird has a black crown and yellow wings",
    "a small red bird with a short beak",
    "a blue bird with white belly and long tail",
    "this small bird is yellow with black wings",
]


def log(*args):
    print(*args, flush=True)


def check_environment():
    if not os.path.exists(BIN):
        sys.exit(f"missing server binary {BIN} (swift build -c release, or set MIRRORGAN_BIN)")
    if not os.path.exists(os.path.join(WEIGHTS, "MANIFEST")):
        sys.exit(f"{WEIGHTS} is not a complete model directory (no MANIFEST); set MIRRORGAN_WEIGHTS")


def write_result(name, result):
    path = os.path.join(OUT, f"{name}.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=2, sort_keys=True)
    log(f"results: {path}")


SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:", "WARNING: ThreadSanitizer")
_sanitizer_reports = []


def sanitizer_failures():
    """Sanitizer reports found in the stderr of every server stopped so far (ASan builds of the binary)."""
    return [f"sanitizer report in {name}: {line}" for name, line in _sanitizer_reports]


class Server:
    """A `mirrorgan serve` process on 127.0.0.1 (port 0 unless given); stderr goes to a log file."""

    def __init__(self, name, weights=None, port=0, args=(), env=None, wait_ready=True, ready_timeout=180):
        self.name = name
        self.log_path = os.path.join(OUT, f"{name}.stderr.log")
        self.stderr = open(self.log_path, "wb")
        full_env = dict(os.environ)
        full_env.update(env or {})
        cmd = [BIN, "serve", "--host", "127.0.0.1", "--port", str(port), "--weights", weights or WEIGHTS, *args]
        # The server runs at the same niceness as this script (make runs everything under nice).
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.stderr, env=full_env)
        self.pid = self.proc.pid
        self.port = self._wait_listening()
        if wait_ready and self.port:
            self.wait_ready(ready_timeout)

    def _wait_listening(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for line in self.stderr_text().splitlines():
                if '"msg":"listening"' in line:
                    return json.loads(line)["port"]
            if self.proc.poll() is not None:
                return None
            time.sleep(0.05)
        raise RuntimeError(f"{self.name}: no 'listening' line after {timeout}s:\n{self.stderr_text()}")

    def stderr_text(self):
        if not self.stderr.closed:
            self.stderr.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_ready(self, timeout=180):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name}: exited with {self.proc.returncode}:\n{self.stderr_text()}")
            try:
                if request(self.port, "GET", "/readyz", timeout=5)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name}: not ready after {timeout}s")

    def wait_warm(self, timeout=300):
        """Waits until /readyz reports "warm": the model's background warm-up (the R-precision caption bank, ~22 MB
        of sentence features) has finished, so memory is in its steady state. Returns the seconds waited."""
        start = time.time()
        while time.time() - start < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name}: exited with {self.proc.returncode}:\n{self.stderr_text()}")
            try:
                status, _, body = request(self.port, "GET", "/readyz", timeout=5)
                if status == 200 and json.loads(body).get("warm") is True:
                    return time.time() - start
            except (OSError, ValueError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name}: not warm after {timeout}s")

    def rss_bytes(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def fd_count(self):
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=60):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self.stderr.closed:
            self.stderr.close()
            for line in self.stderr_text().splitlines():
                if any(m in line for m in SANITIZER_MARKERS):
                    _sanitizer_reports.append((self.name, line.strip()))
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def request(port, method, path, body=None, headers=None, timeout=300):
    """One request on a fresh connection: (status, headers dict (lower-case names), body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        h = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        conn.close()


def generate(port, caption, seed, headers=None, timeout=300, **extra):
    body = {"caption": caption, "seed": seed, **extra}
    return request(port, "POST", "/v1/images/generations", body, headers, timeout)


def metric(text, name, labels=None):
    """A sample's value from Prometheus text (labels: exact label text, e.g. 'reason="auth"')."""
    pattern = re.escape(name) + (r"\{" + re.escape(labels) + r"\}" if labels else "") + r" ([0-9.eE+-]+)\n"
    m = re.search(pattern, text)
    return float(m.group(1)) if m else None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values, p):
    if not values:
        return None
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(p / 100 * (len(s) - 1)))))
    return s[k]


class Poller(threading.Thread):
    """Polls GET path every `interval` seconds until stopped; records (time, status or error, seconds)."""

    def __init__(self, port, path="/healthz", interval=0.25, timeout=5):
        super().__init__(daemon=True)
        self.port, self.path, self.interval, self.timeout = port, path, interval, timeout
        self.samples = []
        self._halt = threading.Event()

    def run(self):
        while not self._halt.is_set():
            t0 = time.monotonic()
            try:
                status = request(self.port, "GET", self.path, timeout=self.timeout)[0]
            except OSError as e:
                status = f"error: {e.__class__.__name__}: {e}"
            self.samples.append((time.time(), status, time.monotonic() - t0))
            self._halt.wait(self.interval)

    def stop(self):
        self._halt.set()
        self.join()
