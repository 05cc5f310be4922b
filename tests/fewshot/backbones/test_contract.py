"""Contract over every registered backbone (and external ones by name): the recorded feature size
is the output size at 28x28 grey and 84x84 colour, ``forward_from`` over any split of ``blocks``
equals ``forward``, gradients reach every parameter, eval mode is deterministic."""

import pytest
import torch

from fewshot.backbones import BACKBONES, create_backbone, feature_size
from fewshot.backbones.external import timm_available

SMALL = {"conv4": 8, "conv4-avg": 8, "resnet12": 8, "resnet12-dropblock": 8, "resnet10": 8, "resnet18": 8,
         "wrn28_10": 8}
EXTERNAL = ["torchvision/resnet18", "torchvision/mobilenet_v3_small",
            pytest.param("timm/resnet18", marks=pytest.mark.skipif(not timm_available(), reason="timm not installed"))]
NAMES = sorted(BACKBONES) + EXTERNAL
INPUTS = [(1, 28), (3, 84)]


def build(name, in_channels):
    torch.manual_seed(0)
    kw = {"width": SMALL[name]} if name in SMALL else {}
    return create_backbone(name, in_channels=in_channels, **kw)


def test_every_registered_backbone_has_a_small_width_here():
    assert set(BACKBONES) == set(SMALL), "add new backbones to this contract test"


@pytest.mark.parametrize("in_channels, size", INPUTS)
@pytest.mark.parametrize("name", NAMES)
def test_output_size_is_the_recorded_feature_size(name, in_channels, size):
    net = build(name, in_channels).eval()
    with torch.no_grad():
        out = net(torch.randn(2, in_channels, size, size))
    assert out.shape == (2, net.feature_size(size))
    assert feature_size(net, in_channels, size) == out.shape[1]
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", NAMES)
def test_forward_from_over_blocks_equals_forward(name):
    net = build(name, 1).eval()
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        full = net(x)
        n = len(net.blocks)
        assert n >= 1
        for k in range(n):  # stop=n already includes the head (the protocol)
            h = net.forward_from(x, 0, k)
            torch.testing.assert_close(net.forward_from(h, k), full)
        torch.testing.assert_close(net.forward_from(x, 0, n), full)
        h = x
        for k in range(n):  # one block at a time
            h = net.forward_from(h, k, k + 1)
        torch.testing.assert_close(h, full)


@pytest.mark.parametrize("name", NAMES)
def test_gradients_reach_every_parameter(name):
    net = build(name, 1).train()
    torch.manual_seed(1)
    net(torch.randn(4, 1, 28, 28)).pow(2).sum().backward()
    for pname, p in net.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname
    assert any(p.grad.abs().sum() > 0 for p in net.parameters())


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_in_eval_mode_and_under_a_seed(name):
    a, b = build(name, 3).eval(), build(name, 3).eval()
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb
        torch.testing.assert_close(va, vb)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(a(x), a(x))
        torch.testing.assert_close(a(x), b(x))


def test_unknown_names_list_what_exists():
    with pytest.raises(ValueError, match=r"unknown backbone 'resnet13'.*resnet12.*wrn28_10.*torchvision/<model>"):
        create_backbone("resnet13")
    with pytest.raises(ValueError, match=r"unknown torchvision model 'resnet19'.*resnet18"):
        create_backbone("torchvision/resnet19")
    assert "torchvision/resnet18" in BACKBONES and "torchvision/resnet19" not in BACKBONES
    with pytest.raises(ValueError, match="model.width=32 does not apply"):
        create_backbone("torchvision/resnet18", width=32)
    with pytest.raises(ValueError, match="without weights"):
        create_backbone("torchvision/resnet18", weights="DEFAULT")


@pytest.mark.skipif(not timm_available(), reason="timm not installed")
def test_timm_unknown_model_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown timm model 'resnet1x'"):
        create_backbone("timm/resnet1x")
    with pytest.raises(ValueError, match="pretrained=False"):
        create_backbone("timm/resnet18", pretrained=True)


def test_timm_missing_is_a_clear_error(monkeypatch):
    import fewshot.backbones.external as ext

    monkeypatch.setattr(ext, "timm_available", lambda: False)
    with pytest.raises(ValueError, match=r"needs timm.*pip install"):
        create_backbone("timm/resnet18")


def count(net):
    return sum(p.numel() for p in net.parameters())


def test_full_size_parameter_counts():
    # Published sizes: ResNet-12 (64-160-320-640) 12.4M, WRN-28-10 36.5M, ResNet-18 11.2M without fc.
    assert round(count(create_backbone("resnet12")) / 1e6, 1) == 12.4
    assert round(count(create_backbone("wrn28_10")) / 1e6, 1) == 36.5
    assert count(create_backbone("resnet18")) == count(create_backbone("torchvision/resnet18"))
    assert round(count(create_backbone("resnet18")) / 1e6, 1) == 11.2


@pytest.mark.slow
@pytest.mark.parametrize("name, dim", [("wrn28_10", 640), ("resnet12-dropblock", 640), ("resnet18", 512)])
def test_full_size_at_84(name, dim):
    net = create_backbone(name, in_channels=3).train()
    out = net(torch.randn(2, 3, 84, 84))
    assert out.shape == (2, dim) == (2, net.feature_size(84))
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters())
