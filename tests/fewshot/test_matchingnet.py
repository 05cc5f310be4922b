"""Matching Networks: attention and FCE against naive per-query loops written from the paper's
equations (Vinyals et al. 2016, eq. 1-2 and appendix A), plus the learner contract."""

import math
from pathlib import Path

import pytest
import torch

from fewshot.backbones import create_backbone
from fewshot.config import config_from_dict, load_config
from fewshot.learners import MatchingNet, create_learner
from fewshot.runs.build import build_learner

TOL = {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.float64: dict(rtol=1e-10, atol=1e-10)}
CONFIGS = Path(__file__).parents[2] / "configs"


def naive_predictions(g, ys, f, n_way, temperature):
    """y^_k = sum_i a_i [y_i = k], a = softmax_i(cos(f(x^), g(x_i)) / temperature)."""
    out = torch.zeros(len(f), n_way, dtype=f.dtype)
    for q in range(len(f)):
        cos = [float(f[q] @ g[i]) / (float(f[q].norm()) * float(g[i].norm())) for i in range(len(g))]
        weights = [math.exp(c / temperature) for c in cos]
        for i, w in enumerate(weights):
            out[q, int(ys[i])] += w / sum(weights)
    return out


def lstm_step(x, state, c, w_in, w_state, bias):
    """One LSTM step for a single vector; gates in the order (input, forget, candidate, output)."""
    gates = w_in @ x + w_state @ state + bias
    i, f, cand, o = gates.chunk(4)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(cand)
    return torch.sigmoid(o) * torch.tanh(c), c


def naive_support_fce(zs, lstm):
    """g(x_i) = h_fwd_i + h_bwd_i + g'(x_i), both directions started from zero states."""
    n, d = zs.shape
    fwd, bwd = [None] * n, [None] * n
    for direction, order, out in (("", range(n), fwd), ("_reverse", reversed(range(n)), bwd)):
        w_ih, w_hh = getattr(lstm, "weight_ih_l0" + direction), getattr(lstm, "weight_hh_l0" + direction)
        bias = getattr(lstm, "bias_ih_l0" + direction) + getattr(lstm, "bias_hh_l0" + direction)
        h, c = zs.new_zeros(d), zs.new_zeros(d)
        for i in order:
            h, c = lstm_step(zs[i], h, c, w_ih, w_hh, bias)
            out[i] = h
    return torch.stack([fwd[i] + bwd[i] + zs[i] for i in range(n)])


def naive_query_fce(zq, g, cell, steps):
    """Per query: r = sum_i softmax(h^T g_i) g_i; (h^, c) = LSTM(f', [h, r], c); h = h^ + f'."""
    rows = []
    for q in range(len(zq)):
        fq = zq[q]
        h, c = fq.clone(), torch.zeros_like(fq)
        for _ in range(steps):
            scores = [float(h @ g[i]) for i in range(len(g))]
            top = max(scores)
            weights = [math.exp(s - top) for s in scores]
            r = sum(w * g[i] for i, w in enumerate(weights)) / sum(weights)
            h_hat, c = lstm_step(fq, torch.cat([h, r]), c, cell.weight_x, cell.weight_hr, cell.bias)
            h = h_hat + fq
        rows.append(h)
    return torch.stack(rows)


