"""Precomputed features: an ``.npz`` with ``features`` (N, D) and ``labels`` (N,), optional ``domains``.

Embeddings from any model (or any vectors at all) can then be evaluated episodically, inductive
or transductive, with no images involved: :class:`FeatureSplit` has the ``labels`` /
``class_names`` / ``name`` an episode sampler needs, and ``features`` instead of images.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

from .errors import missing_data


@dataclass
class FeatureSplit:
    """Feature vectors of a split.

    Attributes:
        features: float32 (N, D).
        labels: int64 (N,), 0..C-1.
        class_names: C names (the original label values as strings).
        name: e.g. ``"features/my_embeddings"``.
        domains: optional (N,) array (e.g. which data set each row came from).
        meta: the source file and the original label values.
    """

    features: np.ndarray
    labels: np.ndarray
    class_names: List[str]
    name: str
    domains: Optional[np.ndarray] = None
    meta: Dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self.labels)


def load_features(path, domain: Optional[Any] = None) -> FeatureSplit:
    """Read a features file.

    Args:
        path: the ``.npz`` file.
        domain: keep only rows whose ``domains`` entry equals this value (needs ``domains``).

    Returns:
        FeatureSplit with labels remapped to 0..C-1 in increasing original-label order.

    Raises:
        FileNotFoundError: no such file (message says what the file must hold).
        ValueError: missing keys, wrong shapes, non-finite features, unknown domain.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise missing_data("features", path.parent, [path.name + "  (an .npz with 'features' (N, D) "
                                                     "and 'labels' (N,), optionally 'domains' (N,))"],
                           "you write it yourself, e.g. np.savez(path, features=F, labels=y).")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        if "allow_pickle" in str(err):  # object arrays: numpy's hint would be to load them unsafely
            raise ValueError(f"features file {str(path)!r} holds Python objects (object arrays); a features "
                             "file holds numeric arrays only: np.savez(path, features=F, labels=y)") from None
        reason = str(err) or ("the file is empty" if isinstance(err, EOFError) else type(err).__name__)
        raise ValueError(f"cannot read features file {str(path)!r}: {reason}. It is truncated or not an .npz "
                         "written by np.savez") from None
    missing = {"features", "labels"} - set(data)
    if missing:
        raise ValueError(f"{path} lacks {sorted(missing)}; it holds {sorted(data)}")
    feats, raw = data["features"], data["labels"]
    if feats.ndim != 2 or raw.shape != (len(feats),):
        raise ValueError(f"{path}: features must be (N, D) and labels (N,), got {feats.shape} and {raw.shape}")
    if not np.issubdtype(feats.dtype, np.number) or not np.isfinite(feats).all():
        raise ValueError(f"{path}: features must be finite numbers")
    domains = data.get("domains")
    if domains is not None and domains.shape != (len(feats),):
        raise ValueError(f"{path}: domains must be (N,), got {domains.shape}")
    if domain is not None:
        if domains is None:
            raise ValueError(f"{path} has no 'domains' array to select domain {domain!r} from")
        keep = domains.astype(str) == str(domain)
        if not keep.any():
            raise ValueError(f"{path}: no rows of domain {domain!r}; domains are {sorted(set(domains.astype(str)))}")
        feats, raw, domains = feats[keep], raw[keep], domains[keep]
    values, labels = np.unique(raw, return_inverse=True)
    return FeatureSplit(features=np.ascontiguousarray(feats, dtype=np.float32),
                        labels=labels.astype(np.int64), class_names=[str(v) for v in values],
                        name=f"features/{path.stem}" + (f"/{domain}" if domain is not None else ""),
                        domains=domains, meta={"source": str(path), "label_values": values.tolist()})
