"""2-D projections of feature vectors for plots: PCA and exact t-SNE, in NumPy.

Both are deterministic (t-SNE starts from the scaled PCA projection, not from random points), so
the same features always give the same figure. Exact t-SNE costs O(n^2) per iteration: meant for
the few hundred points of an embedding plot, not for whole data sets.
"""

from __future__ import annotations

import numpy as np


def pca_2d(x: np.ndarray) -> np.ndarray:
    """Project ``x`` (n, d) onto its two leading principal axes -> (n, 2).

    The sign of each axis is fixed (largest-magnitude loading positive) so results are stable.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"pca_2d needs an (n, d) array with n >= 2, got shape {x.shape}")
    centred = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt[:2]
    if len(axes) < 2:  # d == 1: pad with a zero axis
        axes = np.vstack([axes, np.zeros_like(axes)])
    signs = np.sign(axes[np.arange(2), np.abs(axes).argmax(axis=1)])
    axes = axes * np.where(signs == 0, 1, signs)[:, None]
    return centred @ axes.T


def _affinities(d2: np.ndarray, perplexity: float) -> np.ndarray:
    """Row-wise Gaussian affinities whose entropy matches log(perplexity) (binary search)."""
    n = len(d2)
    p = np.zeros((n, n))
    target = np.log(perplexity)
    for i in range(n):
        row = np.delete(d2[i], i)
        lo, hi, beta = 0.0, np.inf, 1.0
        for _ in range(64):
            w = np.exp(-(row - row.min()) * beta)
            s = w.sum()
            h = np.log(s) + beta * np.sum((row - row.min()) * w) / s
            if abs(h - target) < 1e-5:
                break
            if h > target:  # too flat: narrower kernel
                lo, beta = beta, beta * 2 if hi == np.inf else (beta + hi) / 2
            else:
                hi, beta = beta, (beta + lo) / 2
        p[i, np.arange(n) != i] = w / s
    return p


def tsne_2d(x: np.ndarray, perplexity: float = 15.0, iterations: int = 750) -> np.ndarray:
    """Exact t-SNE (van der Maaten & Hinton, 2008) of ``x`` (n, d) -> (n, 2).

    Gradient descent with momentum, per-coordinate gains and early exaggeration (12 for the
    first 250 iterations), as in the authors' reference implementation.
    """
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    if n < 4:
        raise ValueError(f"t-SNE needs at least 4 points, got {n}")
    perplexity = min(perplexity, (n - 1) / 3)
    sq = (x * x).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0)
    p = _affinities(d2, perplexity)
    p = np.maximum((p + p.T) / (2 * n), 1e-12)
    y = pca_2d(x)
    y = 1e-4 * y / max(y[:, 0].std(), 1e-12)
    velocity, gains = np.zeros_like(y), np.ones_like(y)
    lr = max(n / 12 / 4, 50.0)
    for it in range(iterations):
        exaggeration = 12.0 if it < 250 else 1.0
        diff = y[:, None, :] - y[None, :, :]  # (n, n, 2)
        kernel = 1.0 / (1.0 + (diff ** 2).sum(-1))
        np.fill_diagonal(kernel, 0.0)
        q = np.maximum(kernel / kernel.sum(), 1e-12)
        grad = 4.0 * (((exaggeration * p - q) * kernel)[:, :, None] * diff).sum(1)
        same = np.sign(grad) == np.sign(velocity)
        gains = np.maximum(np.where(same, gains * 0.8, gains + 0.2), 0.01)
        velocity = (0.5 if it < 250 else 0.8) * velocity - lr * gains * grad
        y = y + velocity
        y = y - y.mean(0)
    return y


def project_2d(x: np.ndarray, method: str = "pca") -> np.ndarray:
    """``"pca"`` or ``"tsne"`` projection of ``x`` (n, d) -> (n, 2)."""
    if method == "pca":
        return pca_2d(x)
    if method == "tsne":
        return tsne_2d(x)
    raise ValueError(f"unknown projection {method!r}; choose pca or tsne")