def features(n_way, shot, query, dim, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    ys = torch.arange(n_way).repeat_interleave(shot)
    zs = torch.randn(n_way * shot, dim, generator=g, dtype=dtype)
    return zs, ys, torch.randn(n_way * query, dim, generator=g, dtype=dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("temperature", [1.0, 0.1])
@pytest.mark.parametrize("n_way, shot", [(2, 1), (5, 3)])
def test_attention_predictions_match_naive_loop(dtype, temperature, n_way, shot):
    zs, ys, zq = features(n_way, shot, 2, 6, dtype, seed=shot)
    perm = torch.randperm(len(ys), generator=torch.Generator().manual_seed(0))  # any support order
    zs, ys = zs[perm], ys[perm]
    net = MatchingNet(torch.nn.Identity(), temperature=temperature).to(dtype)
    log_p = net.logits_from_features(zs, ys, zq, n_way)
    assert log_p.dtype == dtype and log_p.shape == (len(zq), n_way)
    torch.testing.assert_close(log_p.exp(), naive_predictions(zs, ys, zq, n_way, temperature), **TOL[dtype])


def test_support_normalised_similarity_as_the_reimplementations_compute_it():
    """gitabcworld/MatchingNetworks' DistanceNetwork: dot(query, support_i) * rsqrt(sum support_i^2),
    the query's own norm left in; then softmax over the support and the labels' sum."""
    zs, ys, zq = features(5, 2, 3, 6, torch.float64, seed=4)
    net = MatchingNet(torch.nn.Identity(), similarity="support_normalised").double()
    want = torch.zeros(len(zq), 5, dtype=torch.float64)
    for q in range(len(zq)):
        sims = [float(zq[q] @ zs[i]) / math.sqrt(float((zs[i] ** 2).sum())) for i in range(len(zs))]
        top = max(sims)
        weights = [math.exp(v - top) for v in sims]
        for i, w in enumerate(weights):
            want[q, int(ys[i])] += w / sum(weights)
    torch.testing.assert_close(net.logits_from_features(zs, ys, zq, 5).exp(), want, **TOL[torch.float64])
    sharp = net.logits_from_features(zs, ys, 3 * zq, 5).exp()  # a longer query: sharper attention
    assert (sharp.max(1).values >= want.max(1).values - 1e-12).all()
    with pytest.raises(ValueError, match="similarity must be one of cosine, support_normalised"):
        MatchingNet(torch.nn.Identity(), similarity="dot")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("steps", [1, 2, 3])
def test_fce_embeddings_match_naive_loops(dtype, steps):
    torch.manual_seed(0)
    n_way, dim = 3, 5
    zs, ys, zq = features(n_way, 2, 2, dim, dtype, seed=steps)
    net = MatchingNet(torch.nn.Identity(), fce=True, fce_steps=steps, feature_dim=dim).to(dtype)
    g, f = net.contextual_embeddings(zs, zq)
    with torch.no_grad():
        g_ref = naive_support_fce(zs, net.support_lstm.lstm)
        f_ref = naive_query_fce(zq, g_ref, net.query_lstm, steps)
    torch.testing.assert_close(g, g_ref, **TOL[dtype])
    torch.testing.assert_close(f, f_ref, **TOL[dtype])
    log_p = net.logits_from_features(zs, ys, zq, n_way)
    torch.testing.assert_close(log_p.exp(), naive_predictions(g_ref, ys, f_ref, n_way, 1.0), **TOL[dtype])
    # The state is [h, r] (2D) while h and c are D: the paper's concatenation, not a sum.
    assert net.query_lstm.weight_hr.shape == (4 * dim, 2 * dim)


def test_fce_steps_and_support_context_change_the_query_embedding():
    torch.manual_seed(0)
    zs, ys, zq = features(3, 2, 1, 4, torch.float64, seed=0)
    net = MatchingNet(torch.nn.Identity(), fce=True, fce_steps=1, feature_dim=4).to(torch.float64)
    _, f1 = net.contextual_embeddings(zs, zq)
    net.fce_steps = 2
    _, f2 = net.contextual_embeddings(zs, zq)
    _, f_other = net.contextual_embeddings(zs + 1.0, zq)
    assert not torch.allclose(f1, f2) and not torch.allclose(f2, f_other)


def episode(n_way, shot, query, seed=0):
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(n_way * shot, 1, 28, 28, generator=g)
    q = torch.randn(n_way * query, 1, 28, 28, generator=g)
    return s, torch.arange(n_way).repeat_interleave(shot), q, torch.arange(n_way).repeat_interleave(query)


def make(fce, seed=0, **kw):
    torch.manual_seed(seed)
    options = dict(fce=fce, feature_dim=8 if fce else None, **kw)
    return create_learner("matchingnet", create_backbone("conv4", in_channels=1, width=8), **options)


@pytest.mark.parametrize("fce", [False, True])
@pytest.mark.parametrize("n_way, shot, query", [(2, 1, 1), (5, 1, 3), (3, 4, 2)])
def test_contract_shapes_probabilities_and_gradients(fce, n_way, shot, query):
    learner = make(fce, learn_temperature=True)
    s, ys, q, yq = episode(n_way, shot, query)
    out = learner.episode_loss(s, ys, q, yq, n_way)
    assert set(out) == {"loss", "nll", "acc"} and out["loss"].ndim == 0
    out["loss"].backward()
    params = list(learner.backbone.parameters()) + [learner.scale]
    if fce:
        params += list(learner.support_lstm.parameters()) + list(learner.query_lstm.parameters())
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in params)
    assert all(p.grad.abs().sum() > 0 for p in learner.backbone.parameters() if p.dim() > 1)
    learner.eval()
    with torch.no_grad():
        learner.fit_support(s, ys, n_way)
        logits = learner(q)
        z = learner.embed(torch.cat([s, q]))
        cached = learner.logits_from_features(z[: len(s)], ys, z[len(s):], n_way)
    assert logits.shape == (n_way * query, n_way)
    torch.testing.assert_close(logits.exp().sum(1), torch.ones(n_way * query))
    torch.testing.assert_close(logits, cached)  # feature-cached evaluation is exact


@pytest.mark.parametrize("fce", [False, True])
def test_deterministic_under_a_seed(fce):
    s, ys, q, yq = episode(4, 2, 2, seed=5)
    losses = [make(fce, seed=3).episode_loss(s, ys, q, yq, 4)["loss"] for _ in range(2)]
    assert torch.equal(losses[0], losses[1])
    assert not torch.equal(losses[0], make(fce, seed=4).episode_loss(s, ys, q, yq, 4)["loss"])


def test_class_without_support_gets_the_floor_not_minus_infinity():
    zs, _, zq = features(2, 1, 2, 4, torch.float32, seed=0)
    log_p = MatchingNet(torch.nn.Identity()).logits_from_features(zs, torch.tensor([0, 0]), zq, 3)
    assert torch.isfinite(log_p).all() and (log_p[:, 2] == -100).all() and (log_p[:, 1] == -100).all()


def test_options_are_checked():
    with pytest.raises(ValueError, match="feature_dim"):
        create_learner("matchingnet", torch.nn.Identity(), fce=True)
    with pytest.raises(ValueError, match="temperature"):
        create_learner("matchingnet", torch.nn.Identity(), temperature=0.0)
    with pytest.raises(ValueError, match="does not accept"):
        create_learner("matchingnet", torch.nn.Identity(), fce_step=3)


@pytest.mark.parametrize("image_size, dim", [(28, 8), (84, 200)])
def test_build_learner_probes_feature_dim(image_size, dim):
    cfg = config_from_dict({"data": {"image_size": image_size},
                            "model": {"learner": "matchingnet", "width": 8, "options": {"fce": True}}})
    learner = build_learner(cfg, in_channels=3)
    assert learner.query_lstm.dim == dim and learner.backbone.training
    assert all(bn.num_batches_tracked == 0 for bn in learner.backbone.modules()
               if isinstance(bn, torch.nn.BatchNorm2d))  # the probe left BatchNorm untouched


@pytest.mark.parametrize("name", ["glyphs_matchingnet", "glyphs_matchingnet_fce", "glyphs_protonet_triplet",
                                  "glyphs_protonet_icnn"])
def test_shipped_glyph_configs_build_and_train_one_episode(name):
    cfg = load_config(CONFIGS / f"{name}.yaml", ["model.width=8"])
    torch.manual_seed(0)
    learner = build_learner(cfg, in_channels=1)
    s, ys, q, yq = episode(4, 1, 2)
    out = learner.episode_loss(s, ys, q, yq, 4)
    out["loss"].backward()
    assert torch.isfinite(out["loss"]) and {"loss", "acc"} < set(out)
