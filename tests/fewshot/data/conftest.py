"""Writers of miniature copies of each data layout (a few classes, tiny images).

Images are saved as PNG (lossless, even under a ``.jpg`` name: PIL reads by content), so a test
can compare cached pixels with the array that was written.
"""

from __future__ import annotations

import gzip
import json
import pickle
import struct
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    """Every test gets its own default data folder, so caches never leak between tests."""
    d = tmp_path / "fewshot-data"
    monkeypatch.setenv("FEWSHOT_DATA", str(d))
    return d


def pixels(seed: int, size: int = 8, channels: int = 3) -> np.ndarray:
    """A reproducible random image (size, size[, 3]) uint8."""
    shape = (size, size) if channels == 1 else (size, size, 3)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def save(path: Path, arr: np.ndarray) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, format="PNG")
    return arr


def image_tree(root: Path, classes: Dict[str, int], size: int = 8, channels: int = 3,
               ext: str = ".jpg", seed: int = 0) -> Dict[str, List[np.ndarray]]:
    """``root/<class>/<i><ext>`` for each class; returns the written arrays per class."""
    out = {}
    for c, (name, n) in enumerate(classes.items()):
        out[name] = [save(root / name / f"{i:03d}{ext}", pixels(seed * 1000 + c * 50 + i, size, channels))
                     for i in range(n)]
    return out


def write_pickle(path: Path, obj, protocol: int = 2) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(obj, protocol=protocol))


def write_idx(path: Path, arr: np.ndarray, gz: bool = True) -> None:
    """The idx format: 0, 0, type 0x08 (ubyte), ndim, big-endian uint32 dims, then the bytes."""
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    raw = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(raw) if gz else raw)


def write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def mini_csv(root: Path, split: str, wnids: List[str], per_class: int) -> List[List[str]]:
    """A Ravi split CSV; filename = wnid + 8-digit 1-based index + .jpg."""
    rows = [[f"{w}{i + 1:08d}.jpg", w] for w in wnids for i in range(per_class)]
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{split}.csv").write_text("filename,label\n" + "".join(f"{f},{w}\n" for f, w in rows))
    return rows


@pytest.fixture
def w():
    """The writers above, as ``w.image_tree(...)`` etc. (test modules cannot import conftest)."""
    from types import SimpleNamespace

    return SimpleNamespace(pixels=pixels, save=save, image_tree=image_tree, write_pickle=write_pickle,
                           write_idx=write_idx, write_json=write_json, mini_csv=mini_csv)
