"""DropBlock against a loop written from the official code's description; the keep-rate ramp;
ResNet-12 with and without it."""

import pytest
import torch

from fewshot.backbones import BACKBONES, DropBlock, ResNet12, create_backbone


def naive_dropblock(x, gamma, b, seeds):
    """Loop version: every seed (i, j) zeroes rows i..i+b-1, columns j..j+b-1; rescale by numel / kept."""
    mask = torch.ones_like(x)
    for n, c, i, j in seeds.nonzero().tolist():
        mask[n, c, i:i + b, j:j + b] = 0
    return x * mask * mask.numel() / mask.sum()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("size, block", [(10, 5), (5, 5), (7, 3), (3, 5)])
def test_matches_the_naive_loop(dtype, size, block):
    db = DropBlock(0.3, block, schedule_steps=0).train()
    x = torch.rand(3, 4, size, size, dtype=dtype) + 0.5
    torch.manual_seed(0)
    out = db(x)
    b = min(block, size)
    gamma = 0.3 / b ** 2 * size ** 2 / (size - b + 1) ** 2
    torch.manual_seed(0)
    seeds = torch.bernoulli(torch.full((3, 4, size - b + 1, size - b + 1), gamma, dtype=dtype))
    assert seeds.sum() > 0  # the case tests something
    torch.testing.assert_close(out, naive_dropblock(x, gamma, b, seeds))


def test_dropped_fraction_matches_the_seed_probability():
    # P(kept) at a position = (1 - gamma)^(number of seed positions whose block covers it).
    h, b, rate = 10, 5, 0.2
    db = DropBlock(rate, b, schedule_steps=0).train()
    gamma = rate / b ** 2 * h ** 2 / (h - b + 1) ** 2
    cover = torch.zeros(h, h)
    for i in range(h - b + 1):
        for j in range(h - b + 1):
            cover[i:i + b, j:j + b] += 1
    expected = ((1 - gamma) ** cover).mean()
    torch.manual_seed(0)
    out = db(torch.ones(256, 16, h, h))
    kept = (out > 0).float().mean()
    assert abs(kept - expected) < 0.01
    torch.testing.assert_close(out.mean(), torch.tensor(1.0))  # rescaled: the mean is kept


def test_keep_rate_ramp_counts_training_passes_only():
    db = DropBlock(0.1, 5, schedule_steps=40000)
    assert [db.keep_rate(t) for t in (0, 20000, 40000, 80000)] == pytest.approx([1.0, 0.95, 0.9, 0.9])
    x = torch.ones(1, 1, 6, 6)
    db.train()
    for _ in range(3):
        db(x)
    db.eval()
    torch.testing.assert_close(db(x), x)  # identity, and not counted
    assert int(db.steps) == 3 and "steps" in db.state_dict()
    first = DropBlock(0.5, 2, schedule_steps=10).train()
    torch.testing.assert_close(first(torch.ones(4, 4, 8, 8)).mean(), torch.tensor(1.0))  # keep 0.95 at t=1


def test_invalid_options_are_clear():
    with pytest.raises(ValueError, match="drop_rate"):
        DropBlock(1.0)
    with pytest.raises(ValueError, match="dropblock_size"):
        DropBlock(0.1, 0)
    with pytest.raises(ValueError, match="init"):
        ResNet12(init="xavier")


def test_plain_resnet12_is_unchanged():
    # Existing configs (model.backbone: resnet12) build the same module as before: same keys,
    # same parameters under a seed (no regulariser, PyTorch default init).
    torch.manual_seed(0)
    net = create_backbone("resnet12", in_channels=3, width=8)
    assert not any("drop" in k for k in net.state_dict())
    assert net.widths == (8, 20, 40, 80)
    torch.manual_seed(0)
    again = ResNet12(3, (8, 20, 40, 80))
    for (k, a), (_, b) in zip(net.state_dict().items(), again.state_dict().items()):
        torch.testing.assert_close(a, b, msg=k)
    net.train()
    x = torch.randn(2, 3, 28, 28)
    torch.testing.assert_close(net(x), net(x))  # no randomness in training mode either


def test_resnet12_dropblock_settings():
    net = create_backbone("resnet12-dropblock", in_channels=3, width=8)
    kinds = [type(b.drop).__name__ for b in net.blocks]
    assert kinds == ["Dropout", "Dropout", "DropBlock", "DropBlock"]
    assert [b.drop.block_size for b in net.blocks[2:]] == [5, 5] and net.blocks[2].drop.drop_rate == 0.1
    assert BACKBONES.info("resnet12-dropblock")["features"].startswith("10 * width")
    x = torch.randn(4, 3, 84, 84)
    net.eval()
    torch.testing.assert_close(net(x), net(x))
    flat = create_backbone("resnet12", width=8, drop_rate=0.1, avg_pool=False)
    assert flat(x).shape == (4, 80 * 25) and flat.feature_size(84) == 2000  # MetaOptNet: 16000 at width 64


def test_dropblock_changes_training_outputs():
    net = create_backbone("resnet12", in_channels=1, width=8, drop_rate=0.3, drop_schedule_steps=0).train()
    plain = create_backbone("resnet12", in_channels=1, width=8)
    plain.load_state_dict({k: v for k, v in net.state_dict().items() if "drop" not in k})
    x = torch.randn(8, 1, 28, 28)
    net.eval(), plain.eval()
    torch.testing.assert_close(net(x), plain(x))  # the same network at evaluation
    net.train(), plain.train()
    torch.manual_seed(0)
    assert not torch.allclose(net(x), plain(x))  # regularised while training
