"""Proto-Triplet and ICNN losses against naive loops written from their definitions, and their
combination inside ProtoNet."""

import math

import pytest
import torch

from fewshot.backbones import create_backbone
from fewshot.learners import create_learner, prototypes
from fewshot.losses import (
    EpisodeLoss,
    EpisodeOutputs,
    episode_icnn_loss,
    icnn_loss,
    icnn_score,
    parse_weights,
    proto_triplet_loss,
)

TOL = {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.float64: dict(rtol=1e-9, atol=1e-9)}


def dist(a, b):
    return math.sqrt(sum((float(x) - float(y)) ** 2 for x, y in zip(a, b)) + 1e-6)


def naive_triplet(zq, yq, protos, margin):
    total = 0.0
    for q, y in zip(zq, yq):
        pos = dist(q, protos[int(y)])
        neg = min(dist(q, c) for k, c in enumerate(protos) if k != int(y))
        total += max(0.0, pos - neg + margin)
    return total / len(zq)


def naive_icnn_paper(x, y, t=None, yt=None, k=4):
    """METHODS.md, point by point: neighbours sorted, self excluded only when t is None."""
    same = t is None
    t, yt = (x, y) if same else (t, yt)
    y, yt = [int(v) for v in y], [int(v) for v in yt]
    rows = []
    for i in range(len(x)):
        cand = [(dist(x[i], t[j]), yt[j]) for j in range(len(t)) if not (same and j == i)]
        nn_dc = min([d for d, lab in cand if lab != y[i]], default=math.inf)
        rows.append((sorted(cand)[: min(k, len(cand))], nn_dc))
    return _combine(rows, y, _dc_max(rows, y))


def _dc_max(rows, y):
    """Largest different-class neighbour distance over the whole set."""
    return max([d for i, (nb, _) in enumerate(rows) for d, lab in nb if lab != y[i]], default=1.0)


def _combine(rows, y, dc_max, nd_of=None, gamma=None, divisor=None):
    sc_means, dc_means, fractions = [], [], []
    for i, (nb, nn_dc) in enumerate(rows):
        nd = nd_of(i, nb, nn_dc) if nd_of else [min(d / nn_dc, 1.0) for d, _ in nb]
        sc = [n for n, (d, lab) in zip(nd, nb) if lab == y[i]]
        dc = [d / dc_max for d, lab in nb if lab != y[i]]
        if sc:
            sc_means.append(sum(sc) / len(sc))
        if dc:
            dc_means.append(sum(dc) / len(dc))
        fractions.append(len(sc) / (divisor or len(nb)))
    lambda_sc = 1 - sum(sc_means) / len(sc_means) if sc_means else 1.0
    lambda_dc = sum(dc_means) / len(dc_means) if dc_means else 1.0
    gamma = sum(fractions) / len(fractions) if gamma is None else gamma
    return ((lambda_sc + lambda_dc) / 2 + gamma) / 2


def naive_icnn_authors(x, y, t=None, yt=None, k=4, window=None):
    """modified_score of maumruiz/FSL-Loss as read: first neighbour always dropped, capped k."""
    t, yt = (x, y) if t is None else (t, yt)
    y, yt = [int(v) for v in y], [int(v) for v in yt]
    m = len(t)
    capped = k + 2 >= m
    k = m - 2 if capped else k
    window = k + 1 if window is None else window
    divisor = k  # gamma divides by k even when the window holds fewer neighbours
    k = min(k, window)
    rows = []
    for i in range(len(x)):
        nb = sorted((dist(x[i], t[j]), yt[j]) for j in range(m))[1: window + 1]
        nn_dc = min([d for d, lab in nb if lab != y[i]], default=math.inf)
        rows.append((nb[:k], nn_dc))

    def nd_of(i, nb, nn_dc):
        raw = [d / nn_dc for d, _ in nb]
        return [v / max(1.0, max(raw)) for v in raw]
    return _combine(rows, y, _dc_max(rows, y), nd_of, 1.0 if capped else None, divisor)


def data(n_way, per_class, dim, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n_way).repeat_interleave(per_class)
    centres = 2 * torch.randn(n_way, dim, generator=g, dtype=dtype)
    return centres[y] + torch.randn(len(y), dim, generator=g, dtype=dtype), y


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("n_way, per_class, margin", [(2, 1, 0.5), (5, 3, 0.5), (7, 2, 2.0)])
def test_proto_triplet_matches_naive_loop(dtype, n_way, per_class, margin):
    zq, yq = data(n_way, per_class, 6, dtype, seed=n_way)
    protos = torch.randn(n_way, 6, generator=torch.Generator().manual_seed(1), dtype=dtype)
    got = proto_triplet_loss(zq, yq, protos, margin)
    assert got.dtype == dtype
    torch.testing.assert_close(got, torch.tensor(naive_triplet(zq, yq, protos, margin), dtype=dtype), **TOL[dtype])


