"""2-D projections of feature vectors for plots: PCA (NumPy) and t-SNE (scikit-learn's, the
``plots`` extra).

Both are deterministic (t-SNE starts from the PCA projection with a fixed seed), so the same
features always give the same figure. t-SNE is exact up to 500 points (an embedding plot's few
hundred), Barnes-Hut beyond.
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


def tsne_2d(x: np.ndarray, perplexity: float = 15.0, iterations: int = 750, seed: int = 0) -> np.ndarray:
    """t-SNE (van der Maaten & Hinton, 2008) of ``x`` (n, d) -> (n, 2), by scikit-learn's
    ``sklearn.manifold.TSNE`` (PCA initialisation, seeded: the same points give the same map).

    Args:
        perplexity: effective number of neighbours (lowered to (n - 1) / 3 for few points).
        iterations: optimisation steps (at least 250).

    Raises:
        ValueError: fewer than 4 points, or scikit-learn is not installed (``pip install
            'fewshot[plots]'``; PCA needs nothing more).
    """
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    if n < 4:
        raise ValueError(f"t-SNE needs at least 4 points, got {n}")
    try:
        from sklearn.manifold import TSNE
    except ImportError:
        raise ValueError("t-SNE needs scikit-learn: pip install 'fewshot[plots]' (or scikit-learn), "
                         "or draw a PCA (fewshot plot --method pca)") from None
    tsne = TSNE(n_components=2, perplexity=min(perplexity, (n - 1) / 3), init="pca", random_state=seed,
                max_iter=max(250, int(iterations)), learning_rate="auto", method="exact" if n <= 500 else "barnes_hut")
    return tsne.fit_transform(x).astype(np.float64)


def project_2d(x: np.ndarray, method: str = "pca") -> np.ndarray:
    """``"pca"`` or ``"tsne"`` projection of ``x`` (n, d) -> (n, 2)."""
    if method == "pca":
        return pca_2d(x)
    if method == "tsne":
        return tsne_2d(x)
    raise ValueError(f"unknown projection {method!r}; choose pca or tsne")
