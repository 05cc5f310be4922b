"""Every transductive method against a naive per-point loop written from its equations.

These check the vectorised arithmetic of each building block, with the options that match the
equations written here (for the clustering methods and LaplacianShot: the earlier variants,
``EARLIER``); ``test_against_official.py`` checks the defaults against the official code.
"""

import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import naive  # noqa: E402

from fewshot.transductive import (  # noqa: E402
    bound_update,
    knn_affinity,
    laplacian_kmeans,
    laplacian_kmodes,
    laplacian_shot,
    nearest_centroid,
    preprocess,
    rectify_prototypes,
    seeded_kmeans,
    soft_kmeans,
    tim_gd,
    tim_loss,
)

DTYPES = [torch.float32, torch.float64]
# the project's earlier clustering defaults, which naive.py transcribes (support fixed, no
# shift, stop when no label changes); the defaults now follow the SLK code
EARLIER = dict(shift=False, clamp_support=True, stop="labels")
TOL = {torch.float32: dict(atol=2e-4, rtol=2e-4), torch.float64: dict(atol=1e-9, rtol=1e-9)}


def episode(zs, ys, zq, e):
    return naive.rows(zs[e]), [int(v) for v in ys[e]], naive.rows(zq[e])


def check(got, want, dtype):
    want = torch.tensor(want, dtype=torch.float64)
    torch.testing.assert_close(got.double(), want, **TOL[dtype])
    assert torch.equal(got.argmax(-1), want.argmax(-1))


@pytest.mark.parametrize("dtype", DTYPES)
def test_knn_affinity(make_batch, dtype):
    zs, _, zq, _ = make_batch(dtype=dtype, seed=1)
    x = torch.cat([zs, zq], 1)
    for k in (2, 3, 5):
        w = knn_affinity(x, k)
        for e in range(x.shape[0]):
            assert w[e].tolist() == naive.knn(naive.rows(x[e]), k)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("lam", [0.0, 0.4, 1.5])
