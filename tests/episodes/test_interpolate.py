"""Task interpolation machinery of episodes.interpolate: pairing, alignment, lambda, mixing, labels."""

import numpy as np
import pytest
import torch

from episodes.interpolate import (
    AlignClasses,
    BetaLambda,
    ConstantLambda,
    CutMix,
    MixLabels,
    Mixup,
    MLTIMixer,
    PairTasks,
    TaskBatch,
    align_classes,
    cutmix_box,
    hard_labels,
    meta_batches,
    soft_labels,
    stack_tasks,
)


def make_batch(b=4, n_way=5, k=2, q=3, shape=(1, 8, 8), seed=0, dtype=torch.float32):
    """B class-major tasks; every pixel of a sample holds a unique id: task*1000 + position."""
    g = torch.Generator().manual_seed(seed)
    ys = torch.arange(n_way).repeat_interleave(k).repeat(b, 1)
    yq = torch.arange(n_way).repeat_interleave(q).repeat(b, 1)
    xs = torch.rand(b, n_way * k, *shape, generator=g, dtype=dtype)
    xq = torch.rand(b, n_way * q, *shape, generator=g, dtype=dtype)
    return TaskBatch(xs, ys, xq, yq)


# ---- meta-batches ---------------------------------------------------------------------------
def test_meta_batches_groups_lazily_and_keeps_the_tail():
    pulled = []

    def stream():
        for i in range(10):
            pulled.append(i)
            yield i

    it = meta_batches(stream(), 4)
    assert next(it) == [0, 1, 2, 3]
    assert pulled == [0, 1, 2, 3]  # nothing pulled ahead of the group
    assert list(it) == [[4, 5, 6, 7], [8, 9]]
    assert list(meta_batches(range(10), 4, drop_last=True)) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    with pytest.raises(ValueError, match="size"):
        list(meta_batches(range(3), 0))


def test_stack_tasks_round_trip_and_shape_check():
    batch = make_batch(b=3)
    tasks = [batch.task(i) for i in range(3)]
    again = stack_tasks(tasks)
    for a, b in zip(batch, again):
        assert torch.equal(a, b)
    bad = tasks[:2] + [(tasks[2][0][:-1], tasks[2][1][:-1], tasks[2][2], tasks[2][3])]
    with pytest.raises(ValueError, match="one shape"):
        stack_tasks(bad)
    with pytest.raises(ValueError, match="at least one"):
        stack_tasks([])


# ---- pairing --------------------------------------------------------------------------------
def test_pairing_strategies():
    rng = np.random.default_rng(0)
    for _ in range(200):
        p = PairTasks("random")(rng, 5)
        assert (p != np.arange(5)).all() and ((0 <= p) & (p < 5)).all()
        r = PairTasks("released", p_cross=0.5)(rng, 4)
        assert all(r[i] in (i, (i + 1) % 4) for i in range(4))
    assert (PairTasks("cyclic")(rng, 3) == [1, 2, 0]).all()
    assert (PairTasks("self")(rng, 3) == [0, 1, 2]).all()
    assert (PairTasks("random")(rng, 1) == [0]).all()
    cross = np.mean([(PairTasks("released")(rng, 4) != np.arange(4)).mean() for _ in range(2000)])
    assert abs(cross - 0.5) < 0.03
    counts = np.bincount(np.concatenate([PairTasks("random")(rng, 4) for _ in range(3000)]), minlength=4)
    assert counts.min() > 0.9 * counts.mean()  # partners uniform
    with pytest.raises(ValueError, match="pairing strategy"):
        PairTasks("nearest")