def test_proto_triplet_uses_the_hardest_negative_and_the_margin():
    protos = torch.tensor([[0.0, 0.0], [3.0, 0.0], [10.0, 0.0]])
    q = torch.tensor([[1.0, 0.0]])  # d_pos = 1, nearest wrong = 2 (not 9)
    torch.testing.assert_close(proto_triplet_loss(q, torch.tensor([0]), protos, margin=1.5),
                               torch.tensor(0.5), atol=1e-5, rtol=0)
    assert proto_triplet_loss(q, torch.tensor([0]), protos, margin=0.5) == 0  # satisfied margin
    with pytest.raises(ValueError, match="at least 2 prototypes"):
        proto_triplet_loss(q, torch.tensor([0]), protos[:1])


def test_icnn_score_by_hand_on_a_line():
    """Worked example of METHODS.md's definition (k = 2): points a0=0, a1=1, b0=3, b1=10.

    Neighbours (d, class): a0 -> (1 a, 3 b), a1 -> (1 a, 2 b), b0 -> (2 a, 3 a), b1 -> (7 b, 9 a);
    nn_dc = 3, 2, 2, 9. lambda_sc = 1 - mean(1/3, 1/2, 7/9) = 25/54;
    different-class distances / 9: a0 3/9, a1 2/9, b0 (2/9 + 3/9)/2, b1 9/9 -> lambda_dc = 11/24;
    gamma = mean(1/2, 1/2, 0, 1/2) = 3/8. The authors' code caps k to m - 2 = 2 and sets gamma = 1.
    """
    x = torch.tensor([[0.0], [1.0], [3.0], [10.0]], dtype=torch.float64)
    y = torch.tensor([0, 0, 1, 1])
    lam = (25 / 54 + 11 / 24) / 2
    torch.testing.assert_close(icnn_score(x, y, k=2, style="paper"),
                               torch.tensor((lam + 3 / 8) / 2, dtype=torch.float64), atol=1e-5, rtol=0)
    torch.testing.assert_close(icnn_score(x, y, k=2, style="authors"),
                               torch.tensor((lam + 1) / 2, dtype=torch.float64), atol=1e-5, rtol=0)
    torch.testing.assert_close(icnn_loss(x, y, k=2), -icnn_score(x, y, k=2).log())
    # the default is the authors' code (the paper's numbers come from it)
    torch.testing.assert_close(icnn_score(x, y, k=2), icnn_score(x, y, k=2, style="authors"))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("style", ["paper", "authors"])
@pytest.mark.parametrize("n_way, shot, query, k", [(2, 1, 3, 4), (5, 1, 2, 4), (3, 4, 5, 4), (4, 3, 3, 2),
                                                    (3, 5, 2, 9)])
