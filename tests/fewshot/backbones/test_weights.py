"""load_weights: plain state_dicts (a bare torchvision model), wrapped and prefixed ones, fewshot
checkpoints and run folders; the report; strict errors naming the keys."""

import pytest
import torch
import torchvision

from fewshot.backbones import WeightsError, create_backbone, load_weights
from fewshot.learners import create_learner
from fewshot.runs.checkpoint import FORMAT, save_checkpoint


def params_equal(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    return all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture
def bare_resnet18(tmp_path):
    torch.manual_seed(0)
    net = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18.pt"
    torch.save(net.state_dict(), path)
    return net, path


def test_bare_torchvision_state_dict_loads_strictly(bare_resnet18, capsys):
    bare, path = bare_resnet18
    torch.manual_seed(1)
    net = create_backbone("torchvision/resnet18", in_channels=3)
    report = load_weights(net, path)
    assert report.complete and report.kind == "state_dict"
    assert sorted(report.skipped) == ["fc.bias", "fc.weight"]
    assert len(report.loaded) == len(net.state_dict())
    bare.fc = torch.nn.Identity()
    bare.eval(), net.eval()
    x = torch.randn(2, 3, 64, 64)
    torch.testing.assert_close(net(x), bare(x))
    print(report)
    out = capsys.readouterr().out
    assert "120 tensors loaded" in out and "skipped, not part of the backbone (2): fc.weight, fc.bias" in out


def test_prefixes_and_wrappers(tmp_path, bare_resnet18):
    bare, _ = bare_resnet18
    ddp = {"state_dict": {f"module.encoder.{k}": v for k, v in bare.state_dict().items()}}
    torch.save(ddp, tmp_path / "wrapped.pt")
    net = create_backbone("torchvision/resnet18")
    report = load_weights(net, tmp_path / "wrapped.pt")
    assert report.complete
    torch.testing.assert_close(net.net.conv1.weight, bare.conv1.weight)
    with pytest.raises(WeightsError, match=r"0 of 100 tensors matched.*unexpected.*module\.encoder\.conv1\.weight"):
        load_weights(create_backbone("torchvision/resnet18"), tmp_path / "wrapped.pt", prefixes=("module.",))


def fewshot_checkpoint(tmp_path, learner):
    state = {"format": FORMAT, "model": learner.state_dict(), "config": {"model": {"backbone": "conv4"}}}
    return save_checkpoint(state, tmp_path / "run" / "checkpoints" / "best.pt")


@pytest.mark.parametrize("learner_name", ["protonet", "maml"])
def test_fewshot_run_and_checkpoint(tmp_path, learner_name):
    torch.manual_seed(0)
    extra = {"feature_dim": 8, "n_way": 3, "bn": "running"} if learner_name == "maml" else {}
    learner = create_learner(learner_name, create_backbone("conv4", in_channels=1, width=8), **extra)
    path = fewshot_checkpoint(tmp_path, learner)
    for source, kind in ((tmp_path / "run", "fewshot run"), (path, "fewshot checkpoint")):
        torch.manual_seed(1)
        net = create_backbone("conv4", in_channels=1, width=8)
        assert not params_equal(net, learner.backbone)
        report = load_weights(net, source)
        assert report.kind == kind and report.complete
        assert params_equal(net, learner.backbone)
        if learner_name == "maml":  # the learner's own head is not part of the backbone
            assert sorted(report.skipped) == ["head.bias", "head.weight"]


def test_strict_errors_name_the_keys(tmp_path, bare_resnet18):
    _, path = bare_resnet18
    with pytest.raises(WeightsError, match=r"do not fit Conv4.*missing in the file \(\d+\): blocks\.0\.0\.weight"
                                           r".*unexpected.*conv1\.weight.*init_strict: false"):
        load_weights(create_backbone("conv4"), path)
    with pytest.raises(WeightsError, match="no tensor"):
        load_weights(create_backbone("conv4"), path, strict=False)


def test_shape_mismatch_strict_and_not(tmp_path):
    torch.save(create_backbone("conv4", in_channels=3, width=8).state_dict(), tmp_path / "c3.pt")
    grey = create_backbone("conv4", in_channels=1, width=8)
    with pytest.raises(WeightsError, match=r"shape mismatch \(1\): blocks\.0\.0\.weight \(file \(8, 3, 3, 3\), "
                                           r"model \(8, 1, 3, 3\)\)"):
        load_weights(grey, tmp_path / "c3.pt")
    before = grey.blocks[0][0].weight.clone()
    report = load_weights(grey, tmp_path / "c3.pt", strict=False)
    assert not report.complete and len(report.loaded) == len(grey.state_dict()) - 1
    torch.testing.assert_close(grey.blocks[0][0].weight, before)  # left as it was
    assert "shape mismatch (1)" in str(report)


def test_counters_missing_from_the_file_are_not_fatal(tmp_path):
    plain = create_backbone("resnet12", width=8)
    torch.save(plain.state_dict(), tmp_path / "plain.pt")
    drop = create_backbone("resnet12-dropblock", width=8)
    report = load_weights(drop, tmp_path / "plain.pt")
    assert report.complete and report.counters == ["blocks.2.drop.steps", "blocks.3.drop.steps"]
    torch.testing.assert_close(drop.blocks[3].conv3.weight, plain.blocks[3].conv3.weight)


def test_unreadable_inputs(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        load_weights(create_backbone("conv4"), tmp_path / "nope.pt")
    with pytest.raises(WeightsError, match="not a fewshot run"):
        load_weights(create_backbone("conv4"), tmp_path)
    torch.save({"net": torch.nn.Linear(2, 2)}, tmp_path / "pickled.pt")
    with pytest.raises(WeightsError, match="pickled Python objects"):
        load_weights(create_backbone("conv4"), tmp_path / "pickled.pt")
    torch.save({"epoch": 3, "lr": 0.1}, tmp_path / "other.pt")
    with pytest.raises(WeightsError, match="not a state_dict"):
        load_weights(create_backbone("conv4"), tmp_path / "other.pt")


def test_colour_weights_into_a_grey_model(bare_resnet18):
    bare, path = bare_resnet18
    with pytest.raises(WeightsError, match=r"shape mismatch \(1\): net\.conv1\.weight \(file \(64, 3, 7, 7\)"):
        load_weights(create_backbone("torchvision/resnet18", in_channels=1), path)
    grey = create_backbone("torchvision/resnet18", in_channels=1)
    report = load_weights(grey, path, adapt_grey=True)
    assert report.complete and report.adapted == ["net.conv1.weight"] and "summed" in str(report)
    bare.fc = torch.nn.Identity()
    bare.eval(), grey.eval()
    x = torch.rand(2, 1, 32, 32)
    torch.testing.assert_close(grey(x), bare(x.expand(-1, 3, -1, -1)), rtol=1e-4, atol=1e-5)
