"""``python -m fewshot.backbones [NAME ...]``: the backbone table of the README (feature size at
28x28 grey and 84x84 colour, parameters at the default width), measured by a forward pass."""

from __future__ import annotations

import sys

import torch

from . import BACKBONES, create_backbone


def row(name: str) -> str:
    sizes = []
    for channels, size in ((1, 28), (3, 84)):
        net = create_backbone(name, in_channels=channels).eval()
        with torch.no_grad():
            out = net(torch.zeros(1, channels, size, size))
        assert out.shape[1] == net.feature_size(size), (name, size)
        sizes.append(out.shape[1])
    params = sum(p.numel() for p in create_backbone(name, in_channels=3).parameters())
    blocks = len(create_backbone(name, in_channels=3).blocks)
    return f"| `{name}` | {sizes[0]} | {sizes[1]} | {params / 1e6:.2f}M | {blocks} |"


def main(argv: list) -> None:
    torch.set_num_threads(1)
    names = argv or [*sorted(BACKBONES), "torchvision/resnet18"]
    print("| `model.backbone` | features, 28x28 grey | features, 84x84 colour | parameters (colour) | blocks |")
    print("|---|---|---|---|---|")
    for name in names:
        print(row(name), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
