"""Each transductive method's default against a transcription of its official code.

At least 99% identical query predictions over 200 fixed synthetic episodes, 1- and 5-shot,
float64 (the references are in ``official.py``, written from the official repositories).
Features are Gaussian classes hard enough (accuracy well below 100%) that a method departing
from its reference shows up as disagreements.
"""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import official  # noqa: E402

from fewshot.transductive import preprocess, run_method  # noqa: E402

N_WAY, N_QUERY, DIM, EPISODES = 5, 15, 32, 200
AGREE = 0.99


def episodes(shot, seed, non_negative=False, episodes=EPISODES, spread=0.45):
    """zs (E, 5 * shot, D), ys (E, 5 * shot), zq (E, 75, D), yq (75,): class-major, float64."""
    g = torch.Generator().manual_seed(seed)
    centres = spread * torch.randn(episodes, N_WAY, DIM, generator=g, dtype=torch.float64)
    zs = centres.repeat_interleave(shot, 1) + torch.randn(episodes, N_WAY * shot, DIM, generator=g,
                                                          dtype=torch.float64)
    zq = centres.repeat_interleave(N_QUERY, 1) + torch.randn(episodes, N_WAY * N_QUERY, DIM, generator=g,
                                                             dtype=torch.float64)
    if non_negative:  # post-ReLU-like features for PT-MAP's power transform
        zs, zq = zs.relu(), zq.relu()
    ys = torch.arange(N_WAY).repeat_interleave(shot).expand(episodes, -1).contiguous()
    yq = torch.arange(N_WAY).repeat_interleave(N_QUERY)
    return zs, ys, zq, yq


def compare(name, shot, reference, seed, non_negative=False, norm="l2", **options):
    zs, ys, zq, yq = episodes(shot, seed, non_negative)
    if norm == "l2":
        zs, zq = preprocess(zs, zq, "l2")
    got = run_method(name, zs, ys, zq, N_WAY, **options).argmax(-1).numpy()
    want = np.stack([reference(zs[e].numpy(), zq[e].numpy(), shot) for e in range(EPISODES)])
    agree = float((got == want).mean())
    acc_ref = float((want == yq.numpy()).mean())
    # the episodes must be hard enough for disagreements to be possible
    assert acc_ref < 0.97, f"{name}: reference accuracy {acc_ref:.3f}, episodes too easy to tell methods apart"
    assert agree >= AGREE, f"{name} {shot}-shot: {100 * agree:.2f}% of predictions agree with the official code"
    return agree, acc_ref


SHOTS = [1, 5]


@pytest.mark.parametrize("shot", SHOTS)
def test_laplacianshot(shot):
    compare("laplacianshot", shot, lambda s, q, k: official.laplacianshot(s, q, N_WAY, k, lam=0.7), seed=1)


@pytest.mark.parametrize("shot", SHOTS)
def test_laplacian_kmeans(shot):
    compare("laplacian-kmeans", shot, lambda s, q, k: official.slk(s, q, N_WAY, k, 0.7, "kmeans"), seed=2)


@pytest.mark.parametrize("shot", SHOTS)
def test_laplacian_kmodes(shot):
    compare("laplacian-kmodes", shot, lambda s, q, k: official.slk(s, q, N_WAY, k, 0.7, "MS"), seed=3)


@pytest.mark.parametrize("shot", SHOTS)
def test_kmeans(shot):
    compare("kmeans", shot, lambda s, q, k: official.slk(s, q, N_WAY, k, 0.7, "kmeans", lap_bound=False),
            seed=4)


@pytest.mark.parametrize("shot", SHOTS)
def test_bd_cspn(shot):
    compare("bd-cspn", shot, lambda s, q, k: official.bd_cspn(s, q, N_WAY, k), seed=5, norm="none")


@pytest.mark.slow  # ~20 s: the reference runs Sinkhorn in Python loops, 200 episodes x 21 times
@pytest.mark.parametrize("shot", SHOTS)
def test_pt_map(shot):
    compare("pt-map", shot, lambda s, q, k: official.pt_map(s, q, N_WAY, k, N_QUERY), seed=6,
            non_negative=True, norm="none")


@pytest.mark.slow  # ~20-50 s: 1000 Adam steps of the reference
@pytest.mark.parametrize("shot", SHOTS)
def test_tim(shot):
    """The official TIM-GD is batched over tasks itself; the reference runs it on all 200."""
    zs, ys, zq, yq = episodes(shot, seed=7)
    zs, zq = preprocess(zs, zq, "l2")
    got = run_method("tim", zs, ys, zq, N_WAY).argmax(-1)
    want = official.tim_gd(zs, ys, zq, N_WAY)
    assert float((want == yq).double().mean()) < 0.97
    assert float((got == want).double().mean()) >= AGREE


@pytest.mark.parametrize("shot", SHOTS)
def test_soft_kmeans(shot):
    """Ren et al. refine on the raw features (their method's default normalisation is none)."""
    compare("soft-kmeans", shot, lambda s, q, k: official.soft_kmeans_ren(s, q, N_WAY, k), seed=7, norm="none")


def test_earlier_soft_kmeans_default_disagrees():
    """The check can fail: this project's earlier soft K-means (10 refinements at T = 0.1 on L2
    features) is not Ren et al.'s single refinement on these raw features."""
    zs, ys, zq, _ = episodes(1, seed=7)
    ls, lq = preprocess(zs, zq, "l2")
    got = run_method("soft-kmeans", ls, ys, lq, N_WAY, iterations=10, temperature=0.1).argmax(-1).numpy()
    want = np.stack([official.soft_kmeans_ren(zs[e].numpy(), zq[e].numpy(), N_WAY, 1) for e in range(EPISODES)])
    assert float((got == want).mean()) < 0.97


def test_earlier_laplacianshot_default_disagrees():
    """The check can fail: the earlier default (BD-CSPN-style rectification, unshifted unary)
    does not reproduce the official code on these episodes."""
    zs, ys, zq, _ = episodes(1, seed=1)
    zs, zq = preprocess(zs, zq, "l2")
    got = run_method("laplacianshot", zs, ys, zq, N_WAY, rectify="bdcspn").argmax(-1).numpy()
    want = np.stack([official.laplacianshot(zs[e].numpy(), zq[e].numpy(), N_WAY, 1, 0.7)
                     for e in range(EPISODES)])
    assert float((got == want).mean()) < 0.95
