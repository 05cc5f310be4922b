"""The bound optimiser: each step minimises its bound, support rows never move."""

import pytest
import torch

from fewshot.transductive import (
    bound_step,
    bound_update,
    bound_value,
    edge_sum,
    entropy_energy,
    knn_affinity,
    knn_neighbours,
    propagate,
)


def problem(seed, episodes=6, points=14, n_way=4, dim=6, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(episodes, points, dim, generator=g, dtype=dtype)
    centres = torch.randn(episodes, n_way, dim, generator=g, dtype=dtype)
    unary = torch.cdist(x, centres) ** 2
    fixed = torch.nn.functional.one_hot(torch.arange(n_way).expand(episodes, -1), n_way).to(dtype)
    return x, unary, knn_affinity(x, 3), fixed


def random_assignments(like, fixed, seed):
    g = torch.Generator().manual_seed(seed)
    z = torch.rand(like.shape, generator=g, dtype=like.dtype).pow(3)
    z = z / z.sum(-1, keepdim=True)
    return torch.cat([fixed, z[:, fixed.shape[1]:]], 1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("lam", [0.1, 0.7, 1.5, 5.0])
def test_bound_never_increases(dtype, lam):
    for seed in range(5):
        _, unary, w, fixed = problem(seed, dtype=dtype)
        z = torch.cat([fixed, (-unary[:, fixed.shape[1]:]).softmax(-1)], 1)
        slack = 1e-4 if dtype == torch.float32 else 1e-10
        for i in range(20):
            z_new, _, b = bound_step(z, unary, w, lam, fixed)
            before, after = bound_value(z, unary, b, lam), bound_value(z_new, unary, b, lam)
            # the bound is tight at the linearisation point ...
            torch.testing.assert_close(before, entropy_energy(z, unary, w, lam))
            # ... and the step never increases it
            assert bool((after <= before + slack * before.abs().clamp_min(1)).all()), (seed, i, before - after)
            # the step is the bound's minimiser: no other feasible Z does better
            for r in range(3):
                other = random_assignments(z, fixed, 100 * seed + 10 * i + r)
                assert bool((after <= bound_value(other, unary, b, lam) + slack).all())
            z = z_new


def test_fixed_rows_never_change():
    _, unary, w, fixed = problem(1)
    # make the fixed rows' unary prefer another class, so free rows would move
    unary[:, :fixed.shape[1]] = 10.0 * (1 - fixed.roll(1, -1))
    res = bound_update(unary, w, 3.0, fixed)
    assert torch.equal(res.z[:, :fixed.shape[1]], fixed)
    assert torch.equal(res.labels[:, :fixed.shape[1]], fixed.argmax(-1))
    unfixed = bound_update(unary, w, 3.0, None)
    assert not torch.equal(unfixed.labels[:, :fixed.shape[1]], fixed.argmax(-1))


def test_lambda_zero_is_softmax_of_unary():
    _, unary, w, _ = problem(2)
    res = bound_update(unary, w, 0.0)
    torch.testing.assert_close(res.z, (-unary).softmax(-1), rtol=1e-12, atol=1e-15)
    assert torch.equal(res.labels, unary.argmin(-1))


def test_stops_on_relative_energy_change():
    _, unary, w, fixed = problem(3)
    for tol, cap in ((1e-6, 20), (0.0, 7), (1e9, 20)):
        res = bound_update(unary, w, 0.8, fixed, max_iter=cap, tol=tol)
        if tol == 1e9:  # any change is small enough: stop at the first check (third update)
            assert res.iterations.tolist() == [3] * unary.shape[0]
        elif tol == 0.0:
            assert int(res.iterations.max()) <= cap
        else:
            assert bool((res.iterations >= 3).all()) and bool((res.iterations <= 20).all())
        torch.testing.assert_close(res.energy, entropy_energy(res.z, unary, w, 0.8))


def test_batched_equals_one_at_a_time():
    _, unary, w, fixed = problem(4, episodes=7)
    res = bound_update(unary, w, 1.2, fixed)
    for e in range(unary.shape[0]):
        one = bound_update(unary[e:e + 1], w[e:e + 1], 1.2, fixed[e:e + 1])
        torch.testing.assert_close(res.z[e:e + 1], one.z, rtol=1e-12, atol=1e-12)
        assert int(res.iterations[e]) == int(one.iterations[0])


def test_knn_affinity_shape_and_errors():
    x = torch.randn(2, 6, 3)
    w = knn_affinity(x, 3)
    assert w.shape == (2, 6, 6)
    assert torch.equal(w.sum(-1), torch.full((2, 6), 2.0))
    assert float(w.diagonal(dim1=1, dim2=2).abs().sum()) == 0.0
    # duplicates: the point itself is still excluded
    dup = torch.zeros(1, 4, 3)
    assert float(knn_affinity(dup, 3).diagonal(dim1=1, dim2=2).sum()) == 0.0
    with pytest.raises(ValueError, match="knn"):
        knn_affinity(x, 1)
    with pytest.raises(ValueError, match="smaller knn"):
        knn_affinity(x, 7)


def test_neighbour_lists_equal_the_dense_graph():
    x, unary, w, fixed = problem(5)
    idx = knn_neighbours(x, 4)
    dense = knn_affinity(x, 4)
    z = unary.softmax(-1)
    torch.testing.assert_close(propagate(idx, z), propagate(dense, z), rtol=1e-13, atol=1e-13)
    v = torch.rand(x.shape[0], x.shape[1], x.shape[1], dtype=x.dtype)
    torch.testing.assert_close(edge_sum(idx, v), edge_sum(dense, v), rtol=1e-13, atol=1e-13)
    a, b = bound_update(unary, idx, 0.9, fixed), bound_update(unary, dense, 0.9, fixed)
    torch.testing.assert_close(a.z, b.z, rtol=1e-12, atol=1e-12)
    assert torch.equal(a.iterations, b.iterations)
