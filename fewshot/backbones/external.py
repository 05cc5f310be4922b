"""Backbones from other libraries by name: ``torchvision/<model>`` (any ``torchvision.models``
classifier) and ``timm/<model>`` (any timm model, when timm is installed: ``pip install
fewshot[timm]``).

The classifier head is removed (its keys are listed in ``dropped_keys``, so a state_dict of the
full classifier still loads strictly with :func:`fewshot.backbones.weights.load_weights`), the
features come out pooled, and the first convolution is rebuilt for ``in_channels`` when it differs
from 3. Weights are never downloaded: torchvision models are built with ``weights=None``, timm
models with ``pretrained=False``; load pre-trained weights from a file with ``load_weights``.

The wrapped model sits under ``net`` (``weights_prefix = "net."``); ``load_weights`` maps a
bare model's keys onto it.
"""

from __future__ import annotations

from typing import Any, Callable, List, Tuple

import torch
from torch import nn

SOURCES = ("torchvision", "timm")


def _check_width(name: str, width: Any) -> None:
    # The config passes model.width (default 64) to every backbone; external models have their
    # own fixed widths, so only the default is accepted.
    if width not in (None, 64):
        raise ValueError(f"backbone {name!r} has its own widths; model.width={width} does not apply "
                         "(leave model.width at 64)")


def _replace_first_conv(net: nn.Module, in_channels: int) -> None:
    """Rebuild the first Conv2d of ``net`` for ``in_channels`` input channels (same geometry)."""
    for parent in net.modules():
        for child_name, child in parent.named_children():
            if isinstance(child, nn.Conv2d):
                if child.in_channels == in_channels:
                    return
                groups = child.groups if child.groups == 1 else in_channels
                setattr(parent, child_name, nn.Conv2d(
                    in_channels, child.out_channels, child.kernel_size, child.stride, child.padding,
                    child.dilation, groups, child.bias is not None, child.padding_mode))
                return
    raise ValueError(f"cannot adapt {type(net).__name__} to {in_channels} input channels: it has no Conv2d")


def _last_linear(seq: nn.Sequential) -> Tuple[str, nn.Module]:
    for name, child in reversed(list(seq.named_children())):
        if isinstance(child, (nn.Linear, nn.Conv2d)):
            return name, child
    raise ValueError("no Linear or Conv2d layer in the classifier")


def _remove_head(net: nn.Module, label: str) -> Tuple[int, Tuple[str, ...]]:
    """Replace the final classification layer by nn.Identity; returns (feature size, its keys' prefix)."""
    for attr in ("fc", "classifier", "heads", "head"):
        head = getattr(net, attr, None)
        if head is None:
            continue
        if isinstance(head, nn.Linear):
            setattr(net, attr, nn.Identity())
            return head.in_features, (f"{attr}.",)
        if isinstance(head, nn.Sequential):
            name, layer = _last_linear(head)
            setattr(head, name, nn.Identity())
            size = layer.in_features if isinstance(layer, nn.Linear) else layer.in_channels
            return size, (f"{attr}.{name}.",)
    raise ValueError(f"cannot find the classification head of {label} (looked for fc, classifier, "
                     "heads, head); register your own backbone with @BACKBONES.register instead")


def torchvision_names() -> List[str]:
    """The classification models of torchvision.models."""
    import torchvision.models as tvm

    return sorted(tvm.list_models(module=tvm))


