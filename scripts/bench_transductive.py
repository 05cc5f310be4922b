"""Batched transductive inference vs easyfsl's per-episode LaplacianShot, on the same features.

Both sides run LaplacianShot (rectified prototypes with exp(cos) weights, kNN graph of the
queries with k=3 including the point itself, lambda 0.7, at most 20 bound updates) on the same
L2-normalised features of the same episodes. Ours processes ``--chunk`` episodes as one batch
of tensors; easyfsl 1.5.0 runs ``process_support_set`` + ``forward`` once per episode. The
script prints both accuracies (they must agree), the fraction of identical predictions, the
milliseconds per episode and the speed ratios (target: batched >= 5x the per-episode peer).

    python scripts/bench_transductive.py [--run RUN_DIR] [--way 5 --shot 5 --query 15 --episodes 500]

Without ``--run`` the features are synthetic (Gaussian classes, 64-d); with ``--run`` they are
the run's test-split embeddings.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from fewshot.evaluation.transductive import episode_indices
from fewshot.transductive import run_method


def synthetic(classes: int, per_class: int, dim: int, seed: int = 0):
    """Gaussian classes whose 5-way accuracy is far from 100%, so disagreements would show."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, dim, generator=g)
    labels = np.repeat(np.arange(classes), per_class)
    feats = centres[torch.as_tensor(labels)] + 2.2 * torch.randn(len(labels), dim, generator=g)
    return feats, labels


def run_features(run: Path, device: str):
    from fewshot.data.registry import load_from_config
    from fewshot.evaluation.evaluate import embed_split
    from fewshot.evaluation.run_eval import load_learner, resolve_checkpoint

    ckpt, _ = resolve_checkpoint(run)
    learner, cfg, norm = load_learner(ckpt, device)
    data = load_from_config(cfg.data, cfg.data.test_split)
    return embed_split(learner, data.images, norm), data.labels


def timed(fn, repeats: int):
    fn()  # warm-up (lazy imports, allocator)
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", type=Path, help="use this run's test-split features instead of synthetic ones")
    p.add_argument("--way", type=int, default=5)
    p.add_argument("--shot", type=int, default=5)
    p.add_argument("--query", type=int, default=15)
    p.add_argument("--episodes", type=int, default=500)
    p.add_argument("--chunk", type=int, default=500)
    p.add_argument("--lam", type=float, default=0.7)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    try:
        from easyfsl.methods import LaplacianShot
    except ImportError:
        print("easyfsl is not installed: benchmark skipped (install it with "
              "`.venv/bin/pip install easyfsl==1.5.0 --no-deps`, the `bench` extra)")
        return 0
    # easyfsl 1.5.0's TaskSampler passes data_source to Sampler.__init__, which torch >= 2.6
    # rejects; this benchmark never builds a TaskSampler (features come ready), so no shim is needed.

    feats, labels = run_features(a.run, a.device) if a.run else synthetic(64, 100, 64)
    feats = torch.nn.functional.normalize(feats.float(), dim=-1).to(a.device)  # L2N for both sides
    index = episode_indices(labels, a.way, a.shot, a.query, a.episodes, seed=0).to(a.device)
    n_s = a.way * a.shot
    z = feats[index]
    zs, zq = z[:, :n_s], z[:, n_s:]
    ys = torch.arange(a.way, device=a.device).repeat_interleave(a.shot).expand(a.episodes, -1)
    yq = torch.arange(a.way, device=a.device).repeat_interleave(a.query)
    opts = dict(lam=a.lam, knn=3, rectify=True, rectify_eps=1.0)  # easyfsl's weights: exp(cos)

    def ours(chunk):
        def go():
            return torch.cat([run_method("laplacianshot", zs[i:i + chunk], ys[i:i + chunk], zq[i:i + chunk],
                                         a.way, **opts).argmax(-1) for i in range(0, a.episodes, chunk)])
        return go

    peer_model = LaplacianShot(lambda_regularization=a.lam, knn=3, inference_steps=20).to(a.device)

    def peer():
        preds = []
        with torch.no_grad():
            for e in range(a.episodes):
                peer_model.process_support_set(zs[e], ys[e])
                preds.append(peer_model(zq[e]).argmax(-1))
        return torch.stack(preds)

    src = f"run {a.run}" if a.run else "synthetic Gaussian classes (64 x 100, 64-d)"
    print(f"features: {src}; {a.episodes} episodes {a.way}-way {a.shot}-shot {a.query}-query; "
          f"device {a.device}, {a.threads} thread(s); best of {a.repeats}")
    rows = {}
    rows["easyfsl 1.5.0 LaplacianShot, per episode"] = timed(peer, a.repeats)
    rows["fewshot laplacianshot, one episode at a time"] = timed(ours(1), a.repeats)
    rows[f"fewshot laplacianshot, batched ({min(a.chunk, a.episodes)} episodes)"] = timed(ours(a.chunk), a.repeats)
    peer_time, peer_pred = rows["easyfsl 1.5.0 LaplacianShot, per episode"]
    print("\n| path | accuracy % | same predictions as easyfsl | ms / episode | speed-up vs easyfsl |")
    print("|---|---:|---:|---:|---:|")
    for name, (sec, pred) in rows.items():
        acc = 100 * (pred == yq).float().mean().item()
        same = 100 * (pred == peer_pred).float().mean().item()
        print(f"| {name} | {acc:.2f} | {same:.2f}% | {1000 * sec / a.episodes:.3f} | {peer_time / sec:.1f}x |")
    batched = list(rows.values())[-1][0]
    ratio = peer_time / batched
    print(f"\nbatched / per-episode peer speed ratio: {ratio:.1f}x (target >= 5x: "
          f"{'met' if ratio >= 5 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
