"""Reference values for the Swift kernel tests, computed by PyTorch.

Writes Tests/Fixtures/kernels/*.safetensors (inputs, weights and outputs, float32) and mirror_rng.json
(MirrorRNG reference numbers). Run from the repository root:

    training/.venv/bin/python training/mirrorgan_train/kernel_fixtures.py [--out Tests/Fixtures/kernels]

Every case uses a fixed torch seed, small odd sizes, and covers the semantics that are easy to get
subtly wrong: bilinear resize (both align_corners modes, up and down), TF-SAME padded stride-2 convolutions (dense and depthwise),
and a packed bidirectional LSTM over unequal lengths.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rng import MirrorRNG, candidate_indices  # noqa: E402  (works with or without the package installed)

REPO = Path(__file__).resolve().parents[2]


def contiguous(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().float().contiguous() for k, v in tensors.items()}


def bilinear() -> dict[str, torch.Tensor]:
    x = torch.randn(2, 3, 5, 7)
    one = torch.randn(1, 2, 1, 1)
    out = {"x": x, "x1": one}
    for ac in (False, True):
        tag = "true" if ac else "false"
        out[f"up_{tag}"] = F.interpolate(x, size=(11, 13), mode="bilinear", align_corners=ac)
        out[f"down_{tag}"] = F.interpolate(x, size=(3, 4), mode="bilinear", align_corners=ac)
        out[f"mixed_{tag}"] = F.interpolate(x, size=(2, 9), mode="bilinear", align_corners=ac)
        out[f"one_{tag}"] = F.interpolate(one, size=(3, 2), mode="bilinear", align_corners=ac)
    return out


def tf_same(size: int, kernel: int, stride: int) -> tuple[int, int]:
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def conv_same() -> dict[str, torch.Tensor]:
    x = torch.randn(2, 3, 9, 8)
    out = {"x": x}
    # Dense 3x3 stride 2 with bias, and depthwise 5x5 stride 2 without bias, TF SAME padding as
    # efficientnet-pytorch's Conv2dStaticSamePadding (F.pad left, right, top, bottom).
    for name, weight, bias, groups in (
        ("dense", torch.randn(4, 3, 3, 3), torch.randn(4), 1),
        ("depthwise", torch.randn(3, 1, 5, 5), None, 3),
    ):
        k = weight.shape[-1]
        top, bottom = tf_same(x.shape[2], k, 2)
        left, right = tf_same(x.shape[3], k, 2)
        padded = F.pad(x, [left, right, top, bottom])
        out[f"{name}_weight"] = weight
        if bias is not None:
            out[f"{name}_bias"] = bias
        out[f"{name}_out"] = F.conv2d(padded, weight, bias, stride=2, groups=groups)
        out[f"{name}_padding"] = torch.tensor([top, bottom, left, right], dtype=torch.float32)
    return out


def lstm() -> dict[str, torch.Tensor]:
    batch, steps, inputs, hidden = 3, 6, 5, 4
    rnn = torch.nn.LSTM(inputs, hidden, 1, batch_first=True, bidirectional=True)
    x = torch.randn(batch, steps, inputs)
    lengths = torch.tensor([6, 2, 4])
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    with torch.no_grad():
        output, (h_n, c_n) = rnn(packed)
    output, _ = torch.nn.utils.rnn.pad_packed_sequence(output, batch_first=True, total_length=steps)
    cell = torch.nn.LSTMCell(inputs, hidden)
    with torch.no_grad():
        cell.weight_ih.copy_(rnn.weight_ih_l0)
        cell.weight_hh.copy_(rnn.weight_hh_l0)
        cell.bias_ih.copy_(rnn.bias_ih_l0)
        cell.bias_hh.copy_(rnn.bias_hh_l0)
        h0, c0 = torch.randn(batch, hidden), torch.randn(batch, hidden)
        h1, c1 = cell(x[:, 0], (h0, c0))
    out = {name: p for name, p in rnn.state_dict().items()}
    out.update({"x": x, "lengths": lengths.float(), "output": output, "h_n": h_n, "c_n": c_n,
                "cell_h0": h0, "cell_c0": c0, "cell_h1": h1, "cell_c1": c1})
    return out


def rng_reference() -> dict:
    cases = []
    for seed in (0, 12345):
        a = MirrorRNG(seed)
        u64 = [str(a.next_u64()) for _ in range(8)]
        b = MirrorRNG(seed)
        # Floats as repr() strings: shortest round-trip text, parsed exactly by Swift's Double(String)
        # (JSON number parsers are not all correctly rounded).
        uniforms = [repr(b.uniform()) for _ in range(8)]
        c = MirrorRNG(seed)
        normals = [repr(v) for v in c.normals(10)]
        cases.append({"seed": seed, "u64": u64, "uniform": uniforms, "normals": normals})
    # A bank of 150 captions in which the query appears three times, and a bank too small for 99.
    bank = [[1 + (i % 17), 2 + (i % 5), 3 + i] for i in range(150)]
    query = bank[7]
    bank[40] = list(query)
    bank[141] = list(query)
    small = bank[:20]
    return {
        "cases": cases,
        "odd": [repr(v) for v in MirrorRNG(7).normals(5)],
        "bank": bank,
        "query": query,
        "candidates_seed_12345": candidate_indices(12345, bank, query),
        "candidates_small_seed_3": candidate_indices(3, small, query),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "Tests" / "Fixtures" / "kernels")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for k, (name, build) in enumerate((("bilinear", bilinear), ("conv_same", conv_same), ("lstm", lstm))):
        torch.manual_seed(20240611 + k)  # one seed per file: a case added or removed leaves the others' values
        save_file(contiguous(build()), str(args.out / f"{name}.safetensors"))
    with open(args.out / "mirror_rng.json", "w") as f:
        json.dump(rng_reference(), f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
