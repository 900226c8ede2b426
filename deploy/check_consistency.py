#!/usr/bin/env python3
"""Consistency check for deploy/: the ports, probe paths and drain timings in the Dockerfile, the
Kubernetes manifests, compose.yaml, prometheus.yml and the systemd unit must match what the server
actually serves. Standard library only (runs before any venv exists).

Served routes come from the top-level openapi.yaml `paths:` when that file lists them; otherwise the
constants below are used (and the fallback is announced).

Usage: check_consistency.py [--root REPO_ROOT]     exit 0 = consistent, 1 = errors, 2 = unreadable input
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

# What the server serves (Sources/MirrorGANServer/Routing/Router.swift, ServerConfig defaults).
HEALTHZ = "/healthz"   # liveness
READYZ = "/readyz"     # readiness: 503 until weights are verified, and while draining
METRICS = "/metrics"   # Prometheus exposition
PORT = 8080
REQUEST_TIMEOUT_S = 120.0   # ServerConfig.requestTimeout default (MIRRORGAN_REQUEST_TIMEOUT)
DRAIN_MARGIN_S = 10.0       # drain() waits up to requestTimeout + 10 s (docs/SERVER.md)
UID = 10001


class YAMLError(Exception):
    pass


# --------------------------------------------------------------------------------------------------
# A small block-YAML reader: mappings, sequences, plain/quoted scalars, flow sequences of scalars,
# `{}`, block scalars (| and >), comments and `---` documents. Enough for the files in deploy/.

def _strip_comment(line: str) -> str:
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"" and (i == 0 or line[i - 1] in " \t[{,:-"):
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i].rstrip()
    return line.rstrip()


def _split_flow(text: str) -> list[str]:
    items, cur, quote = [], "", None
    for ch in text:
        if quote:
            cur += ch
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
            cur += ch
        elif ch == ",":
            items.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        items.append(cur.strip())
    return items


def _scalar(text: str):
    t = text.strip()
    if t == "" or t in ("~", "null"):
        return None
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "'\"":
        body = t[1:-1]
        return body.replace("''", "'") if t[0] == "'" else body.replace('\\"', '"').replace("\\\\", "\\")
    if t.startswith("[") and t.endswith("]"):
        return [_scalar(x) for x in _split_flow(t[1:-1])]
    if t.startswith("{") and t.endswith("}"):
        inner = t[1:-1].strip()
        out = {}
        for item in _split_flow(inner) if inner else []:
            k, _, v = item.partition(":")
            out[_scalar(k)] = _scalar(v)
        return out
    if t in ("true", "True"):
        return True
    if t in ("false", "False"):
        return False
    if re.fullmatch(r"[-+]?\d+", t):
        return int(t)
    if re.fullmatch(r"[-+]?(\d+\.\d*|\.\d+)([eE][-+]?\d+)?", t):
        return float(t)
    return t


def _key_split(content: str):
    """Split 'key: value' at the first ': ' (or trailing ':') outside quotes; None if not a mapping line."""
    quote = None
    for i, ch in enumerate(content):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"" and i == 0:
            quote = ch
        elif ch == ":" and (i + 1 == len(content) or content[i + 1] in " \t"):
            return _scalar(content[:i]), content[i + 1:].strip()
    return None


class _Reader:
    def __init__(self, text: str, name: str):
        self.name = name
        self.docs: list[list[tuple[int, str, int]]] = [[]]
        raw = text.splitlines()
        self.raw = raw
        for n, line in enumerate(raw):
            if line.strip() in ("---", "...") and not line.startswith(" "):
                self.docs.append([])
                continue
            if "\t" in line[: len(line) - len(line.lstrip())]:
                raise YAMLError(f"{name}:{n + 1}: tab in indentation")
            stripped = _strip_comment(line)
            if not stripped.strip():
                continue
            self.docs[-1].append((len(stripped) - len(stripped.lstrip(" ")), stripped.lstrip(" "), n))

    def parse(self):
        out = []
        for doc in self.docs:
            if not doc:
                continue
            self.lines = list(doc)
            value, i = self._block(0, self.lines[0][0])
            if i != len(self.lines):
                raise YAMLError(f"{self.name}:{self.lines[i][2] + 1}: unexpected indentation")
            out.append(value)
        return out

    def _block(self, i, indent):
        content = self.lines[i][1]
        if content == "-" or content.startswith("- "):
            return self._seq(i, indent)
        return self._map(i, indent)

    def _seq(self, i, indent):
        out = []
        while i < len(self.lines) and self.lines[i][0] == indent and (
                self.lines[i][1] == "-" or self.lines[i][1].startswith("- ")):
            _, content, n = self.lines[i]
            rest = content[1:].lstrip(" ")
            if not rest:
                if i + 1 < len(self.lines) and self.lines[i + 1][0] > indent:
                    value, i = self._block(i + 1, self.lines[i + 1][0])
                else:
                    value, i = None, i + 1
            elif _key_split(rest) is not None or rest.startswith("- "):
                # "- key: v" starts a mapping (or nested sequence) indented at the item's text.
                self.lines[i] = (indent + len(content) - len(rest), rest, n)
                value, i = self._block(i, self.lines[i][0])
            else:
                value, i = _scalar(rest), i + 1
            out.append(value)
        return out, i

    def _map(self, i, indent):
        out = {}
        while i < len(self.lines) and self.lines[i][0] == indent:
            _, content, n = self.lines[i]
            if content.startswith("- ") or content == "-":
                break
            kv = _key_split(content)
            if kv is None:
                raise YAMLError(f"{self.name}:{n + 1}: expected 'key: value', got {content!r}")
            key, rest = kv
            i += 1
            if rest in ("|", "|-", "|+", ">", ">-", ">+"):
                block = []
                while i < len(self.lines) and self.lines[i][0] > indent:
                    block.append(self.raw[self.lines[i][2]].strip())
                    i += 1
                value = "\n".join(block)
            elif rest:
                value = _scalar(rest)
            elif i < len(self.lines) and self.lines[i][0] > indent:
                value, i = self._block(i, self.lines[i][0])
            elif i < len(self.lines) and self.lines[i][0] == indent and self.lines[i][1].startswith("- "):
                value, i = self._seq(i, indent)
            else:
                value = None
            out[key] = value
        if i < len(self.lines) and self.lines[i][0] > indent:
            raise YAMLError(f"{self.name}:{self.lines[i][2] + 1}: unexpected indentation")
        return out, i


def load_yaml_docs(path: Path) -> list:
    return _Reader(path.read_text(encoding="utf-8"), str(path)).parse()


# --------------------------------------------------------------------------------------------------

class Checker:
    def __init__(self, root: Path):
        self.root = root
        self.deploy = root / "deploy"
        self.errors: list[str] = []
        self.checks = 0

    def expect(self, cond: bool, where: str, msg: str) -> None:
        self.checks += 1
        if not cond:
            self.errors.append(f"{where}: {msg}")

    def rel(self, p: Path) -> str:
        try:
            return str(p.relative_to(self.root))
        except ValueError:
            return str(p)

    # ---- served routes ----
    def served_paths(self) -> set[str]:
        spec = self.root / "openapi.yaml"
        paths: set[str] = set()
        if spec.is_file():
            in_paths, key_indent = False, None
            for line in spec.read_text(encoding="utf-8").splitlines():
                text = _strip_comment(line)
                if not text.strip():
                    continue
                indent = len(text) - len(text.lstrip(" "))
                if indent == 0:
                    in_paths = text.strip() == "paths:"
                    key_indent = None
                    continue
                if in_paths:
                    if key_indent is None:
                        key_indent = indent
                    if indent == key_indent:
                        m = re.match(r"""\s*['"]?(/[^'":\s]*)['"]?\s*:""", text)
                        if m:
                            paths.add(m.group(1))
        if paths:
            print(f"check_consistency: served routes from openapi.yaml: {', '.join(sorted(paths))}")
            for p in (HEALTHZ, READYZ, METRICS):
                self.expect(p in paths, "openapi.yaml", f"paths has no {p} (the deploy files probe it)")
        else:
            why = "has no paths yet" if spec.is_file() else "is missing"
            print(f"check_consistency: openapi.yaml {why}; using the built-in routes "
                  f"{HEALTHZ} {READYZ} {METRICS} and port {PORT}")
            paths = {HEALTHZ, READYZ, METRICS}
        return paths

    # ---- Dockerfile ----
    def dockerfile(self) -> None:
        path = self.deploy / "Dockerfile"
        where = self.rel(path)
        text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
        instrs = []
        for line in text.splitlines():
            s = line.strip()
            if s and not s.startswith("#"):
                word, _, rest = s.partition(" ")
                instrs.append((word.upper(), rest.strip()))
        stages = [i for i, (w, _) in enumerate(instrs) if w == "FROM"]
        self.expect(len(stages) >= 2, where, "expected a multi-stage build (build + runtime)")
        final = instrs[stages[-1]:] if stages else instrs
        self.expect(any("bookworm" in r for w, r in final if w == "FROM"), where,
                    "runtime stage should be Debian bookworm")
        for w, r in final:
            if w == "RUN" and "apt-get install" in r:
                self.expect(not re.search(r"\blib\S+-dev\b", r), where,
                            "runtime stage installs -dev packages")
        exposes = [r for w, r in final if w == "EXPOSE"]
        self.expect(any(str(PORT) in re.split(r"[\s/]+", e) for e in exposes), where, f"no EXPOSE {PORT}")
        hcs = [r for w, r in final if w == "HEALTHCHECK"]
        self.expect(len(hcs) == 1, where, "runtime stage needs exactly one HEALTHCHECK")
        for hc in hcs:
            urls = re.findall(r"https?://[^\s\"',\]]+", hc)
            self.expect(len(urls) == 1, where, f"HEALTHCHECK should probe one URL, found {urls}")
            for url in urls:
                m = re.match(r"https?://[^/:]+(?::(\d+))?(/[^?\s]*)", url)
                self.expect(bool(m) and m.group(2) == HEALTHZ, where,
                            f"HEALTHCHECK URL {url} should probe {HEALTHZ}")
                self.expect(bool(m) and m.group(1) == str(PORT), where,
                            f"HEALTHCHECK URL {url} should use port {PORT}")
        env = {}
        for w, r in final:
            if w == "ENV":
                for k, v in re.findall(r"(\w+)=(\"[^\"]*\"|\S+)", r):
                    env[k] = v.strip('"')
        if "MIRRORGAN_PORT" in env:
            self.expect(env["MIRRORGAN_PORT"] == str(PORT), where, f"ENV MIRRORGAN_PORT should be {PORT}")
        users = [r for w, r in final if w == "USER"]
        self.expect(bool(users) and users[-1].split(":")[0] == str(UID), where,
                    f"runtime stage should run as USER {UID} (numeric, non-root)")
        stops = [r for w, r in final if w == "STOPSIGNAL"]
        self.expect(stops == ["SIGTERM"], where, "STOPSIGNAL SIGTERM expected")
        eps = [r for w, r in final if w == "ENTRYPOINT"]
        self.expect(bool(eps) and eps[-1].startswith("["), where,
                    "ENTRYPOINT must be exec form so the server is PID 1 and receives SIGTERM")

    # ---- Kubernetes ----
    def kubernetes(self) -> None:
        base = self.deploy / "kubernetes" / "base"
        objs: dict[str, list[tuple[str, dict]]] = {}
        for kdir in (base, self.deploy / "kubernetes" / "monitoring"):
            kfile = kdir / "kustomization.yaml"
            if not kfile.is_file():
                self.expect(kdir != base, self.rel(kfile), "missing")
                continue
            kust = load_yaml_docs(kfile)[0] or {}
            for res in kust.get("resources") or []:
                rp = (kdir / res)
                self.expect(rp.exists(), self.rel(kfile), f"resource {res} does not exist")
                if rp.is_file():
                    for doc in load_yaml_docs(rp):
                        if isinstance(doc, dict) and doc.get("kind"):
                            objs.setdefault(doc["kind"], []).append((self.rel(rp), doc))
        deps = objs.get("Deployment", [])
        self.expect(len(deps) == 1, "deploy/kubernetes/base", "expected exactly one Deployment")
        if not deps:
            return
        where, dep = deps[0]
        dep_name = (dep.get("metadata") or {}).get("name")
        tmpl = (dep.get("spec") or {}).get("template") or {}
        pod_labels = (tmpl.get("metadata") or {}).get("labels") or {}
        pod = tmpl.get("spec") or {}
        containers = pod.get("containers") or []
        self.expect(len(containers) >= 1, where, "no containers")
        if not containers:
            return
        c = containers[0]
        named = {p.get("name"): p.get("containerPort") for p in c.get("ports") or [] if p.get("name")}
        cports = [p.get("containerPort") for p in c.get("ports") or []]
        self.expect(PORT in cports, where, f"containerPort {PORT} missing (found {cports})")

        def resolve(port):
            return named.get(port, port) if isinstance(port, str) else port

        for probe, paths in (("livenessProbe", {HEALTHZ}), ("readinessProbe", {READYZ}),
                             ("startupProbe", {HEALTHZ, READYZ})):
            hg = ((c.get(probe) or {}).get("httpGet")) or {}
            self.expect(bool(hg), where, f"{probe} with httpGet missing")
            if hg:
                self.expect(hg.get("path") in paths, where,
                            f"{probe} path {hg.get('path')!r} should be {' or '.join(sorted(paths))}")
                self.expect(resolve(hg.get("port")) == PORT, where,
                            f"{probe} port {hg.get('port')!r} does not resolve to {PORT}")
        ann = (tmpl.get("metadata") or {}).get("annotations") or {}
        self.expect(str(ann.get("prometheus.io/scrape")) == "true", where, "prometheus.io/scrape should be \"true\"")
        self.expect(str(ann.get("prometheus.io/port")) == str(PORT), where, f"prometheus.io/port should be {PORT}")
        self.expect(ann.get("prometheus.io/path") == METRICS, where, f"prometheus.io/path should be {METRICS}")

        env = {e.get("name"): e for e in c.get("env") or []}
        if "MIRRORGAN_PORT" in env:
            self.expect(str(env["MIRRORGAN_PORT"].get("value")) == str(PORT), where,
                        f"MIRRORGAN_PORT should be {PORT}")
        th = ((env.get("MIRRORGAN_THREADS") or {}).get("valueFrom") or {}).get("resourceFieldRef") or {}
        self.expect(th.get("resource") == "limits.cpu", where,
                    "MIRRORGAN_THREADS should come from resourceFieldRef limits.cpu")
        timeout = REQUEST_TIMEOUT_S
        if "MIRRORGAN_REQUEST_TIMEOUT" in env:
            try:
                timeout = float(env["MIRRORGAN_REQUEST_TIMEOUT"].get("value"))
            except (TypeError, ValueError):
                self.expect(False, where, "MIRRORGAN_REQUEST_TIMEOUT is not a number")
        pre = (((c.get("lifecycle") or {}).get("preStop")) or {})
        cmd = ((pre.get("exec") or {}).get("command")) or []
        sleep_s = float(cmd[-1]) if cmd and "sleep" in str(cmd[0]) and re.fullmatch(r"\d+(\.\d+)?", str(cmd[-1])) \
            else float((pre.get("sleep") or {}).get("seconds") or 0)
        self.expect(sleep_s > 0, where, "preStop should sleep so endpoints drop the pod before SIGTERM")
        grace = pod.get("terminationGracePeriodSeconds")
        self.expect(isinstance(grace, int) and grace > sleep_s + timeout + DRAIN_MARGIN_S, where,
                    f"terminationGracePeriodSeconds ({grace}) must exceed preStop sleep + longest drain "
                    f"({sleep_s:g} + {timeout:g} + {DRAIN_MARGIN_S:g} s)")
        psc, csc = pod.get("securityContext") or {}, c.get("securityContext") or {}
        self.expect(psc.get("runAsNonRoot") is True or csc.get("runAsNonRoot") is True, where, "runAsNonRoot")
        self.expect(csc.get("runAsUser", psc.get("runAsUser")) == UID, where, f"runAsUser should be {UID}")
        self.expect(csc.get("readOnlyRootFilesystem") is True, where, "readOnlyRootFilesystem")
        self.expect(csc.get("allowPrivilegeEscalation") is False, where, "allowPrivilegeEscalation: false")
        self.expect("ALL" in ((csc.get("capabilities") or {}).get("drop") or []), where, "capabilities drop ALL")
        sp = (csc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
        self.expect(sp == "RuntimeDefault", where, "seccompProfile RuntimeDefault")
        mounts = {m.get("mountPath") for m in c.get("volumeMounts") or []}
        self.expect("/tmp" in mounts, where, "a writable /tmp (emptyDir) is needed with a read-only root")
        res = c.get("resources") or {}
        for kind in ("requests", "limits"):
            for r in ("cpu", "memory"):
                self.expect(r in (res.get(kind) or {}), where, f"resources.{kind}.{r} missing")

        def selects(sel: dict) -> bool:
            return bool(sel) and all(pod_labels.get(k) == v for k, v in sel.items())

        svc_port_names = set()
        for w, svc in objs.get("Service", []):
            spec = svc.get("spec") or {}
            self.expect(selects(spec.get("selector") or {}), w, "selector does not match the pod labels")
            for p in spec.get("ports") or []:
                svc_port_names.add(p.get("name"))
                self.expect(resolve(p.get("targetPort", p.get("port"))) == PORT, w,
                            f"targetPort {p.get('targetPort')!r} does not resolve to {PORT}")
                self.expect(p.get("port") == PORT, w, f"service port should be {PORT}")
        self.expect(bool(objs.get("Service")), "deploy/kubernetes/base", "no Service")
        for w, hpa in objs.get("HorizontalPodAutoscaler", []):
            ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
            self.expect(ref.get("kind") == "Deployment" and ref.get("name") == dep_name, w,
                        "scaleTargetRef does not name the Deployment")
        self.expect(bool(objs.get("HorizontalPodAutoscaler")), "deploy/kubernetes/base", "no HorizontalPodAutoscaler")
        for w, pdb in objs.get("PodDisruptionBudget", []):
            sel = ((pdb.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
            self.expect(selects(sel), w, "selector does not match the pod labels")
        self.expect(bool(objs.get("PodDisruptionBudget")), "deploy/kubernetes/base", "no PodDisruptionBudget")
        for w, sm in objs.get("ServiceMonitor", []):
            for ep in (sm.get("spec") or {}).get("endpoints") or []:
                self.expect(ep.get("path", METRICS) == METRICS, w, f"endpoint path should be {METRICS}")
                self.expect(ep.get("port") in svc_port_names, w,
                            f"endpoint port {ep.get('port')!r} is not a Service port name {sorted(svc_port_names)}")

    # ---- compose + prometheus ----
    def compose(self) -> None:
        path = self.deploy / "compose.yaml"
        if not path.is_file():
            return
        where = self.rel(path)
        doc = load_yaml_docs(path)[0] or {}
        services = doc.get("services") or {}
        srv = services.get("mirrorgan") or {}
        self.expect(bool(srv), where, "no 'mirrorgan' service")
        ports = [str(p) for p in srv.get("ports") or []]
        self.expect(any(p.split(":")[-1].split("/")[0] == str(PORT) for p in ports), where,
                    f"mirrorgan should publish container port {PORT}")
        test = " ".join(str(x) for x in ((srv.get("healthcheck") or {}).get("test") or []))
        if test:
            self.expect(f":{PORT}{HEALTHZ}" in test, where, f"healthcheck should probe :{PORT}{HEALTHZ}")
        grace = str(srv.get("stop_grace_period", "10s"))
        m = re.fullmatch(r"(\d+)(s|m)?", grace)
        secs = (int(m.group(1)) * (60 if m.group(2) == "m" else 1)) if m else 0
        drain = REQUEST_TIMEOUT_S + DRAIN_MARGIN_S
        self.expect(secs > drain, where, f"stop_grace_period {grace} must exceed the longest drain ({drain:g} s)")
        prom = self.deploy / "prometheus.yml"
        self.expect(prom.is_file(), where, "deploy/prometheus.yml missing")
        if not prom.is_file():
            return
        pdoc = load_yaml_docs(prom)[0] or {}
        jobs = [j for j in pdoc.get("scrape_configs") or [] if j.get("job_name") == "mirrorgan"]
        self.expect(len(jobs) == 1, self.rel(prom), "needs one scrape job 'mirrorgan'")
        for j in jobs:
            self.expect(j.get("metrics_path", "/metrics") == METRICS, self.rel(prom),
                        f"metrics_path should be {METRICS}")
            targets = [t for sc in j.get("static_configs") or [] for t in sc.get("targets") or []]
            self.expect(f"mirrorgan:{PORT}" in targets, self.rel(prom),
                        f"targets {targets} should include mirrorgan:{PORT} (the compose service)")

    # ---- systemd ----
    def systemd(self) -> None:
        path = self.deploy / "systemd" / "mirrorgan.service"
        where = self.rel(path)
        keys: dict[str, list[str]] = {}
        for line in re.sub(r"\\\n", " ", path.read_text(encoding="utf-8")).splitlines():
            s = line.strip()
            if s and not s.startswith(("#", ";", "[")) and "=" in s:
                k, _, v = s.partition("=")
                keys.setdefault(k.strip(), []).append(v.strip())
        exec_start = " ".join(keys.get("ExecStart", []))
        m = re.search(r"--port[= ](\d+)", exec_start)
        self.expect(bool(m) and m.group(1) == str(PORT), where, f"ExecStart should pass --port {PORT}")
        self.expect(keys.get("KillSignal") == ["SIGTERM"], where, "KillSignal=SIGTERM")
        ts = (keys.get("TimeoutStopSec") or ["90"])[-1]
        m = re.fullmatch(r"(\d+)(s|min)?", ts)
        secs = int(m.group(1)) * (60 if m and m.group(2) == "min" else 1) if m else 0
        drain = REQUEST_TIMEOUT_S + DRAIN_MARGIN_S
        self.expect(secs > drain, where, f"TimeoutStopSec={ts} must exceed the longest drain ({drain:g} s)")
        for k, v in (("DynamicUser", "yes"), ("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                     ("MemoryDenyWriteExecute", "yes")):
            self.expect((keys.get(k) or [""])[-1] == v, where, f"{k}={v} expected")

    def run(self) -> int:
        self.served_paths()
        for step in (self.dockerfile, self.kubernetes, self.compose, self.systemd):
            try:
                step()
            except (OSError, YAMLError) as e:
                self.errors.append(f"{step.__name__}: cannot read input: {e}")
        for e in self.errors:
            print(f"check_consistency: ERROR {e}", file=sys.stderr)
        if self.errors:
            print(f"check_consistency: {len(self.errors)} of {self.checks} checks failed", file=sys.stderr)
            return 1
        print(f"check_consistency: ok ({self.checks} checks)")
        return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent,
                    help="repository root (default: the parent of deploy/)")
    args = ap.parse_args(argv)
    return Checker(args.root.resolve()).run()


if __name__ == "__main__":
    sys.exit(main())
