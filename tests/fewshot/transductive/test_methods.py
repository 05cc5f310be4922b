"""Contract and invariance tests over every registered method."""

import pytest
import torch

from fewshot.transductive import (
    METHODS,
    available_methods,
    get_method,
    laplacian_clustering,
    laplacian_kmeans,
    laplacian_kmodes,
    laplacian_shot,
    nearest_centroid,
    run_method,
    seeded_kmeans,
)

ALL = available_methods()


def test_registry_lists_the_issue_methods():
    assert {"kmeans", "soft-kmeans", "laplacian-kmeans", "laplacian-kmodes", "laplacianshot", "tim",
            "nearest-centroid"} <= set(ALL)
    assert not METHODS["nearest-centroid"].transductive
    assert {m for m in ALL if get_method(m).has_lambda} == {"laplacian-kmeans", "laplacian-kmodes",
                                                            "laplacianshot"}


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_contract(name, dtype, make_batch, fast_options, for_method):
    zs, ys, zq, yq = make_batch(episodes=4, n_way=4, k_shot=3, n_query=5, dim=8, dtype=dtype, spread=3.0)
    zs, zq = for_method(name, zs, zq)
    probs = run_method(name, zs, ys, zq, 4, **fast_options(name))
    assert probs.shape == (4, 20, 4) and probs.dtype == dtype
    assert bool((probs >= 0).all())
    torch.testing.assert_close(probs.sum(-1), torch.ones(4, 20, dtype=dtype))
    assert torch.equal(probs, run_method(name, zs, ys, zq, 4, **fast_options(name)))  # deterministic
    # well-separated classes: every method must get (almost) everything right
    assert float((probs.argmax(-1) == yq).double().mean()) >= 0.95


