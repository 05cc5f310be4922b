import pytest
import torch

from fewshot.backbones import create_backbone
from fewshot.distances import cosine, euclidean, squared_euclidean
from fewshot.learners import ProtoNet, create_learner, prototypes


def naive_protonet_logits(zs, ys, zq, n_way, distance):
    """Written from Snell et al.: c_k = mean of class k's support; logit = -d(q, c_k)."""
    logits = torch.empty(len(zq), n_way, dtype=zq.dtype)
    for k in range(n_way):
        members = [zs[i] for i in range(len(zs)) if int(ys[i]) == k]
        c = sum(members) / len(members)
        for qi in range(len(zq)):
            diff = zq[qi] - c
            if distance == "sqeuclidean":
                d = sum(float(v) ** 2 for v in diff)
            elif distance == "euclidean":
                d = (sum(float(v) ** 2 for v in diff) + 1e-6) ** 0.5
            else:
                num = sum(float(a) * float(b) for a, b in zip(zq[qi], c))
                den = (sum(float(a) ** 2 for a in zq[qi]) ** 0.5) * (sum(float(b) ** 2 for b in c) ** 0.5)
                d = 1 - num / den
            logits[qi, k] = -d
    return logits


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("distance", ["sqeuclidean", "euclidean", "cosine"])
def test_logits_match_naive_loop(dtype, distance):
    g = torch.Generator().manual_seed(0)
    n_way, k, q, d = 4, 3, 5, 7
    zs = torch.randn(n_way * k, d, generator=g, dtype=dtype)
    ys = torch.arange(n_way).repeat_interleave(k)[torch.randperm(n_way * k, generator=g)]
    zq = torch.randn(q * n_way, d, generator=g, dtype=dtype)
    net = ProtoNet(torch.nn.Identity(), distance=distance, learn_scale=False)
    net.scale = net.scale.to(dtype)
    got = net.logits_from_features(zs, ys, zq, n_way)
    want = naive_protonet_logits(zs, ys, zq, n_way, distance) * float(net.scale)
    tol = dict(rtol=1e-5, atol=1e-4) if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(got, want.to(dtype), **tol)


def test_prototypes_with_unequal_shots():
    z = torch.tensor([[0.0, 0.0], [2.0, 2.0], [10.0, 0.0], [4.0, 4.0]])
    y = torch.tensor([0, 0, 1, 0])
    torch.testing.assert_close(prototypes(z, y, 2), torch.tensor([[2.0, 2.0], [10.0, 0.0]]))


def test_pairwise_distances_against_cdist():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(6, 5, generator=g, dtype=torch.float64), torch.randn(4, 5, generator=g, dtype=torch.float64)
    torch.testing.assert_close(squared_euclidean(x, y), torch.cdist(x, y) ** 2)
    torch.testing.assert_close(euclidean(x, y), (torch.cdist(x, y) ** 2 + 1e-6).sqrt())
    torch.testing.assert_close(cosine(x, x).diagonal(), torch.zeros(6, dtype=torch.float64))


@pytest.mark.parametrize("name, size, dim", [("conv4", 28, 64), ("conv4", 84, 1600),
                                             ("conv4-avg", 28, 64), ("resnet12", 28, 640)])
def test_backbone_shapes(name, size, dim):
    net = create_backbone(name, in_channels=3)
    assert net(torch.randn(2, 3, size, size)).shape == (2, dim)
    assert len(net.blocks) == 4


def test_episode_loss_gradients_reach_backbone():
    torch.manual_seed(0)
    learner = create_learner("protonet", create_backbone("conv4", in_channels=1, width=8))
    s, q = torch.randn(6, 1, 28, 28), torch.randn(9, 1, 28, 28)
    out = learner.episode_loss(s, torch.arange(3).repeat_interleave(2), q,
                               torch.arange(3).repeat_interleave(3), 3)
    out["loss"].backward()
    assert set(out) >= {"loss", "acc", "ce"}
    grads = [p.grad for p in learner.backbone.parameters()]
    assert all(gr is not None and torch.isfinite(gr).all() for gr in grads)
    assert any(gr.abs().sum() > 0 for gr in grads)


def test_unknown_names_are_clear_errors():
    with pytest.raises(ValueError, match="unknown backbone 'conv5'.*conv4"):
        create_backbone("conv5")
    with pytest.raises(ValueError, match="unknown learner"):
        create_learner("protonett", torch.nn.Identity())
