"""Integration tests of the real `mirrorgan serve` binary with real weights on an ephemeral loopback port.

Covers every endpoint and error the API documents, hostile clients (slow, disconnecting), a burst past the
queue, determinism, and schemathesis against openapi.yaml. After each hostile case the server must still
answer /healthz.

Environment: MIRRORGAN_BIN (default .build/release/mirrorgan), MIRRORGAN_WEIGHTS (default Weights/synthbirds).
Run: make test-integration
"""
import base64
import concurrent.futures as cf
import http.client
import json
import os
import signal
import socket
import struct
import subprocess
import time
import zlib

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("MIRRORGAN_BIN") or os.path.join(ROOT, ".build", "release", "mirrorgan")
WEIGHTS = os.environ.get("MIRRORGAN_WEIGHTS") or os.path.join(ROOT, "Weights", "synthbirds")
MAX_BODY = 1 << 20
QUEUE = 8


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`mirrorgan serve` on an ephemeral loopback port, ready once /readyz answers 200 (also used by
    test_openai_client.py and test_converted_model.py)."""

    def __init__(self, *extra, weights=WEIGHTS, ready_seconds=120):
        self.port = free_port()
        self.log = open(os.path.join(os.environ.get("TMPDIR", "/tmp"), f"mirrorgan-it-{self.port}.log"), "w+")
        self.proc = subprocess.Popen([BIN, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--weights",
                                      str(weights), "--threads", "2", "--queue-size", str(QUEUE), "--max-body-bytes",
                                      str(MAX_BODY), *extra], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + ready_seconds
        while time.time() < deadline:
            try:
                if self.request("GET", "/readyz")[0] == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError("server exited: " + self.logs())
            time.sleep(0.3)
        raise RuntimeError(f"server not ready in {ready_seconds} s: " + self.logs())

    def logs(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-4000:]

    def request(self, method, path, body=None, headers=None, timeout=120):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            c.close()

    def post_json(self, path, obj, headers=None):
        h = {"Content-Type": "application/json", **(headers or {})}
        return self.request("POST", path, json.dumps(obj).encode(), h)

    def healthy(self):
        return self.request("GET", "/healthz", timeout=10)[0] == 200

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        finally:
            self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        assert self.stop() == 0


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    assert s.stop() == 0


def png_size(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = struct.unpack(">II", data[16:24])
    return w, h


def chunk(kind, payload):
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def huge_header_png():
    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def error_of(body):
    e = json.loads(body)["error"]
    assert set(e) >= {"code", "message", "type", "request_id"}
    return e


CAPTION = "this bird has a red crown and a white belly"


def test_probes_models_metrics_spec(server):
    assert server.request("GET", "/healthz")[0] == 200
    assert server.request("GET", "/readyz")[0] == 200
    status, _, body = server.request("GET", "/v1/models")
    name = json.load(open(os.path.join(WEIGHTS, "model.json")))["name"]
    assert status == 200 and json.loads(body)["data"][0]["id"] == name
    status, _, body = server.request("GET", "/metrics")
    assert status == 200 and b"mirrorgan_http_requests_total" in body and b"process_resident_memory_bytes" in body
    status, headers, body = server.request("GET", "/openapi.yaml")
    assert status == 200 and body.startswith(b"openapi: 3.1")
    assert server.request("GET", "/")[0] == 200


def test_percent_escapes_in_the_path(server):
    # Escapes decode as usual; "%00" is never decoded (a NUL used to cut the path: "/healthz%00x" → /healthz).
    assert server.request("GET", "/heal%74hz")[0] == 200
    for path in ("/healthz%00", "/healthz%00x", "/v1/models%00/../healthz"):
        status, _, body = server.request("GET", path)
        assert status == 404, path
        assert error_of(body)["code"] == "not_found"


def test_generation_json_is_complete_and_deterministic(server):
    status, headers, body = server.post_json("/v1/images/generations", {"caption": CAPTION, "seed": 42, "n": 2})
    assert status == 200, body
    r = json.loads(body)
    assert [d["seed"] for d in r["data"]] == [42, 43]
    for d in r["data"]:
        assert png_size(base64.b64decode(d["b64_json"])) == (256, 256)
        assert d["redescription"]
        rp = d["r_precision"]
        assert 1 <= rp["rank"] <= 100 and rp["candidates"] == 100 and rp["hit"] == (rp["rank"] == 1)
    assert "X-Request-ID" in headers or "x-request-id" in {k.lower() for k in headers}
    again = json.loads(server.post_json("/v1/images/generations", {"caption": CAPTION, "seed": 42})[2])
    assert again["data"][0]["b64_json"] == r["data"][0]["b64_json"]


def test_generation_png_response(server):
    status, headers, body = server.post_json("/v1/images/generations", {"caption": CAPTION, "seed": 7},
                                             {"Accept": "image/png"})
    assert status == 200 and png_size(body) == (256, 256)
    h = {k.lower(): v for k, v in headers.items()}
    assert h["x-seed"] == "7" and h["x-redescription"] and 1 <= int(h["x-r-precision-rank"]) <= 100


def test_attention_maps(server):
    status, _, body = server.post_json("/v1/images/generations", {"caption": CAPTION, "seed": 1, "return_attention": True})
    assert status == 200
    att = json.loads(body)["data"][0]["attention"]
    assert att and all(png_size(base64.b64decode(a["b64_png"])) == (128, 128) for a in att)


@pytest.mark.parametrize("body,status,code", [
    (b"{not json", 400, None),
    (json.dumps({"caption": 5}).encode(), 400, None),
    (json.dumps({"seed": 3}).encode(), 400, None),
    (json.dumps({"caption": CAPTION, "n": 0}).encode(), 400, None),
    (json.dumps({"caption": CAPTION, "n": 9}).encode(), 400, None),
    (json.dumps({"caption": ""}).encode(), 422, None),
    (json.dumps({"caption": "zzzz qqqq xyzzy"}).encode(), 422, "no_known_words"),
    (json.dumps({"caption": "a bird \u0007 with wings"}).encode(), 422, "control_character"),
    (json.dumps({"caption": "bird " * 2000}).encode(), 422, "caption_too_long"),
])
def test_generation_errors(server, body, status, code):
    s, _, b = server.request("POST", "/v1/images/generations", body, {"Content-Type": "application/json"})
    assert s == status, b
    e = error_of(b)
    if code:
        assert e["code"] == code
    assert server.healthy()


def test_wrong_content_type_and_body_limit(server):
    s, _, b = server.request("POST", "/v1/images/generations", b"caption", {"Content-Type": "text/plain"})
    assert s == 415 and error_of(b)
    # The 413 comes on the first callback, before the body: send only the headers, then read the answer
    # (a client that keeps writing the body would see the connection closed under it).
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as c:
        c.sendall(b"POST /v1/captions HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: "
                  + str(MAX_BODY + 10).encode() + b"\r\n\r\n")
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk_ = c.recv(4096)
            if not chunk_:
                break
            answer += chunk_
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert server.healthy()


def test_captions_all_three_encodings(server):
    png = base64.b64decode(json.loads(server.post_json("/v1/images/generations", {"caption": CAPTION, "seed": 3})[2])["data"][0]["b64_json"])
    s, _, b = server.request("POST", "/v1/captions", png, {"Content-Type": "image/png"})
    assert s == 200, b
    raw = json.loads(b)
    assert raw["caption"] and len(raw["log_probs"]) == len(raw["tokens"])
    boundary = "xXx"
    mp = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n"
          f"Content-Type: image/png\r\n\r\n").encode() + png + f"\r\n--{boundary}--\r\n".encode()
    s, _, b = server.request("POST", "/v1/captions", mp, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert s == 200 and json.loads(b)["caption"] == raw["caption"]
    s, _, b = server.post_json("/v1/captions", {"image": base64.b64encode(png).decode(), "beam_size": 3})
    assert s == 200 and json.loads(b)["caption"]


def test_corrupt_and_huge_pngs(server):
    s, _, b = server.request("POST", "/v1/captions", b"\x89PNG\r\n\x1a\n" + b"garbage" * 10, {"Content-Type": "image/png"})
    assert s == 400 and error_of(b)
    s, _, b = server.request("POST", "/v1/captions", huge_header_png(), {"Content-Type": "image/png"})
    assert s == 413 and error_of(b)
    assert server.healthy()


def test_slow_and_disconnecting_clients(server):
    slow = socket.create_connection(("127.0.0.1", server.port))
    slow.sendall(b"POST /v1/images/generations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"cap")
    gone = socket.create_connection(("127.0.0.1", server.port))
    gone.sendall(b"POST /v1/images/generations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 60\r\n\r\n")
    gone.sendall(json.dumps({"caption": CAPTION, "seed": 5}).encode()[:40])
    gone.close()
    # A complete request whose client leaves before the answer.
    leaver = socket.create_connection(("127.0.0.1", server.port))
    body = json.dumps({"caption": CAPTION, "seed": 6}).encode()
    leaver.sendall(b"POST /v1/images/generations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
                   + str(len(body)).encode() + b"\r\n\r\n" + body)
    leaver.close()
    assert server.healthy()
    slow.close()
    time.sleep(0.5)
    assert server.healthy()
    assert server.post_json("/v1/images/generations", {"caption": CAPTION, "seed": 8})[0] == 200


def test_burst_past_the_queue_gets_only_200_and_503(server):
    def one(i):
        return server.post_json("/v1/images/generations", {"caption": CAPTION, "seed": 1000 + i})

    with cf.ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(one, range(50)))
    statuses = [s for s, _, _ in results]
    assert set(statuses) <= {200, 503}, statuses
    assert statuses.count(503) > 0 and statuses.count(200) >= 1
    for s, h, b in results:
        if s == 200:
            d = json.loads(b)["data"][0]
            assert png_size(base64.b64decode(d["b64_json"])) == (256, 256)
        else:
            assert error_of(b)["code"] and any(k.lower() == "retry-after" for k in h)
    assert server.healthy()


def test_schemathesis_against_the_live_server(server):
    """Property-based requests generated from openapi.yaml; every response must conform to the spec."""
    cmd = [os.path.join(os.path.dirname(os.sys.executable), "schemathesis")]
    if not os.path.exists(cmd[0]):
        cmd = ["schemathesis"]
    args = cmd + ["run", os.path.join(ROOT, "openapi.yaml"), "--url", f"http://127.0.0.1:{server.port}",
                  # positive_data_acceptance is excluded: a schema cannot say which strings are captions in the
                  # model's vocabulary or which bytes are a decodable PNG, so schema-valid random data is rightly
                  # answered 422/400. Every other check (status codes, response schemas, content types, headers,
                  # negative data rejection, server errors) runs.
                  "--checks", "all", "--exclude-checks", "positive_data_acceptance", "--max-examples", os.environ.get("SCHEMATHESIS_EXAMPLES", "12"),
                  "--request-timeout", "300", "--max-response-time", "300"]
    r = subprocess.run(args, capture_output=True, text=True, timeout=1200)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    assert server.healthy()


def test_captions_of_new_renders_name_the_birds_colours(server):
    """The shipped captioner through the server, on birds the dataset never had (renderer seed 777, not the
    training seed 0): the (attribute, value) claims its captions make — colours of parts, sizes, beak shapes — are
    checked against the renderer's ground truth. docs/EVALUATION.md measures 84.6 % on the test renders; the
    bound leaves room for a smaller sample."""
    import io

    from mirrorgan_train.attributes_classifier import norm_value
    from mirrorgan_train.evaluate import parse_claims
    from mirrorgan_train.synthbirds.render import render_image

    n = ok = colour_n = colour_ok = 0
    for index in range(40):
        img, meta = render_image(index, seed=777)
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        s, _, b = server.request("POST", "/v1/captions", buf.getvalue(), {"Content-Type": "image/png"})
        assert s == 200, b
        for attribute, value in parse_claims(json.loads(b)["caption"]).items():
            right = norm_value(meta["attributes"][attribute]) == value
            n, ok = n + 1, ok + right
            if attribute.endswith("_color"):
                colour_n, colour_ok = colour_n + 1, colour_ok + right
    print(f"claims right: {ok} of {n}; colour claims right: {colour_ok} of {colour_n}")
    assert n >= 80 and colour_n >= 40, (n, colour_n)  # about 3 claims per caption
    assert ok / n >= 0.7, f"{ok} of {n} claims right"
    assert colour_ok / colour_n >= 0.65, f"{colour_ok} of {colour_n} colour claims right"
