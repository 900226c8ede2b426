"""`mirrorgan eval` and `python -m mirrorgan_train.evaluate` give the same R-precision on the same images.

The binary evaluates the first N generated images (N = the Python run's, 500) through the model's own request path
and prints and writes the same mean, standard deviation and fold means as docs/eval/results.json, which the toolkit
wrote for the shipped weights: same captions, seeds and candidates, the same strict-first hit, the same numpy fold
shuffle. Runs ~40 s at two threads. Skipped when MIRRORGAN_WEIGHTS is not the shipped model the results describe.

Environment: MIRRORGAN_BIN (default .build/release/mirrorgan), MIRRORGAN_WEIGHTS (default Weights/synthbirds).
"""
import json
import os
import subprocess
import tempfile

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("MIRRORGAN_BIN") or os.path.join(ROOT, ".build", "release", "mirrorgan")
WEIGHTS = os.environ.get("MIRRORGAN_WEIGHTS") or os.path.join(ROOT, "Weights", "synthbirds")
RESULTS = os.path.join(ROOT, "docs", "eval", "results.json")


def test_eval_prints_the_toolkits_r_precision_for_the_same_images():
    if os.path.realpath(WEIGHTS) != os.path.realpath(os.path.join(ROOT, "Weights", "synthbirds")):
        pytest.skip("docs/eval/results.json describes Weights/synthbirds")
    with open(RESULTS) as f:
        python = json.load(f)["models"]["main"]
    expected = python["r_precision"]["generated"]
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "eval.json")
        run = subprocess.run([BIN, "eval", "--weights", WEIGHTS, "--threads", "2", "--images", str(python["images"]),
                              "--json", out], capture_output=True, text=True, timeout=900)
        assert run.returncode == 0, run.stderr
        with open(out) as f:
            swift = json.load(f)
    assert swift["images"] == expected["n"]
    assert swift["folds"] == expected["fold_means"]
    assert swift["r_precision_mean"] == expected["mean"]
    assert swift["r_precision_std"] == expected["std"]
    assert f"{100 * expected['mean']:.2f}% ± {100 * expected['std']:.2f}" in run.stdout
