"""The diagnosis report: a score per link (0 = chance, 1 = ceiling), the weakest link, diagnosis.json/.md."""
from __future__ import annotations

import json
import os

import numpy as np

from ..synthbirds.attributes import ATTRIBUTE_KEYS


# ==================================================================================================
# Report
# ==================================================================================================
def pct(x, digits=1):
    return "—" if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{100 * x:.{digits}f} %"


def links(results) -> list[dict]:
    """The measured links with raw ratio and chance-normalised score."""
    out = []
    p1 = results.get("text_probes", {})
    if p1.get("sentence_summary"):
        s = p1["sentence_summary"]
        out.append({"link": "text probe (STEM sentence feature)", "value": s["pooled"], "chance": s["pooled_majority"],
                    "ceiling": 1.0, "ratio": s["pooled"], "score": s["score"]})
    p4 = results.get("damsm", {})
    p2 = results.get("oracle", {})
    if p4.get("r_precision") and p2.get("all_attributes"):
        # the ceiling: the better of the two perfect readers (uniform choice among the consistent candidates, and
        # likelihood-ratio ranking of them, which a reader of noisy probes already approaches)
        v = p4["r_precision"]["mean"]
        c = max(p2["all_attributes"]["expected_top1"], p2.get("likelihood_ratio", {}).get("expected_top1", 0.0))
        out.append({"link": "DAMSM vs oracle (real-image R-precision)", "value": v, "chance": 0.01, "ceiling": c,
                    "ratio": v / c, "score": (v - 0.01) / max(1e-9, c - 0.01)})
    p5 = results.get("discriminator", {})
    if p5.get("stages"):
        v = p5["stages"]["1"]["eval"]["share_matched_gt_mismatched"]
        out.append({"link": "D matching (stage 1, matched > mismatched)", "value": v, "chance": 0.5, "ceiling": 1.0,
                    "ratio": v, "score": (v - 0.5) / 0.5})
    p6 = results.get("generator", {})
    if p6.get("snapshots"):
        last = p6["snapshots"][-1]
        v, c, ch = last["recall"], p6["real_64"]["overall"], p6["baseline_majority"]
        out.append({"link": f"G recall vs real 64² ({last['label']})", "value": v, "chance": ch, "ceiling": c,
                    "ratio": v / max(c, 1e-9), "score": (v - ch) / max(1e-9, c - ch)})
    return out