def test_bound_update(make_batch, dtype, lam):
    zs, ys, zq, _ = make_batch(dtype=dtype, seed=2)
    x = torch.cat([zs, zq], 1)
    unary = torch.cdist(x, zs[:, :3]) ** 2 / 4  # any unary will do
    w = knn_affinity(x, 3)
    fixed = torch.nn.functional.one_hot(ys[:, :3] * 0 + torch.arange(3), 3).to(dtype)  # rows 0..2
    res = bound_update(unary, w, lam, fixed)
    for e in range(x.shape[0]):
        want = naive.bound_update(naive.rows(unary[e]), w[e].tolist(), lam,
                                  {p: fixed[e, p].tolist() for p in range(3)})
        check(res.z[e], want, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_nearest_centroid_and_seeded_kmeans(make_batch, dtype):
    zs, ys, zq, _ = make_batch(dtype=dtype, seed=3, spread=0.8)
    got_nc, got_km = nearest_centroid(zs, ys, zq, 3), seeded_kmeans(zs, ys, zq, 3, **EARLIER)
    for e in range(zs.shape[0]):
        s, y, q = episode(zs, ys, zq, e)
        protos = naive.class_means(s, y, 3)
        check(got_nc[e], [naive.softmax([-naive.sqd(p, c) for c in protos]) for p in q], dtype)
        check(got_km[e], naive.seeded_kmeans(s, y, q, 3), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_soft_kmeans(make_batch, dtype):
    zs, ys, zq, _ = make_batch(dtype=dtype, seed=4)
    got = soft_kmeans(zs, ys, zq, 3, iterations=4, temperature=3.0)
    for e in range(zs.shape[0]):
        check(got[e], naive.soft_kmeans(*episode(zs, ys, zq, e), 3, 4, 3.0), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("lam", [0.0, 0.7, 1.5])
@pytest.mark.parametrize("kind", ["kmeans", "kmodes"])
def test_laplacian_clustering(make_batch, dtype, lam, kind):
    zs, ys, zq, _ = make_batch(dtype=dtype, seed=5, spread=1.0)
    fn = laplacian_kmeans if kind == "kmeans" else laplacian_kmodes
    got = fn(zs, ys, zq, 3, lam=lam, bound_iters=20, tol=1e-6, **EARLIER)
    for e in range(zs.shape[0]):
        check(got[e], naive.laplacian_clustering(*episode(zs, ys, zq, e), 3, lam, kind), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_rectified_prototypes(make_batch, dtype):
    zs, ys, zq, _ = make_batch(dtype=dtype, seed=6)
    for eps in (1.0, 10.0):
        got = rectify_prototypes(zs, ys, zq, 3, eps)
        for e in range(zs.shape[0]):
            want = torch.tensor(naive.rectify(*episode(zs, ys, zq, e), 3, eps), dtype=torch.float64)
            torch.testing.assert_close(got[e].double(), want, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rectify", ["bdcspn", "none"])
def test_laplacianshot(make_batch, dtype, rectify):
    zs, ys, zq, _ = make_batch(dtype=dtype, seed=7, spread=1.0)
    got = laplacian_shot(zs, ys, zq, 3, lam=0.8, rectify=rectify)
    for e in range(zs.shape[0]):
        check(got[e], naive.laplacianshot(*episode(zs, ys, zq, e), 3, 0.8, do_rectify=rectify == "bdcspn"),
              dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_preprocess(make_batch, dtype):
    zs, _, zq, _ = make_batch(dtype=dtype, seed=8)
    base = torch.randn(zs.shape[-1], dtype=dtype)
    ps, pq = preprocess(zs, zq, "cl2n", shift=True, base_mean=base)
    for e in range(zs.shape[0]):
        s = [[v - b for v, b in zip(r, base.tolist())] for r in naive.rows(zs[e])]
        q = [[v - b for v, b in zip(r, base.tolist())] for r in naive.rows(zq[e])]
        s = [[v / math.sqrt(sum(u * u for u in r)) for v in r] for r in s]
        q = [[v / math.sqrt(sum(u * u for u in r)) for v in r] for r in q]
        shift = [a - b for a, b in zip(naive.mean(s), naive.mean(q))]
        q = [[v + d for v, d in zip(r, shift)] for r in q]
        torch.testing.assert_close(ps[e].double(), torch.tensor(s, dtype=torch.float64), **TOL[dtype])
        torch.testing.assert_close(pq[e].double(), torch.tensor(q, dtype=torch.float64), **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_episode_cl2n_centres_each_episode_on_its_own_mean(make_batch, dtype):
    zs, _, zq, _ = make_batch(dtype=dtype, seed=9)
    ps, pq = preprocess(zs, zq, "episode-cl2n")
    for e in range(zs.shape[0]):
        points = naive.rows(zs[e]) + naive.rows(zq[e])
        mean = naive.mean(points)
        unit = [[v - m for v, m in zip(r, mean)] for r in points]
        unit = [[v / math.sqrt(sum(u * u for u in r)) for v in r] for r in unit]
        got = torch.cat([ps[e], pq[e]]).double()
        torch.testing.assert_close(got, torch.tensor(unit, dtype=torch.float64), **TOL[dtype])
    # what it is for: a shared offset (another domain's mean, far from the base mean) leaves it
    # unchanged, while cl2n with a base mean that misses the offset squeezes every point together
    offset = 50 * torch.randn(zs.shape[-1], dtype=dtype)
    moved = preprocess(zs + offset, zq + offset, "episode-cl2n")
    torch.testing.assert_close(moved[0], ps, **TOL[dtype])
    torch.testing.assert_close(moved[1], pq, **TOL[dtype])
    base = torch.zeros(zs.shape[-1], dtype=dtype)
    squeezed = preprocess(zs + offset, zq + offset, "cl2n", base_mean=base)[1]
    assert (squeezed @ squeezed.transpose(1, 2)).min() > 0.9  # every pair of queries nearly parallel
    assert (pq @ pq.transpose(1, 2)).min() < 0.5


def naive_tim_loss(w, zs, ys, zq, temperature, a, b, c):
    """Per-point loops over scalar tensors: a CE_s - (b H(mean p_q) - c mean H(p_q))."""
    n_way = w.shape[0]

    def log_probs(z):
        logits = [-0.5 * temperature * sum((z[d] - w[k, d]) ** 2 for d in range(len(z))) for k in range(n_way)]
        top = max(float(v.detach()) for v in logits)
        log_tot = torch.log(sum(torch.exp(v - top) for v in logits))
        return [v - top - log_tot for v in logits]

    def probs(z):
        return [torch.exp(v) for v in log_probs(z)]

    ce = sum(-log_probs(zs[i])[int(ys[i])] for i in range(len(zs))) / len(zs)
    pq = [probs(zq[i]) for i in range(len(zq))]
    cond = sum(-sum(p * torch.log(p + 1e-12) for p in row) for row in pq) / len(pq)
    marg = [sum(row[k] for row in pq) / len(pq) for k in range(n_way)]
    ment = -sum(m * torch.log(m + 1e-12) for m in marg)
    return a * ce - (b * ment - c * cond)


@pytest.mark.parametrize("dtype", DTYPES)
def test_tim(make_batch, dtype):
    zs, ys, zq, _ = make_batch(episodes=2, k_shot=1, n_query=2, dim=3, dtype=dtype, seed=9)
    weights = torch.randn(2, 3, zs.shape[-1], dtype=dtype)
    got = tim_loss(weights, zs, ys, zq, 15.0, (0.1, 1.0, 0.1))
    for e in range(2):
        want = naive_tim_loss(weights[e], zs[e], ys[e], zq[e], 15.0, 0.1, 1.0, 0.1)
        torch.testing.assert_close(got[e], want, **TOL[dtype])
    # Adam on the per-point loss of each episode alone == the batched method
    steps, lr = 4, 1e-2
    probs = tim_gd(zs, ys, zq, 3, steps=steps, lr=lr)
    for e in range(2):
        s, y, q = zs[e], ys[e], zq[e]
        w = naive.class_means(naive.rows(s), [int(v) for v in y], 3)
        w = torch.tensor(w, dtype=dtype, requires_grad=True)
        opt = torch.optim.Adam([w], lr=lr)
        for _ in range(steps):
            loss = naive_tim_loss(w, s, y, q, 15.0, 0.1, 1.0, 0.1)
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            want = [naive.softmax([-7.5 * naive.sqd(p, c) for c in naive.rows(w)]) for p in naive.rows(q)]
        check(probs[e], want, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_rectified_prototypes(make_batch, dtype):
    """LaplacianShot's rectification: pooled points, nearest-cosine labels, softmax over classes."""
    from fewshot.transductive import softmax_rectify_prototypes

    zs, ys, zq, _ = make_batch(dtype=dtype, seed=16)
    got = softmax_rectify_prototypes(zs, ys, zq, 3, 10.0)
    for e in range(zs.shape[0]):
        s, y, q = episode(zs, ys, zq, e)
        protos = naive.class_means(s, y, 3)
        pool = s + q
        want = []
        for k in range(3):
            members = [p for p in pool if naive.argmax([naive.cosine(p, c) for c in protos]) == k]
            wk = [naive.softmax([10.0 * naive.cosine(p, c) for c in protos])[k] for p in members]
            want.append([sum(w * p[d] for w, p in zip(wk, members)) / len(members) for d in range(len(s[0]))]
                        if members else protos[k])
        torch.testing.assert_close(got[e].double(), torch.tensor(want, dtype=torch.float64), **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_sinkhorn(dtype):
    """Rows sum to 1 and columns to Q / K after convergence; equals a per-episode loop."""
    from fewshot.transductive import sinkhorn

    g = torch.Generator().manual_seed(0)
    cost = torch.rand(4, 12, 3, generator=g, dtype=dtype)
    plan = sinkhorn(cost, 10.0)
    torch.testing.assert_close(plan.sum(2), torch.ones(4, 12, dtype=dtype), atol=1e-4, rtol=0)
    torch.testing.assert_close(plan.sum(1), torch.full((4, 3), 4.0, dtype=dtype), atol=1e-5, rtol=0)
    for e in range(4):
        p = [[math.exp(-10.0 * float(c)) for c in row] for row in cost[e]]
        tot = sum(map(sum, p))
        p = [[v / tot for v in row] for row in p]
        u = [0.0] * 12
        for _ in range(1000):
            rows = [sum(r) for r in p]
            if max(abs(a - b) for a, b in zip(u, rows)) <= 1e-6:
                break
            u = rows
            p = [[v / r for v in row] for row, r in zip(p, rows)]
            cols = [sum(row[k] for row in p) for k in range(3)]
            p = [[v * 4.0 / cols[k] for k, v in enumerate(row)] for row in p]
        torch.testing.assert_close(plan[e].double(), torch.tensor(p, dtype=torch.float64), **TOL[dtype])