def test_icnn_variants_match_naive_loops(dtype, style, n_way, shot, query, k):
    zs, ys = data(n_way, shot, 5, dtype, seed=shot)
    zq, yq = data(n_way, query, 5, dtype, seed=query + 10)
    naive = naive_icnn_paper if style == "paper" else naive_icnn_authors
    full_z, full_y = torch.cat([zs, zq]), torch.cat([ys, yq])
    cases = {"query": ((zq, yq, zs, ys), {}), "full": ((full_z, full_y), {"window": shot + query})}
    if len(zs) >= (2 if style == "paper" else 3):
        cases["support"] = ((zs, ys), {})
    for variant, (args, kw) in cases.items():
        if style == "authors" and len(args[-2]) < 3:
            continue  # their code needs a target of >= 3 points
        got = episode_icnn_loss(variant, zs, ys, zq, yq, k=k, style=style)
        want = -math.log(naive(*args, k=k, **(kw if style == "authors" else {})))
        assert got.dtype == dtype
        # the authors' code has 1e-7 guards in its divisions, left out of this naive reading
        tol = TOL[dtype] if style == "paper" else dict(rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(got, torch.tensor(want, dtype=dtype), **tol, msg=variant)


def test_self_is_excluded_only_when_source_and_target_are_the_same_set():
    x, y = data(3, 3, 4, torch.float64, seed=3)
    # target=None: same set, self excluded; an explicit target (even equal values): nothing excluded.
    paper = dict(style="paper")
    torch.testing.assert_close(icnn_score(x, y, **paper), torch.tensor(naive_icnn_paper(x, y), dtype=torch.float64))
    explicit = icnn_score(x, y, x.clone(), y.clone(), **paper)
    torch.testing.assert_close(explicit, torch.tensor(naive_icnn_paper(x, y, x, y), dtype=torch.float64))
    assert not torch.isclose(explicit, icnn_score(x, y, **paper))


def test_authors_style_drops_the_true_nearest_neighbour_of_a_query():
    support = torch.tensor([[0.0], [5.0], [6.0], [7.0], [8.0], [9.0]])
    ys = torch.tensor([0, 1, 1, 2, 2, 0])
    q, yq = torch.tensor([[0.1]]), torch.tensor([0])
    # The paper's query variant sees the same-class support point at 0; their code drops it.
    paper = icnn_score(q, yq, support, ys, k=2, style="paper")
    authors = icnn_score(q, yq, support, ys, k=2, style="authors")
    assert paper > authors
    torch.testing.assert_close(authors, torch.tensor(naive_icnn_authors(q, yq, support, ys, k=2)),
                               rtol=1e-5, atol=1e-5)


def test_icnn_gradients_are_finite_and_reach_the_points():
    for variant in ("support", "query", "full"):
        zs, ys = data(4, 3, 6, torch.float64, seed=0)
        zq, yq = data(4, 2, 6, torch.float64, seed=1)
        zs.requires_grad_(True)
        zq.requires_grad_(True)
        episode_icnn_loss(variant, zs, ys, zq, yq).backward()
        grads = [g for g in (zs.grad, zq.grad) if g is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads)
        assert any(g.abs().sum() > 0 for g in grads), variant


def test_icnn_bad_input_is_a_clear_error():
    x, y = data(2, 2, 3, torch.float32, seed=0)
    with pytest.raises(ValueError, match="unknown ICNN variant"):
        episode_icnn_loss("both", x, y, x, y)
    with pytest.raises(ValueError, match="unknown ICNN style"):
        icnn_score(x, y, style="code")
    with pytest.raises(ValueError, match="target_labels"):
        icnn_score(x, y, x)
    with pytest.raises(ValueError, match="at least one neighbour"):
        icnn_score(x[:1], y[:1])


def episode(seed=0, n_way=4, shot=2, query=3, dim=5):
    zs, ys = data(n_way, shot, dim, torch.float64, seed)
    zq, yq = data(n_way, query, dim, torch.float64, seed + 1)
    zs.requires_grad_(True)
    protos = prototypes(zs, ys, n_way)
    logits = -torch.cdist(zq, protos) ** 2
    return EpisodeOutputs(zs, ys, zq, yq, logits, protos)


def test_episode_loss_is_the_weighted_mean_and_logs_every_term():
    ep = episode()
    out = EpisodeLoss({"ce": 2.0, "triplet": 1.0, "icnn": 0.0}, icnn_variant="full", margin=0.3)(ep)
    ce = torch.nn.functional.cross_entropy(ep.logits, ep.yq)
    trip = proto_triplet_loss(ep.zq, ep.yq, ep.prototypes, 0.3)
    torch.testing.assert_close(out["loss"], (2 * ce + trip) / 3)
    torch.testing.assert_close(out["icnn"], episode_icnn_loss("full", ep.zs, ep.ys, ep.zq, ep.yq))
    assert set(out) == {"loss", "ce", "triplet", "icnn", "acc"}
    assert all(not out[k].requires_grad for k in ("ce", "triplet", "icnn", "acc"))


def test_parse_weights_forms_and_errors():
    assert parse_weights(None) == {"ce": 1.0}
    assert parse_weights("ce, triplet") == parse_weights(["ce", "triplet"]) == {"ce": 1.0, "triplet": 1.0}
    with pytest.raises(ValueError, match="unknown loss term 'tripplet'"):
        parse_weights({"tripplet": 1})
    with pytest.raises(ValueError, match=">= 0"):
        parse_weights({"ce": -1})
    with pytest.raises(ValueError, match="positive weight"):
        parse_weights({"ce": 0})
    with pytest.raises(ValueError, match="unknown loss options"):
        EpisodeLoss(None, icnn_kk=3)
    with pytest.raises(ValueError, match="icnn_variant"):
        EpisodeLoss(None, icnn_variant="everything")


def images(n_way, per_class, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n_way * per_class, 1, 28, 28, generator=g), torch.arange(n_way).repeat_interleave(per_class)


@pytest.mark.parametrize("losses, variant", [(None, "support"), ({"triplet": 1.0}, "support")]
                         + [({"icnn": 1.0}, v) for v in ("support", "query", "full")]
                         + [({"ce": 1, "triplet": 1, "icnn": 1}, "full")])
def test_protonet_terms_reach_the_backbone(losses, variant):
    torch.manual_seed(0)
    learner = create_learner("protonet", create_backbone("conv4-avg", in_channels=1, width=8),
                             losses=losses, icnn_variant=variant)
    (s, ys), (q, yq) = images(3, 2, 0), images(3, 3, 1)
    out = learner.episode_loss(s, ys, q, yq, 3)
    out["loss"].backward()
    assert set(out) == {"loss", "acc"} | set(losses or {"ce": 1})
    grads = [p.grad for p in learner.backbone.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_protonet_default_loss_is_unchanged_cross_entropy():
    torch.manual_seed(0)
    learner = create_learner("protonet", create_backbone("conv4", in_channels=1, width=8))
    (s, ys), (q, yq) = images(4, 1, 2), images(4, 2, 3)
    out = learner.episode_loss(s, ys, q, yq, 4)
    z = learner.embed(torch.cat([s, q]))
    logits = learner.logits_from_features(z[:4], ys, z[4:], 4)
    torch.testing.assert_close(out["loss"], torch.nn.functional.cross_entropy(logits, yq))
    assert set(out) == {"loss", "ce", "acc"}
    with pytest.raises(ValueError, match="unknown loss term"):
        create_learner("protonet", torch.nn.Identity(), losses={"cross": 1.0})