@pytest.mark.parametrize("name", ALL)
def test_query_order_does_not_matter(name, make_batch, fast_options, for_method):
    zs, ys, zq, _ = make_batch(episodes=3, dim=6, spread=1.2, seed=11)
    zs, zq = for_method(name, zs, zq)
    probs = run_method(name, zs, ys, zq, 3, **fast_options(name))
    g = torch.Generator().manual_seed(0)
    perms = torch.stack([torch.randperm(zq.shape[1], generator=g) for _ in range(3)])
    shuffled = torch.gather(zq, 1, perms.unsqueeze(-1).expand_as(zq))
    got = run_method(name, zs, ys, shuffled, 3, **fast_options(name))
    want = torch.gather(probs, 1, perms.unsqueeze(-1).expand(-1, -1, 3))
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", ALL)
def test_batched_equals_one_episode_at_a_time(name, make_batch, fast_options, for_method):
    zs, ys, zq, _ = make_batch(episodes=6, dim=6, spread=1.0, seed=12)
    zs, zq = for_method(name, zs, zq)
    batched = run_method(name, zs, ys, zq, 3, **fast_options(name))
    for e in range(6):
        one = run_method(name, zs[e:e + 1], ys[e:e + 1], zq[e:e + 1], 3, **fast_options(name))
        torch.testing.assert_close(batched[e:e + 1], one, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_lambda_zero_is_exactly_seeded_kmeans(make_batch, dtype):
    for seed in range(4):
        zs, ys, zq, _ = make_batch(episodes=8, dim=4, spread=0.7, dtype=dtype, seed=seed)
        km = seeded_kmeans(zs, ys, zq, 3)
        lk = laplacian_kmeans(zs, ys, zq, 3, lam=0.0)
        torch.testing.assert_close(lk, km, rtol=0, atol=0)
    # and LaplacianShot without rectification or Laplacian is the nearest centroid
    torch.testing.assert_close(laplacian_shot(zs, ys, zq, 3, lam=0.0, rectify=False),
                               nearest_centroid(zs, ys, zq, 3), rtol=0, atol=0)


def test_kmeans_moves_away_from_the_prototypes(make_batch):
    """Guard against a vacuous lam=0 test: K-means must differ from the nearest centroid somewhere."""
    zs, ys, zq, _ = make_batch(episodes=8, dim=4, spread=0.7, seed=1)
    assert not torch.equal(seeded_kmeans(zs, ys, zq, 3).argmax(-1), nearest_centroid(zs, ys, zq, 3).argmax(-1))


@pytest.mark.parametrize("kind", ["kmeans", "kmodes"])
@pytest.mark.parametrize("lam", [0.0, 0.5, 3.0])
def test_support_assignments_never_change(make_batch, kind, lam):
    """With clamp_support=True (the earlier default; the SLK code lets them change)."""
    zs, ys, zq, _ = make_batch(episodes=5, dim=4, spread=0.5, seed=13)
    # swap two support labels in every episode, so the support sits in the "wrong" cluster
    ys = ys.clone()
    ys[:, [0, -1]] = ys[:, [-1, 0]]
    res = laplacian_clustering(zs, ys, zq, 3, lam, kind, clamp_support=True)
    n_support = zs.shape[1]
    assert torch.equal(res.labels[:, :n_support], ys)
    assert torch.equal(res.z[:, :n_support], torch.nn.functional.one_hot(ys, 3).double())
    # the default follows the SLK code: a support point in the "wrong" cluster may leave it
    free = laplacian_clustering(zs, ys, zq, 3, lam, kind)
    assert not torch.equal(free.labels[:, :n_support], ys)


def test_laplacian_changes_predictions(make_batch):
    """A large Laplacian weight must matter (neighbours agree more than without it)."""
    zs, ys, zq, _ = make_batch(episodes=8, dim=4, spread=0.6, seed=14)
    for fn in (laplacian_kmeans, laplacian_kmodes, laplacian_shot):
        assert not torch.equal(fn(zs, ys, zq, 3, lam=0.0).argmax(-1), fn(zs, ys, zq, 3, lam=3.0).argmax(-1))


def test_errors_name_the_problem(make_batch):
    zs, ys, zq, _ = make_batch()
    with pytest.raises(ValueError, match="unknown transductive method 'kmean'.*available"):
        run_method("kmean", zs, ys, zq, 3)
    with pytest.raises(ValueError, match="has no option.*lam.*its options: max_iter"):
        run_method("kmeans", zs, ys, zq, 3, lam=0.5)
    with pytest.raises(ValueError, match="episode axis"):
        run_method("kmeans", zs[0], ys[0], zq[0], 3)
    with pytest.raises(ValueError, match="must lie in 0..1"):
        run_method("kmeans", zs, ys, zq, 2)
    with pytest.raises(ValueError, match="no support example of class 2"):
        run_method("kmeans", zs, ys.clamp_max(1), zq, 3)
    with pytest.raises(ValueError, match="lam must be >= 0"):
        run_method("laplacian-kmeans", zs, ys, zq, 3, lam=-1.0)
    with pytest.raises(ValueError, match="disagree"):
        run_method("tim", zs, ys, zq[:, :, :2], 3)


def test_methods_live_on_the_project_registry():
    from fewshot.registry import ALL, Registry, plugin_modules

    assert isinstance(METHODS, Registry) and ALL["transductive method"] is METHODS
    assert METHODS.info("tim") == {"transductive": True, "has_lambda": False, "norm": "l2"}
    assert METHODS.info("pt-map")["norm"] == "none"
    assert METHODS.module_of("pt-map") == "fewshot.transductive.ptmap"
    assert plugin_modules({"transductive method": ["kmeans"]}) == []


def test_new_options_reject_bad_values(make_batch):
    zs, ys, zq, _ = make_batch()
    with pytest.raises(ValueError, match="unknown LaplacianShot rectify 'bd'"):
        run_method("laplacianshot", zs, ys, zq, 3, rectify="bd")
    with pytest.raises(ValueError, match="unknown clustering stop rule"):
        run_method("laplacian-kmeans", zs, ys, zq, 3, stop="never")
    with pytest.raises(ValueError, match="non-negative features"):
        run_method("pt-map", zs, ys, zq, 3)
    with pytest.raises(ValueError, match="unknown PT-MAP preprocess"):
        run_method("pt-map", zs.abs(), ys, zq.abs(), 3, preprocess="qr")
    with pytest.raises(ValueError, match="unknown BD-CSPN classify"):
        run_method("bd-cspn", zs, ys, zq, 3, classify="both")