def markdown(results) -> str:
    L = ["| link | measure | value | reference |", "|---|---|---:|---|"]
    p1 = results.get("text_probes", {})
    if p1.get("sentence_summary"):
        for kind, label in (("sentence", "sentence feature"), ("words", "word features (mean ‖ max)")):
            s = p1[f"{kind}_summary"]
            L.append(f"| 1. text probe | attribute read back from the {label}, named pairs of test captions | "
                     f"{pct(s['pooled'])} (colours {pct(s['color_mean'])}) | "
                     f"majority class {pct(s['pooled_majority'])} |")
    p2 = results.get("oracle", {})
    if p2.get("all_attributes"):
        a, c = p2["all_attributes"], p2["colour_only"]
        L.append(f"| 2. oracle | R-precision of a perfect attribute reader (top-1 of 100, expected) | "
                 f"{pct(a['expected_top1'])} ± {pct(a['folds']['std'])} | chance 1 %; "
                 f"{pct(a['share_with_consistent_distractor'])} of images have a consistent distractor |")
        L.append(f"| 2. oracle | the same, reader of colours only | {pct(c['expected_top1'])} | "
                 f"{pct(c['share_with_consistent_distractor'])} with a consistent distractor |")
        if p2.get("likelihood_ratio"):
            r = p2["likelihood_ratio"]
            L.append(f"| 2. oracle | perfect reader ranking the consistent candidates by likelihood ratio "
                     f"(Σ −log p(value) over the named pairs) | {pct(r['expected_top1'])} ± "
                     f"{pct(r['folds']['std'])} | uniform choice: {pct(a['expected_top1'])} |")
    p3 = results.get("image_probes", {})
    for kind, label in (("global", "global 1280"), ("global_local", "global + local 4×4")):
        s = p3.get(f"{kind}_summary")
        if s:
            L.append(f"| 3. image probe | attribute from frozen Lite0 {label} (test renders, all attributes) | "
                     f"{pct(s['mean'])} (colours {pct(s['color_mean'])}, plumage {pct(s['plumage_color_mean'])}) | "
                     f"majority {pct(s['majority_mean'])} |")
    for kind, label in (("global", "global 1280"), ("global_local", "global + local 4×4")):
        s = p3.get("reader", {}).get(kind)
        if s:
            oracle = (f"oracles: uniform {pct(p2.get('all_attributes', {}).get('expected_top1'))}, likelihood ratio "
                      f"{pct(p2.get('likelihood_ratio', {}).get('expected_top1'))}")
            L.append(f"| 3. probe reader | R-precision when captions are ranked by Σ log p(value \\| image) / p(value) "
                     f"of the {label} probes (top-1 of 100) | {pct(s['mean'])} ± {pct(s['std'])} | "
                     f"a reader of the frozen {label} features; {oracle} |")
    p4 = results.get("damsm", {})
    if p4.get("r_precision"):
        r = p4["r_precision"]
        ref = f"oracle {pct(p2['all_attributes']['expected_top1'])} → ratio {p4['ratio_to_oracle']:.2f}" \
            if p4.get("ratio_to_oracle") is not None else "chance 1 %"
        if p4.get("ratio_to_likelihood_ratio_oracle") is not None:
            ref += f"; likelihood-ratio oracle → ratio {p4['ratio_to_likelihood_ratio_oracle']:.2f}"
        if p4.get("ratio_to_global_probe_reader") is not None:
            ref += f"; probe reader (global) → ratio {p4['ratio_to_global_probe_reader']:.2f}"
        L.append(f"| 4. DAMSM | real-image R-precision (top-1 of 100) | {pct(r['mean'])} ± {pct(r['std'])} | {ref} |")
    p7 = results.get("damsm_ceiling", {})
    if p7.get("truth_frozen_stem"):
        it = f"{p7['iterations']} iterations of {p7['batch']}"
        L.append(f"| 7. DAMSM ceiling | R-precision of image codes fitted from the TRUE attributes, STEM frozen | "
                 f"{pct(p7['truth_frozen_stem']['mean'])} ± {pct(p7['truth_frozen_stem']['std'])} | the most any "
                 f"image encoder reaches with this text encoder ({it}) |")
        L.append(f"| 7. DAMSM ceiling | the same with the STEM trained too (from its weights) | "
                 f"{pct(p7['truth_joint_stem']['mean'])} ± {pct(p7['truth_joint_stem']['std'])} | what retraining "
                 f"the text side adds (and the generator would have to follow) |")
        for name, label in (("global_linear", "linear of the global feature (the shipped head's form)"),
                            ("global_mlp", "MLP of the global feature"),
                            ("local_conv", "two 3×3 convolutions over the local map + the global feature")):
            r = p7.get("feature_heads", {}).get(name)
            if r:
                L.append(f"| 7. DAMSM head | frozen Lite0 features, STEM frozen: {label} | {pct(r['mean'])} ± "
                         f"{pct(r['std'])} | {r['parameters']:,} parameters, {r['seconds']:.0f} s |")
    p5 = results.get("discriminator", {})
    for s, r in sorted(p5.get("stages", {}).items()):
        L.append(f"| 5. D matching | stage {s} ({r['size']}px): real image scores own caption above a mismatched "
                 f"one | {pct(r['eval']['share_matched_gt_mismatched'])} (BN batch: "
                 f"{pct(r['batch']['share_matched_gt_mismatched'])}) | chance 50 % |")
    p6 = results.get("generator", {})
    if p6.get("snapshots"):
        for row in p6["snapshots"]:
            L.append(f"| 6. G recall | {row['label']} (it {row['it']}): named pairs the classifier finds in 64² "
                     f"images | {pct(row['recall'])} (colours {pct(row['color'])}) | real 64² "
                     f"{pct(p6['real_64']['overall'])} (colours {pct(p6['real_64']['color'])}), majority "
                     f"{pct(p6['baseline_majority'])} |")
    L.append("")
    lk = results.get("links", [])
    if lk:
        L += ["| link | value | chance | ceiling | value / ceiling | score (0 chance, 1 ceiling) |",
              "|---|---:|---:|---:|---:|---:|"]
        for r in lk:
            L.append(f"| {r['link']} | {pct(r['value'])} | {pct(r['chance'])} | {pct(r['ceiling'])} | "
                     f"{r['ratio']:.2f} | {r['score']:.2f} |")
        L.append("")
    L.append(f"weakest link: {results.get('weakest_link', 'not determined (no link measured)')}")
    L.append("")
    # per-attribute table
    t_s, t_w = p1.get("sentence", {}), p1.get("words", {})
    i_g, i_gl = p3.get("global", {}), p3.get("global_local", {})
    attrs = [a for a in ATTRIBUTE_KEYS if a in t_s or a in i_g or a in i_gl]
    if attrs:
        L += ["| attribute | test captions naming it | majority (captions) | text: sentence | text: words | "
              "majority (images) | image: global | image: global + local |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for a in attrs:
            g = lambda d, k="accuracy": pct(d[a][k]) if a in d else "—"  # noqa: E731
            L.append(f"| {a} | {t_s[a]['n_test'] if a in t_s else 0} | {g(t_s, 'majority')} | {g(t_s)} | {g(t_w)} | "
                     f"{g(i_g, 'majority')} | {g(i_g)} | {g(i_gl)} |")
        L.append("")
        single = p1.get("sentence_summary", {}).get("single_value_excluded")
        if single:
            L.append(f"Captions name {', '.join(single)} with one value only; the text-probe summaries leave them out.")
            L.append("")
    for key, msg in results.get("skipped", {}).items():
        L.append(f"- part {key} skipped: {msg}")
    return "\n".join(L) + "\n"


def write_report(results: dict, out: str) -> str:
    """Links, weakest link, diagnosis.json and diagnosis.md (also printed)."""
    from ..evaluate import _jsonable

    lk = links(results)
    results["links"] = lk
    results.pop("weakest_link", None)
    if lk:
        w = min(lk, key=lambda r: r["score"])
        results["weakest_link"] = (f"{w['link']}: score {w['score']:.2f} (value {100 * w['value']:.1f} %, chance "
                                   f"{100 * w['chance']:.1f} %, ceiling {100 * w['ceiling']:.1f} %)")
    md = "# Diagnosis: each link of the text-to-image chain\n\n"
    md += (f"Text encoder: {results.get('text_encoder', '—')}; run: {results.get('run')}; "
           f"{results.get('images') or results.get('oracle', {}).get('images', '?')} evaluation images.\n\n")
    md += markdown(results)
    with open(os.path.join(out, "diagnosis.json"), "w") as f:
        json.dump(_jsonable(results), f, indent=2)
    with open(os.path.join(out, "diagnosis.md"), "w") as f:
        f.write(md)
    print(md)
    return md