class TorchvisionBackbone(nn.Module):
    """A ``torchvision.models`` classifier without its head, as a fewshot backbone.

    ResNet-family models (resnet*, resnext*, wide_resnet*) expose ``blocks`` = [stem, layer1..4]
    and pool in ``head``; every other model is one block that already pools (the model's own
    forward with the last Linear replaced by the identity: e.g. VGG and AlexNet give their
    4096-d penultimate layer, DenseNet / MobileNet / EfficientNet / ConvNeXt their pooled features).

    Args:
        name: a name from :func:`torchvision_names`, e.g. ``"resnet18"``.
        in_channels: input channels; the first convolution is rebuilt when it is not 3.
        width: must stay at 64 (the config default); torchvision models have fixed widths.
        **model_kwargs: passed to ``torchvision.models.get_model`` (never ``weights``).
    """

    weights_prefix = "net."

    def __init__(self, name: str, in_channels: int = 3, width: Any = None, **model_kwargs: Any):
        super().__init__()
        import torchvision.models as tvm

        _check_width(f"torchvision/{name}", width)
        names = torchvision_names()
        if name not in names:
            raise ValueError(f"unknown torchvision model {name!r} in backbone 'torchvision/{name}'; "
                             f"torchvision.models has: {', '.join(names)}")
        if "weights" in model_kwargs:
            raise ValueError("torchvision backbones are built without weights (no downloads); load a "
                             "state_dict file with fewshot.backbones.load_weights (model.init) instead")
        if name in ("googlenet", "inception_v3"):
            model_kwargs.setdefault("aux_logits", False)
            model_kwargs.setdefault("init_weights", True)
        net = tvm.get_model(name, weights=None, **model_kwargs)
        self.resnet = isinstance(net, tvm.ResNet)
        if self.resnet:
            self.out_dim, self.dropped_keys = net.fc.in_features, ("fc.",)
            net.fc = nn.Identity()
        else:
            self.out_dim, self.dropped_keys = _remove_head(net, f"torchvision model {name!r}")
        if in_channels != 3:
            _replace_first_conv(net, in_channels)
        self.name = f"torchvision/{name}"
        self.net = net

    @property
    def blocks(self) -> List[nn.Module]:
        # Built on access from ``net`` so that copies (deepcopy, learn2learn's clone) stay consistent.
        n = self.net
        if self.resnet:
            return [nn.Sequential(n.conv1, n.bn1, n.relu, n.maxpool), n.layer1, n.layer2, n.layer3, n.layer4]
        return [n]

    def feature_size(self, image_size: int) -> int:
        """Output size D (the pooled features: independent of the input size)."""
        return self.out_dim

    def forward_from(self, x: torch.Tensor, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Run blocks ``start .. stop-1``; with ``stop=None`` also the final pooling."""
        blocks = self.blocks
        for block in blocks[start:stop]:
            x = block(x)
        if stop is None or stop >= len(blocks):
            x = self.head(x)
        return x

    def head(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3)) if self.resnet else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) float -> (B, out_dim) features."""
        return self.forward_from(x)


def timm_available() -> bool:
    try:
        import timm  # noqa: F401
    except ImportError:
        return False
    return True


class TimmBackbone(nn.Module):
    """A timm model without its classifier (``num_classes=0``: timm pools and drops the head).

    One block (``blocks = [net]``): hidden-layer mixing is available at layer 0 only.

    Args:
        name: a timm model name (``timm.list_models()``), e.g. ``"resnet18"``.
        in_channels: input channels (timm's ``in_chans``).
        width: must stay at 64 (the config default).
        **model_kwargs: passed to ``timm.create_model`` (never ``pretrained=True``).
    """

    weights_prefix = "net."

    def __init__(self, name: str, in_channels: int = 3, width: Any = None, **model_kwargs: Any):
        super().__init__()
        if not timm_available():
            raise ValueError(f"backbone 'timm/{name}' needs timm, which is not installed: "
                             "pip install 'fewshot[timm]' (or pip install timm)")
        import timm

        _check_width(f"timm/{name}", width)
        if model_kwargs.get("pretrained"):
            raise ValueError("timm backbones are built with pretrained=False (no downloads); load a "
                             "state_dict file with fewshot.backbones.load_weights (model.init) instead")
        model_kwargs.pop("pretrained", None)
        if not timm.is_model(name):
            close = timm.list_models(f"*{name}*")[:20]
            raise ValueError(f"unknown timm model {name!r} in backbone 'timm/{name}'"
                             + (f"; similar names: {', '.join(close)}" if close else "")
                             + "; see timm.list_models()")
        net = timm.create_model(name, pretrained=False, num_classes=0, in_chans=in_channels, **model_kwargs)
        classifier = net.pretrained_cfg.get("classifier") if getattr(net, "pretrained_cfg", None) else None
        if isinstance(classifier, str):
            classifier = (classifier,)
        self.dropped_keys = tuple(f"{c}." for c in (classifier or ()))
        self.out_dim = int(net.num_features)
        self.name = f"timm/{name}"
        self.net = net

    @property
    def blocks(self) -> List[nn.Module]:
        return [self.net]

    def feature_size(self, image_size: int) -> int:
        return self.out_dim

    def forward_from(self, x: torch.Tensor, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Run blocks ``start .. stop-1`` (the model is one block, which pools)."""
        if start == 0 and (stop is None or stop >= 1):
            x = self.net(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) float -> (B, out_dim) features."""
        return self.net(x)


_CLASSES = {"torchvision": TorchvisionBackbone, "timm": TimmBackbone}


def external_factory(source: str, model: str) -> Callable[..., nn.Module]:
    """A factory building ``source/model`` (``source`` in :data:`SOURCES`)."""
    cls = _CLASSES[source]

    def factory(**kwargs: Any) -> nn.Module:
        return cls(model, **kwargs)

    factory.__name__ = factory.__qualname__ = f"{source}/{model}"
    return factory


def is_known(source: str, model: str) -> bool:
    """Whether ``source/model`` names a model that exists (without building it)."""
    if source == "torchvision":
        return model in torchvision_names()
    if source == "timm" and timm_available():
        import timm

        return bool(timm.is_model(model))
    return False
