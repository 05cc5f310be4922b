"""One prepared check for a machine with a GPU: fewshot's training loop against a bare loop.

On a miniImageNet-shaped synthetic cache (64 classes x 600 images x 84x84x3 uint8, 813 MB) it
trains ProtoNet with Conv4 and ResNet-12, 30-way 1-shot 15-query, for a fixed number of
episodes in fp32, bf16 and bf16 + channels_last, with the images on the host (gathered and
copied per episode; fewshot's loop prefetches 2 episodes ahead into pinned memory, its CUDA
default ``train.prefetch``) and device-resident (uploaded once), next to a bare hand-written PyTorch
loop on the same data, and prints episodes/s, the ratio to the bare loop, GPU utilisation (from
nvidia-smi, when it is there) and peak memory. With two or more GPUs it also runs the 2-process
DDP path (torchrun, nccl). Needs only torch, numpy, PyYAML and tqdm (no learn2learn):

    PYTHONPATH=. python3 scripts/gpu_check.py [--out results.json]
    PYTHONPATH=. python3 scripts/gpu_check.py --smoke      # a tiny CPU run of every code path

Designed to finish within 8 minutes on one modern GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fewshot.backbones import create_backbone  # noqa: E402
from fewshot.config import load_config  # noqa: E402
from fewshot.data.base import ImageSplit  # noqa: E402
from fewshot.data.registry import register_dataset  # noqa: E402
from fewshot.distances import squared_euclidean  # noqa: E402
from fewshot.engine.trainer import train  # noqa: E402
from fewshot.learners.protonet import prototypes  # noqa: E402

WIDTH = {"conv4": 64, "resnet12": 64}


def synthetic_split(classes: int, per_class: int, size: int) -> ImageSplit:
    """uint8 (N, S, S, 3) images with a class-dependent mean (learnable), as the cache stores them."""
    g = np.random.default_rng(0)
    images = g.integers(0, 200, (classes * per_class, size, size, 3), dtype=np.uint8)
    labels = np.repeat(np.arange(classes), per_class)
    images += (labels * (55 // max(1, classes - 1))).astype(np.uint8)[:, None, None, None]
    return ImageSplit(images, labels, [f"c{c}" for c in range(classes)], "gpucheck/train")


class GpuSampler:
    """Utilisation of GPU 0 sampled from nvidia-smi every 0.2 s while a run goes on."""

    def __init__(self):
        self.values: List[float] = []
        self.available = shutil.which("nvidia-smi") is not None and torch.cuda.is_available()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def __enter__(self):
        if self.available:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            try:
                out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                                      "-i", "0"], capture_output=True, text=True, timeout=5)
                self.values.append(float(out.stdout.strip().splitlines()[0]))
            except (OSError, ValueError, IndexError, subprocess.SubprocessError):
                return
            self._stop.wait(0.2)

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=6)

    @property
    def mean(self) -> str:
        return f"{np.mean(self.values):.0f}%" if self.values else "n/a"


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _reset_peak(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()


def _peak(device: str) -> str:
    return f"{torch.cuda.max_memory_allocated() / 2**20:.0f}" if device.startswith("cuda") else "n/a"


def bare_loop(split: ImageSplit, backbone: str, episodes: int, way: int, shot: int, query: int, device: str,
              precision: str, channels_last: bool, resident: bool) -> float:
    """A hand-written ProtoNet loop: torch.randperm sampling, Adam, the same backbone."""
    torch.manual_seed(0)
    net = create_backbone(backbone, in_channels=3, width=WIDTH[backbone]).to(device)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    host = torch.from_numpy(split.images)
    images = host.to(device) if resident else host
    by_class = [np.flatnonzero(split.labels == c) for c in range(len(split.class_names))]
    ys = torch.arange(way, device=device).repeat_interleave(shot)
    yq = torch.arange(way, device=device).repeat_interleave(query)
    dtype = {"bf16": torch.bfloat16}.get(precision)

    def one():
        classes = np.random.permutation(len(by_class))[:way]
        picks = [np.random.permutation(by_class[c])[: shot + query] for c in classes]
        idx = np.concatenate([p[:shot] for p in picks] + [p[shot:] for p in picks])
        x = images[torch.from_numpy(idx).to(images.device)].to(device, non_blocking=True)
        x = (x.permute(0, 3, 1, 2).float() / 255 - 0.45) / 0.25
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device_type=torch.device(device).type, dtype=dtype, enabled=dtype is not None):
            z = net(x)
            logits = -squared_euclidean(z[len(ys):].float(), prototypes(z[: len(ys)].float(), ys, way))
        loss = F.cross_entropy(logits, yq)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(min(5, episodes)):  # warm-up (cuDNN autotuning, allocator)
        one()
    _sync(device)
    start = time.perf_counter()
    for _ in range(episodes):
        one()
    _sync(device)
    return episodes / (time.perf_counter() - start)


def our_loop(backbone: str, episodes: int, way: int, shot: int, query: int, device: str, precision: str,
             channels_last: bool, resident: bool, image_size: int, out_dir: str) -> float:
    cfg = load_config(None, [
        "data.name=gpucheck", f"data.image_size={image_size}", "data.train_split=train",
        f"model.backbone={backbone}", f"model.width={WIDTH[backbone]}", f"train.episodes={episodes}",
        f"train.n_way={way}", f"train.k_shot={shot}", f"train.n_query={query}", "train.val_every=0",
        f"train.ckpt_every={episodes}", "train.keep_last=0", "train.progress=false", "train.tensorboard=false",
        f"train.device={device}", f"train.precision={precision}", f"train.channels_last={str(channels_last).lower()}",
        f"train.data_on_device={str(resident).lower()}", f"run.out_dir={out_dir}"])
    result = train(cfg, Path(out_dir) / f"{backbone}-{precision}-{channels_last}-{resident}-{time.time_ns()}")
    return episodes / result.seconds


def ddp_check(way: int, shot: int, query: int, episodes: int) -> Optional[str]:
    """The 2-process DDP path with nccl when two GPUs are visible (None otherwise)."""
    if not torch.cuda.is_available() or torch.cuda.device_count() < 2:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        plugin = Path(tmp) / "gpucheck_plugin.py"
        plugin.write_text(
            "import numpy as np\nfrom fewshot.data.base import ImageSplit\n"
            "from fewshot.data.registry import register_dataset\n"
            "@register_dataset('gpucheck')\n"
            "def load(split='train', root=None, image_size=84, seed=0, **o):\n"
            "    g = np.random.default_rng(0)\n"
            "    labels = np.repeat(np.arange(64), 100)\n"
            "    x = g.integers(0, 256, (len(labels), image_size, image_size, 3), dtype=np.uint8)\n"
            "    return ImageSplit(x, labels, [str(c) for c in range(64)], 'gpucheck/' + split)\n")
        env = dict(os.environ, FEWSHOT_PLUGINS="gpucheck_plugin",
                   PYTHONPATH=os.pathsep.join([tmp, str(Path(__file__).resolve().parents[1]),
                                               os.environ.get("PYTHONPATH", "")]))
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "-m", "fewshot", "train",
               "--no-eval", "data.name=gpucheck", "data.train_split=train", "data.image_size=84", "model.width=64",
               f"train.n_way={way}", f"train.k_shot={shot}", f"train.n_query={query}", "train.meta_batch=2",
               f"train.episodes={episodes}", "train.val_every=0", f"train.ckpt_every={episodes}",
               "train.device=cuda", "train.progress=false", f"run.out_dir={tmp}", "run.name=ddp"]
        start = time.perf_counter()
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
        seconds = time.perf_counter() - start
        if out.returncode != 0:
            return f"failed (exit {out.returncode}): {out.stderr.strip().splitlines()[-1:]}"
        return f"ok: {episodes} episodes on 2 GPUs in {seconds:.1f} s wall (start-up included)"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="tiny sizes on the CPU: check every code path runs")
    p.add_argument("--out", help="also write the rows as JSON here")
    p.add_argument("--episodes", type=int, help="episodes per measured run (default 200 Conv4 / 60 ResNet-12)")
    a = p.parse_args()
    device = "cuda" if torch.cuda.is_available() and not a.smoke else "cpu"
    if a.smoke:
        classes, per_class, size, way, shot, query = 8, 12, 16, 4, 1, 2
        episodes = {"conv4": 2, "resnet12": 1}
        WIDTH.update(conv4=8, resnet12=8)
        precisions = [("32", False), ("bf16", False), ("bf16", True)]
        torch.set_num_threads(1)
    else:
        if device == "cpu":
            print("no CUDA device: this check is meant for a GPU machine (use --smoke for a CPU run)")
            return 2
        torch.backends.cudnn.benchmark = True
        classes, per_class, size, way, shot, query = 64, 600, 84, 30, 1, 15
        episodes = {"conv4": a.episodes or 200, "resnet12": a.episodes or 60}
        precisions = [("32", False), ("bf16", False), ("bf16", True)]
    start_all = time.perf_counter()
    split = synthetic_split(classes, per_class, size)
    register_dataset("gpucheck", replace=True)(lambda split_name="train", **kw: split)
    name = torch.cuda.get_device_name(0) if device == "cuda" else "CPU"
    print(f"# gpu_check on {name}: torch {torch.__version__}, {split.images.shape[0]} images "
          f"{size}x{size}x3 uint8 ({split.images.nbytes / 2**20:.0f} MiB), {way}-way {shot}-shot {query}-query\n")
    print("| backbone | precision | channels_last | input | bare loop ep/s | fewshot ep/s | ratio | GPU util | "
          "peak MiB |")
    print("|---|---|---|---|---:|---:|---:|---:|---:|")
    rows: List[Dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for backbone in ("conv4", "resnet12"):
            n = episodes[backbone]
            for precision, cl in precisions:
                for resident in (False, True):
                    bare = bare_loop(split, backbone, n, way, shot, query, device, precision, cl, resident)
                    _reset_peak(device)
                    with GpuSampler() as util:
                        ours = our_loop(backbone, n, way, shot, query, device, precision, cl, resident, size, tmp)
                    row = {"backbone": backbone, "precision": precision, "channels_last": cl,
                           "input": "device" if resident else "host", "bare_eps": round(bare, 2),
                           "ours_eps": round(ours, 2), "ratio": round(ours / bare, 3), "gpu_util": util.mean,
                           "peak_mib": _peak(device)}
                    rows.append(row)
                    print(f"| {backbone} | {precision} | {cl} | {row['input']} | {bare:.1f} | {ours:.1f} | "
                          f"{ours / bare:.2f}x | {util.mean} | {row['peak_mib']} |", flush=True)
    ddp = None if a.smoke else ddp_check(way, shot, query, 40)
    print(f"\nDDP (2 processes, nccl): {ddp or 'skipped (fewer than 2 GPUs)'}")
    print(f"total {time.perf_counter() - start_all:.0f} s")
    if a.out:
        Path(a.out).write_text(json.dumps({"device": name, "torch": torch.__version__, "rows": rows, "ddp": ddp},
                                          indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
