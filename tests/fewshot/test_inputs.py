"""The Normalizer against the formula it implements, ``(x / 255 - mean) / std`` channel by channel."""

import numpy as np
import pytest
import torch

from fewshot.runs.inputs import Normalizer, gather


def reference(x: np.ndarray, mean, std) -> np.ndarray:
    """Per pixel, per channel, in float64: (B, H, W[, C]) uint8 -> (B, C, H, W)."""
    x = x[..., None] if x.ndim == 3 else x
    out = np.empty((x.shape[0], x.shape[3], x.shape[1], x.shape[2]))
    for c in range(x.shape[3]):
        out[:, c] = (x[..., c] / 255.0 - mean[c]) / std[c]
    return out


@pytest.mark.parametrize("shape, mean, std", [((4, 9, 7), [0.3], [0.2]),
                                              ((5, 6, 8, 3), [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
                                              ((2, 6, 5, 1), [0.5], [0.1])])
def test_normalizer_matches_the_formula(shape, mean, std):
    x = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    got = Normalizer(mean, std)(torch.from_numpy(x))
    assert got.dtype == torch.float32 and got.is_contiguous()
    np.testing.assert_allclose(got.numpy(), reference(x, mean, std), rtol=1e-5, atol=1e-5)


def test_float_input_is_not_modified_in_place():
    x = torch.rand(2, 3, 4, 4) * 255
    before = x.clone()
    out = Normalizer([0.5] * 3, [0.25] * 3)(x)
    assert torch.equal(x, before)
    np.testing.assert_allclose(out.numpy(), ((before / 255 - 0.5) / 0.25).numpy(), rtol=1e-5, atol=1e-5)


def test_gather_reads_a_read_only_memmap(tmp_path):
    data = np.arange(5 * 2 * 2, dtype=np.uint8).reshape(5, 2, 2)
    path = tmp_path / "x.npy"
    np.save(path, data)
    mm = np.load(path, mmap_mode="r")
    assert torch.equal(gather(mm, np.array([4, 0, 4])), torch.from_numpy(data[[4, 0, 4]]))
