"""The tables `make bench` prints and writes (bench.py measures): per configuration and thread count a stage table
(Swift, PyTorch, ORT and their ratios) with its notes (image agreement, peak RSS, allocations, kernel rates), one
summary table of speed-ups, and the marked section of a markdown file they replace."""
from __future__ import annotations

import os
import platform

import torch

STAGES = ["text_encoder", "generator_stage1", "generator_stage2", "generator_stage3", "generator", "png_encode",
          "backbone", "stream_decoding", "r_precision", "request"]


def fmt(v):
    return "–" if v is None else f"{v:.1f}"


def ratio(a, b):
    return "–" if a is None or b is None or b == 0 else f"{a / b:.2f}"


def table(result):
    sw, pt, ox = result["swift"], result["pytorch"], result["ort"]
    lines = ["| stage | Swift ms | PyTorch ms | ORT ms | Swift/PyTorch | Swift/ORT |", "|---|---:|---:|---:|---:|---:|"]
    for s in STAGES:
        a, b, c = sw.get(s), pt.get(s), ox.get(s)
        if a is None and b is None and c is None:
            continue
        name = f"**{s}**" if s in ("generator", "request") else s
        lines.append(f"| {name} | {fmt(a)} | {fmt(b)} | {fmt(c)} | {ratio(a, b)} | {ratio(a, c)} |")
    return "\n".join(lines)


def cpu_name():
    """The CPU's model name (/proc/cpuinfo), else platform.processor() (which may be empty); iter_bench.py's too."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def machine_line():
    import onnxruntime
    return (f"{cpu_name() or '?'}, {os.cpu_count()} CPUs; PyTorch {torch.__version__}, "
            f"onnxruntime {onnxruntime.__version__}")


def write_docs(path, text):
    begin, end = "<!-- BENCH:BEGIN (written by `make bench`) -->", "<!-- BENCH:END -->"
    doc = open(path).read() if os.path.exists(path) else "# Performance\n\n"
    if begin in doc and end in doc:
        doc = doc[: doc.index(begin)] + begin + "\n" + text + "\n" + doc[doc.index(end):]
    else:
        doc = doc.rstrip() + "\n\n" + begin + "\n" + text + "\n" + end + "\n"
    with open(path, "w") as f:
        f.write(doc)


def weights_mib(model_dir):
    return sum(os.path.getsize(os.path.join(model_dir, f)) for f in os.listdir(model_dir)
               if f.endswith(".safetensors")) / 2**20


def extra_lines(r):
    sw = r["swift"]
    same = ("Swift only (the converter's layout: PyTorch's side of it is mirrorgan_train.pipeline.ReferenceModel, "
            "checked for parity by the tests, not timed here). " if r["max_abs_diff_swift_vs_pytorch"] is None else
            f"256² image: max |Swift − PyTorch| = {r['max_abs_diff_swift_vs_pytorch']:.1e}, "
            f"max |ORT − PyTorch| = {r['max_abs_diff_ort_vs_pytorch']:.1e}. ")
    out = [same + f"Swift peak RSS {fmt(r['swift_rss_mib'])} MiB (whole process, all stages; weights "
           f"{r['weights_mib']:.1f} MiB, limit 2 × weights + 300 = {2 * r['weights_mib'] + 300:.0f} MiB)."]
    if "allocations_per_request" in sw:
        out.append(f"Heap allocations per request in steady state (Swift, LD_PRELOAD counter): "
                   f"{sw['allocations_per_request']:.0f} for the model passes and PNG"
                   + (f", {sw['generate_allocations_per_request']:.0f} for the whole `MirrorGANModel.generate` "
                      f"(tokenizer, noise, result strings)" if "generate_allocations_per_request" in sw else "") + ".")
    if "sgemm_gmacs" in sw and "conv3x3_gmacs" in sw:
        out.append(f"Kernel rates (Swift process): SGEMM 1024³ {sw['sgemm_gmacs']:.1f} GMAC/s; the generator's 3×3 "
                   f"convolutions {sw['conv3x3_gmacs']:.1f} direct-convolution GMAC/s = "
                   f"{100 * sw['conv3x3_gmacs'] / sw['sgemm_gmacs']:.0f} % of SGEMM.")
    return " ".join(out)


def speedup(slow, fast):
    return "–" if slow is None or fast is None or fast == 0 else f"{slow / fast:.2f}×"


def summary(results):
    """One row per configuration and thread count: generator and whole-request speed-ups."""
    lines = ["| configuration | threads | Swift generator ms | vs PyTorch | vs ORT | Swift request ms | "
             "PyTorch request ms | request vs PyTorch | 3×3 conv / SGEMM | Swift peak RSS MiB | allocations / request (whole generate) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results.values():
        sw, pt, ox = r["swift"], r["pytorch"], r["ort"]
        conv = (f"{100 * sw['conv3x3_gmacs'] / sw['sgemm_gmacs']:.0f} %"
                if "conv3x3_gmacs" in sw and "sgemm_gmacs" in sw else "–")
        allocs = f"{sw['allocations_per_request']:.0f}" if "allocations_per_request" in sw else "–"
        if "generate_allocations_per_request" in sw:
            allocs += f" ({sw['generate_allocations_per_request']:.0f})"
        lines.append(f"| {r['config']} | {r['threads']} | {fmt(sw.get('generator'))} | "
                     f"{speedup(pt.get('generator'), sw.get('generator'))} | {speedup(ox.get('generator'), sw.get('generator'))} | "
                     f"{fmt(sw.get('request'))} | {fmt(pt.get('request'))} | {speedup(pt.get('request'), sw.get('request'))} | "
                     f"{conv} | {fmt(r['swift_rss_mib'])} | {allocs} |")
    return "\n".join(lines)