# ---- class alignment ------------------------------------------------------------------------
def naive_align(x, labels, perm):
    """From the definition: slot n of class c gets the r-th sample of old class perm[c]."""
    out = torch.empty_like(x)
    for c in range(len(perm)):
        slots = [n for n in range(len(labels)) if labels[n] == c]
        sources = [n for n in range(len(labels)) if labels[n] == perm[c]]
        for s, src in zip(slots, sources):
            out[s] = x[src]
    return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_align_classes_matches_naive_loop_and_keeps_class_counts(dtype):
    rng = np.random.default_rng(1)
    batch = make_batch(b=3, dtype=dtype)
    # also a non-class-major layout
    shuffled = torch.stack([torch.from_numpy(rng.permutation(10)) for _ in range(3)])
    ys = torch.gather(batch.support_labels, 1, shuffled)
    xs = batch.support[torch.arange(3).unsqueeze(1), shuffled]
    perms = AlignClasses()(rng, 3, 5)
    for x, y in ((batch.support, batch.support_labels), (xs, ys)):
        ax, ay = align_classes(x, y, perms)
        assert torch.equal(ay, y)  # same layout, same labels: counts kept slot by slot
        for b in range(3):
            assert torch.equal(ax[b], naive_align(x[b], y[b], perms[b]))
            # every sample appears exactly once: alignment is a permutation of the task
            assert torch.equal(ax[b].flatten(1).sum(1).sort().values, x[b].flatten(1).sum(1).sort().values)


def test_align_classes_errors_and_identity():
    batch = make_batch(b=2)
    ident = AlignClasses(permute=False)(np.random.default_rng(0), 2, 5)
    ax, _ = align_classes(batch.support, batch.support_labels, ident)
    assert torch.equal(ax, batch.support)
    with pytest.raises(ValueError, match="permutation"):
        align_classes(batch.support, batch.support_labels, torch.tensor([[0, 0, 1, 2, 3]] * 2))
    uneven = torch.tensor([[0, 0, 0, 1, 1, 2, 2, 3, 3, 4]] * 2)
    with pytest.raises(ValueError, match="counts"):
        align_classes(batch.support, uneven, torch.tensor([[1, 0, 2, 3, 4]] * 2))


# ---- lambda ---------------------------------------------------------------------------------
def test_beta_lambda_moments_and_checks():
    rng = np.random.default_rng(2)
    lam = BetaLambda(2.0)(rng, 20000)
    assert abs(lam.mean() - 0.5) < 0.01 and abs(lam.var() - 0.05) < 0.003  # Beta(2,2): var = 1/20
    lam = BetaLambda(2.0, 5.0)(rng, 20000)
    assert abs(lam.mean() - 2 / 7) < 0.01
    assert ConstantLambda(1.0)(rng, 3).tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="> 0"):
        BetaLambda(0.0)


# ---- mixing ---------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_mixup_matches_equation(dtype):
    a, b = make_batch(dtype=dtype, seed=1).support, make_batch(dtype=dtype, seed=2).support
    lam = np.array([0.0, 0.3, 0.8, 1.0])
    mixed, eff = Mixup()(a, b, lam)
    for t in range(4):
        torch.testing.assert_close(mixed[t], lam[t] * a[t] + (1 - lam[t]) * b[t])
    assert eff.tolist() == lam.tolist()


def test_cutmix_box_area_matches_lambda():
    rng = np.random.default_rng(3)
    h = w = 84
    for lam in rng.uniform(0, 1, 300):
        top, bottom, left, right = cutmix_box(h, w, lam, rng)
        side = int(h * np.sqrt(1 - lam))
        assert 0 <= top <= bottom <= h and 0 <= left <= right <= w
        assert bottom - top <= side and right - left <= side
        if top > 0 and bottom < h and left > 0 and right < w:  # unclipped: exact side
            assert (bottom - top, right - left) == (side, side)
            assert abs((1 - lam) - side * side / (h * w)) < (2 * side + 1) / (h * w)
    a = torch.zeros(6, 10, 3, h, w)
    b = torch.ones(6, 10, 3, h, w)
    lam = rng.uniform(0, 1, 6)
    mixed, eff = CutMix()(a, b, lam, rng)
    share_a = 1 - mixed.mean(dim=(1, 2, 3, 4)).double()  # fraction of pixels still from a
    torch.testing.assert_close(share_a, eff)
    # one box per task tensor: every sample (and channel) of a task shares the mask
    assert torch.equal(mixed, mixed[:, :1, :1].expand_as(mixed))
    # the mean effective lambda follows the drawn one (clipping only enlarges a's share)
    lams = rng.uniform(0, 1, 2000)
    effs = CutMix()(torch.zeros(2000, 1, 1, 32, 32), torch.ones(2000, 1, 1, 32, 32), lams, rng)[1].numpy()
    assert (effs >= lams - 2 * 32 / 1024).all()


