"""The learner contract, for every registered learner (built through ``build_learner``, as the
CLI builds them): output shapes for any N, K, Q, gradients reaching the backbone, determinism
under a seed, cached-feature evaluation agreeing with image evaluation, and query independence
for learners that say they are not transductive."""

import pytest
import torch

from fewshot.config import Config
from fewshot.learners import LEARNERS
from fewshot.runs.build import build_learner

SIZE = 16  # tiny Conv4 (width 8) at 16x16: 8-d features, milliseconds per episode
CASES = [(2, 1, 1), (5, 1, 3), (3, 4, 2), (7, 2, 1)]  # (N, K, Q)

pytestmark = pytest.mark.filterwarnings("ignore:SimpleShot. no base-class mean")


def build(name: str, n_way: int, seed: int = 0, **options):
    cfg = Config()
    cfg.model.learner, cfg.model.width, cfg.model.options = name, 8, options
    cfg.data.image_size, cfg.train.n_way = SIZE, n_way
    torch.manual_seed(seed)
    return build_learner(cfg, in_channels=1)


def make_episode(n: int, k: int, q: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    support = torch.randn(n * k, 1, SIZE, SIZE, generator=g)
    query = torch.randn(n * q, 1, SIZE, SIZE, generator=g)
    return support, torch.arange(n).repeat_interleave(k), query, torch.arange(n).repeat_interleave(q)


def predict(learner, support, ys, query, n):
    """Evaluation as ``fewshot.evaluation.evaluate`` runs it on images."""
    learner.eval()
    with torch.enable_grad():
        learner.fit_support(support, ys, n)
    with torch.no_grad():
        return learner(query)


@pytest.mark.parametrize("n, k, q", CASES)
@pytest.mark.parametrize("name", sorted(LEARNERS))
def test_shapes_for_any_episode_size(name, n, k, q):
    learner = build(name, n)
    support, ys, query, yq = make_episode(n, k, q)
    learner.train()
    out = learner.episode_loss(support, ys, query, yq, n)
    assert {"loss", "acc"} <= set(out)
    for key, value in out.items():
        assert torch.is_tensor(value) and value.dim() == 0, key
    assert torch.isfinite(out["loss"]) and out["loss"].requires_grad
    assert 0.0 <= float(out["acc"]) <= 1.0
    logits = predict(learner, support, ys, query, n)
    assert logits.shape == (n * q, n) and torch.isfinite(logits).all()
    if learner.uses_features:  # the cached-feature path must give the same predictions
        with torch.no_grad():
            cached = learner.logits_from_features(learner.embed(support), ys, learner.embed(query), n)
        torch.testing.assert_close(cached, logits, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", sorted(LEARNERS))
def test_gradients_reach_the_backbone(name):
    learner = build(name, 4)
    support, ys, query, yq = make_episode(4, 2, 3)
    learner.train()
    learner.episode_loss(support, ys, query, yq, 4)["loss"].backward()
    first_conv = next(p for n, p in learner.backbone.named_parameters() if p.dim() == 4)
    assert first_conv.grad is not None and first_conv.grad.abs().sum() > 0
    for pname, p in learner.named_parameters():
        assert p.grad is None or torch.isfinite(p.grad).all(), pname


@pytest.mark.parametrize("name", sorted(LEARNERS))
def test_deterministic_under_a_seed(name):
    support, ys, query, yq = make_episode(3, 2, 2)
    runs = []
    for _ in range(2):
        learner = build(name, 3, seed=7).train()
        loss = learner.episode_loss(support, ys, query, yq, 3)["loss"]
        loss.backward()
        runs.append((learner.state_dict(), loss.detach(), [p.grad for p in learner.parameters()]))
    (sd_a, loss_a, grads_a), (sd_b, loss_b, grads_b) = runs
    for key in sd_a:
        torch.testing.assert_close(sd_a[key], sd_b[key], rtol=0, atol=0)
    torch.testing.assert_close(loss_a, loss_b, rtol=0, atol=0)
    for a, b in zip(grads_a, grads_b):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    other = build(name, 3, seed=8).state_dict()  # the seed does matter
    assert any(not torch.equal(sd_a[k], other[k]) for k in sd_a if sd_a[k].is_floating_point())


@pytest.mark.parametrize("name", sorted(LEARNERS))
def test_inductive_learners_predict_each_query_on_its_own(name):
    learner = build(name, 3)
    if learner.transductive and "bn" in vars(learner):  # the MAML family: check its inductive mode
        learner = build(name, 3, bn="running")
        learner.episode_loss(*make_episode(3, 2, 3), 3)  # running BatchNorm statistics
    if learner.transductive:
        pytest.skip(f"{name} is transductive (its predictions may use the whole query set)")
    support, ys, query, _ = make_episode(3, 2, 3)
    others = query.clone()
    others[1:] = torch.randn(len(query) - 1, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(9))
    a = predict(learner, support, ys, query, 3)[0]
    b = predict(learner, support, ys, others, 3)[0]
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
