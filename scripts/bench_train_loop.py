"""Training-loop overhead: `fewshot train`'s loop vs a bare hand-written PyTorch loop.

Same model (Conv4 + ProtoNet), same in-memory data, same episode shape, same optimiser; the
bare loop draws classes and shots with torch.randperm and does nothing else. Validation and
periodic checkpoints are switched off in our loop so that only the per-episode overhead
(sampling, logging, progress, NaN check, scheduler) is compared.

    python scripts/bench_train_loop.py [--episodes 300 --size 28 --way 20 --shot 1 --query 5]
        [--backbones conv4 resnet12 resnet18 --width 64]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

from fewshot.backbones import create_backbone
from fewshot.config import load_config
from fewshot.data.base import ImageSplit
from fewshot.data.registry import register_dataset
from fewshot.distances import squared_euclidean
from fewshot.engine.trainer import train
from fewshot.learners.protonet import prototypes


def make_data(classes: int, per_class: int, size: int) -> ImageSplit:
    g = np.random.default_rng(0)
    images = g.integers(0, 256, (classes * per_class, size, size), dtype=np.uint8)
    labels = np.repeat(np.arange(classes), per_class)
    return ImageSplit(images, labels, [str(c) for c in range(classes)], "bench/train")


def bare_loop(data: ImageSplit, episodes: int, way: int, shot: int, query: int, backbone: str = "conv4",
              width: int = 64) -> float:
    torch.manual_seed(0)
    net = create_backbone(backbone, in_channels=1, width=width)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    images = torch.from_numpy(data.images)
    by_class = [torch.from_numpy(np.flatnonzero(data.labels == c)) for c in range(len(data.class_names))]
    ys = torch.arange(way).repeat_interleave(shot)
    yq = torch.arange(way).repeat_interleave(query)
    start = time.perf_counter()
    for _ in range(episodes):
        classes = torch.randperm(len(by_class))[:way]
        picks = [by_class[c][torch.randperm(len(by_class[c]))[: shot + query]] for c in classes.tolist()]
        idx = torch.cat([p[:shot] for p in picks] + [p[shot:] for p in picks])
        x = (images[idx].unsqueeze(1).float() / 255 - 0.5) / 0.25
        z = net(x)
        logits = -squared_euclidean(z[len(ys):], prototypes(z[: len(ys)], ys, way))
        loss = F.cross_entropy(logits, yq)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return episodes / (time.perf_counter() - start)


def our_loop(episodes: int, way: int, shot: int, query: int, backbone: str = "conv4", width: int = 64) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(None, [
            "data.name=bench", f"model.backbone={backbone}", f"model.width={width}", f"train.episodes={episodes}",
            f"train.n_way={way}", f"train.k_shot={shot}",
            f"train.n_query={query}", "train.val_every=0", "train.ckpt_every=0", "train.keep_last=0",
            "train.progress=false", f"run.out_dir={tmp}"])
        result = train(cfg, f"{tmp}/run")
        return episodes / result.seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--episodes", type=int, default=300)
    p.add_argument("--size", type=int, default=28)
    p.add_argument("--way", type=int, default=20)
    p.add_argument("--shot", type=int, default=1)
    p.add_argument("--query", type=int, default=5)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--backbones", nargs="+", default=["conv4"], help="registered backbones to compare")
    p.add_argument("--width", type=int, default=64, help="model.width of every backbone")
    a = p.parse_args()
    torch.set_num_threads(1)
    data = make_data(64, 40, a.size)
    register_dataset("bench")(lambda split, **kw: data)
    print(f"{a.way}-way {a.shot}-shot {a.query}-query, {a.size}x{a.size} grayscale, width {a.width}, 1 thread, "
          f"best of {a.repeats} x {a.episodes} episodes")
    print("\n| backbone | bare loop episodes/s | fewshot train loop episodes/s | ratio to bare loop |")
    print("|---|---:|---:|---:|")
    for backbone in a.backbones:
        bare, ours = [], []
        for _ in range(a.repeats):  # interleaved, so machine noise hits both alike
            bare.append(bare_loop(data, a.episodes, a.way, a.shot, a.query, backbone, a.width))
            ours.append(our_loop(a.episodes, a.way, a.shot, a.query, backbone, a.width))
        b, o = max(bare), max(ours)
        print(f"| {backbone} | {b:.1f} | {o:.1f} | {o / b:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
