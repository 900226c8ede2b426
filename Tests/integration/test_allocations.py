"""A request allocates nothing in steady state (issue #7): the shipped model's passes, PNG included, run
with bench/alloccount.c preloaded, at one and two compute threads.

Every activation, LSTM state and kernel scratch buffer comes from the worker's tensor arena or per-thread
scratch, libpng/zlib from the encoder's pool, and parallel loops hand thin functions to the kernel
threads, so the compute stages make no heap allocation at all. What a request still allocates is its
results (the PNG bytes, the caption's ids and log-probabilities, the three stage lists, the R-precision
candidates) and the bench's own argument lists: 11 (docs/PERFORMANCE.md, "Allocations that remain").

Environment: MIRRORGAN_BIN (default .build/release/mirrorgan), MIRRORGAN_WEIGHTS (default Weights/synthbirds).
"""
import os
import re
import shutil
import subprocess

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("MIRRORGAN_BIN") or os.path.join(ROOT, ".build", "release", "mirrorgan")
WEIGHTS = os.environ.get("MIRRORGAN_WEIGHTS") or os.path.join(ROOT, "Weights", "synthbirds")
RESULT_ALLOCATIONS = 11


@pytest.fixture(scope="module")
def counter(tmp_path_factory):
    """bench/alloccount.c built with the system C compiler, or else the Swift toolchain's clang."""
    swiftc = shutil.which("swiftc")
    compiler = shutil.which("cc") or (swiftc and os.path.join(os.path.dirname(swiftc), "clang"))
    assert compiler, "no C compiler (cc, or the Swift toolchain's clang)"
    out = str(tmp_path_factory.mktemp("alloc") / "alloccount.so")
    subprocess.run([compiler, "-O2", "-shared", "-fPIC", os.path.join(ROOT, "bench", "alloccount.c"), "-o", out],
                   check=True)
    return out


@pytest.mark.parametrize("threads", [1, 2])
def test_compute_stages_allocate_nothing(counter, threads):
    env = dict(os.environ, LD_PRELOAD=counter)
    out = subprocess.run([BIN, "bench", "--weights", WEIGHTS, "--threads", str(threads), "--iterations", "3",
                          "--warmup", "2"], check=True, capture_output=True, text=True, env=env, timeout=300).stdout
    per_request = int(re.search(r"^allocations_per_request=(\d+)$", out, re.M).group(1))
    stages = dict((k, int(v)) for k, v in re.findall(r"(\w+) (\d+)", re.search(
        r"^heap allocations per stage \(median\): (.*)$", out, re.M).group(1)))
    for stage in ("generator_stage2", "generator_stage3", "backbone"):
        assert stages[stage] == 0, f"{stage} allocated {stages[stage]} times per request at {threads} threads:\n{out}"
    assert stages["png_encode"] == 1, out  # the returned bytes
    assert per_request <= RESULT_ALLOCATIONS, f"{per_request} allocations per request at {threads} threads:\n{out}"