def test_mixing_with_lambda_one_returns_the_anchor():
    a, b = make_batch(seed=1).support, make_batch(seed=2).support
    for mixer in (Mixup(), CutMix()):
        mixed, eff = mixer(a, b, 1.0, np.random.default_rng(0))
        assert torch.equal(mixed, a) and (eff == 1).all()
    with pytest.raises(ValueError, match="lambda"):
        Mixup()(a, b, 1.5)


# ---- labels ---------------------------------------------------------------------------------
def test_soft_labels_sum_to_one_and_match_equation():
    rng = np.random.default_rng(4)
    y_a = torch.from_numpy(rng.integers(0, 5, (4, 12)))
    y_b = torch.from_numpy(rng.integers(0, 5, (4, 12)))
    lam = rng.uniform(0, 1, 4)
    soft = soft_labels(y_a, y_b, lam, 5)
    torch.testing.assert_close(soft.sum(-1), torch.ones(4, 12))
    for t in range(4):
        for n in range(12):
            want = torch.zeros(5)
            want[y_a[t, n]] += lam[t]
            want[y_b[t, n]] += 1 - lam[t]
            torch.testing.assert_close(soft[t, n], want)
    hard = hard_labels(y_a, y_b, lam)
    for t in range(4):
        assert torch.equal(hard[t], y_a[t] if lam[t] >= 0.5 else y_b[t])


def test_mix_labels_settings():
    y = torch.arange(5).repeat_interleave(2).repeat(3, 1)
    assert torch.equal(MixLabels()(y, y, [0.2, 0.5, 0.9], 5), y)
    soft = MixLabels(soft=True)(y, y, 0.3, 5)
    assert torch.equal(soft, torch.nn.functional.one_hot(y, 5).float())
    with pytest.raises(ValueError, match="aligned"):
        MixLabels()(y, y.flip(1), 0.5, 5)
    shared = MixLabels(label_sharing=True, soft=True)(y, y.flip(1), 0.5, 5)
    torch.testing.assert_close(shared.sum(-1), torch.ones(3, 10))


# ---- the composed recipe ------------------------------------------------------------------
def test_mlti_with_lambda_one_reproduces_the_original_tasks():
    batch = make_batch()
    for mixer in (Mixup(), CutMix()):
        recipe = MLTIMixer(pairing=PairTasks("random"), lam=ConstantLambda(1.0), mixer=mixer)
        out = recipe(batch, np.random.default_rng(5))
        for a, b in zip(out.batch, batch):
            assert torch.equal(a, b)


def test_mlti_mixes_each_class_with_the_partners_permuted_class():
    batch = make_batch(b=3, k=1, q=1, shape=(1, 1, 1))
    # the value of every sample encodes (task, class): 10 * task + class
    code = (10 * torch.arange(3).view(3, 1) + torch.arange(5).view(1, 5)).float().view(3, 5, 1, 1, 1)
    batch = TaskBatch(code, batch.support_labels, code.clone(), batch.query_labels)
    rng = np.random.default_rng(6)
    out = MLTIMixer(pairing=PairTasks("cyclic"), lam=ConstantLambda(0.5), mixer=Mixup())(batch, rng)
    partners, perms = out.paired.partners, out.paired.perms
    for t in range(3):
        for c in range(5):
            want = 0.5 * (10 * t + c) + 0.5 * (10 * partners[t] + perms[t, c])
            assert float(out.batch.support[t, c]) == pytest.approx(want)
            assert float(out.batch.query[t, c]) == pytest.approx(want)  # support and query agree
    assert torch.equal(out.batch.support_labels, batch.support_labels)  # hard labels: the anchor's c
    # pairing keeps class counts
    counts = torch.nn.functional.one_hot(out.batch.query_labels, 5).sum(1)
    assert (counts == 1).all()
