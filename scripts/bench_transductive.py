"""Every transductive method at its defaults: fewshot (batched) vs easyfsl 1.5.0 (per episode)
vs a transcription of the method's official code, on the same features and episodes.

For each method the script prints accuracy, the % of query predictions identical to easyfsl's
and to the official-code transcription (``tests/fewshot/transductive/official.py``), the
milliseconds per episode and the speed-up over easyfsl. No option is overridden in the
"default" rows; the "matched to easyfsl" rows set the options that make fewshot compute what
easyfsl computes (where easyfsl departs from the official code), to time both sides at equal
predictions. Timed paths are interleaved round by round (``scripts/benchlib.race``), best of
``--repeats``; the official transcriptions are run once, untimed (plain Python references).

    python scripts/bench_transductive.py [--way 5 --shot 1 --query 15 --episodes 200 --dim 64]

Features are synthetic and non-negative (ReLU of Gaussian classes, so PT-MAP's power
transform applies); each method gets the normalisation ``fewshot eval`` gives it by default
("l2" for TIM; "cl2n" methods get "l2" here since synthetic data has no base classes; "none"
for BD-CSPN; PT-MAP gets "l2", see below), and easyfsl gets the same features.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from episodes import EpisodeSampler
from fewshot.evaluation.transductive import episode_indices
from fewshot.transductive import get_method, preprocess, run_method

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "fewshot" / "transductive"))
import official  # noqa: E402  (the official-code transcriptions the tests use)
from benchlib import race  # noqa: E402

METHODS = ["nearest-centroid", "kmeans", "soft-kmeans", "laplacian-kmeans", "laplacian-kmodes",
           "laplacianshot", "tim", "bd-cspn", "pt-map"]
# options under which fewshot computes what easyfsl 1.5.0 computes (easyfsl departs from the
# official code for these); used only in the "matched" rows
MATCHED = {"laplacianshot": dict(rectify="bdcspn", rectify_eps=1.0),
           "bd-cspn": dict(eps=1.0, classify="unshifted"),
           "pt-map": dict(preprocess="power", steps=10)}


def synthetic(classes: int, per_class: int, dim: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, dim, generator=g, dtype=torch.float64)
    labels = np.repeat(np.arange(classes), per_class)
    feats = centres[torch.as_tensor(labels)] + 2.2 * torch.randn(len(labels), dim, generator=g,
                                                                dtype=torch.float64)
    return feats.relu(), labels


def easyfsl_model(name):
    from easyfsl import methods as m
    return {"laplacianshot": m.LaplacianShot, "tim": m.TIM, "bd-cspn": m.BDCSPN, "pt-map": m.PTMAP}[name]()


def official_predictions(name, zs, ys, zq, n_way, shot, n_query):
    s, q = zs.numpy(), zq.numpy()
    each = {
        "kmeans": lambda e: official.slk(s[e], q[e], n_way, shot, 0.0, "kmeans", lap_bound=False),
        "laplacian-kmeans": lambda e: official.slk(s[e], q[e], n_way, shot, 0.7, "kmeans"),
        "laplacian-kmodes": lambda e: official.slk(s[e], q[e], n_way, shot, 0.7, "MS"),
        "laplacianshot": lambda e: official.laplacianshot(s[e], q[e], n_way, shot, 0.7),
        "bd-cspn": lambda e: official.bd_cspn(s[e], q[e], n_way, shot),
        "soft-kmeans": lambda e: official.soft_kmeans_ren(s[e], q[e], n_way, shot),
        "pt-map": lambda e: official.pt_map(s[e], q[e], n_way, shot, n_query),
    }
    if name == "tim":
        return official.tim_gd(zs, ys, zq, n_way).numpy()
    if name not in each:
        return None
    return np.stack([each[name](e) for e in range(zs.shape[0])])


def bench_method(name, a, zs_raw, zq_raw, ys, yq, have_easyfsl) -> None:
    """Time and compare one method; print its rows."""
    norm = get_method(name).norm
    # PT-MAP gets L2-normalised (still non-negative) features: its official preprocessing does
    # not depend on the input scale, while easyfsl's exp(-10 * squared distance) underflows on
    # unnormalised features (chance accuracy on these), which would compare nothing
    zs, zq = preprocess(zs_raw, zq_raw, "l2" if norm in ("l2", "cl2n") or name == "pt-map" else "none")
    preds = {}

    def ours(options, key):
        def go(k):
            preds[key] = run_method(name, zs[:k], ys[:k], zq[:k], a.way, **options).argmax(-1)
        return go

    paths = {f"fewshot {name} (defaults, batched)": (ours({}, "default"), a.episodes)}
    if name in MATCHED:
        paths[f"fewshot {name} matched to easyfsl {MATCHED[name]}"] = (ours(MATCHED[name], "matched"), a.episodes)
    peer = None
    if have_easyfsl and name in ("laplacianshot", "tim", "bd-cspn", "pt-map"):
        peer = easyfsl_model(name)  # float32: easyfsl builds float32 tensors internally

        def peer_go(k):
            out = []
            for e in range(k):
                peer.process_support_set(zs[e].float(), ys[e])
                with torch.no_grad():
                    out.append(peer(zq[e].float()).argmax(-1))
            preds["easyfsl"] = torch.stack(out)
        paths[f"easyfsl 1.5.0 {type(peer).__name__} (defaults, per episode)"] = (peer_go, a.episodes)
    rates = race(paths, a.repeats)
    for path in paths:  # full-length predictions of every path (race's warm-up ran fewer)
        paths[path][0](a.episodes)
    keys = {path: key for path, key in zip(paths, ["default", "matched" if name in MATCHED else "easyfsl",
                                                   "easyfsl"])}
    ref = official_predictions(name, zs, ys, zq, a.way, a.shot, a.query)
    peer_rate = next((r for pth, r in rates.items() if pth.startswith("easyfsl")), None)
    rows = [(path, preds[keys[path]], 1000.0 / rates[path], rates[path]) for path in paths]
    if ref is not None:
        rows.append((f"official-code transcription ({name})", torch.as_tensor(ref), None, None))
    for path, pred, ms, rate in rows:
        acc = 100 * (pred == yq).double().mean().item()
        same_peer = f"{100 * (pred == preds['easyfsl']).double().mean().item():.2f}%" if "easyfsl" in preds else "-"
        same_ref = f"{100 * (pred.numpy() == ref).mean():.2f}%" if ref is not None else "-"
        speed = f"{rate / peer_rate:.1f}x" if rate and peer_rate else "-"
        ms_txt = f"{ms:.3f}" if ms is not None else "(untimed)"
        print(f"| {name} | {path} | {acc:.2f} | {same_peer} | {same_ref} | {ms_txt} | {speed} |")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--way", type=int, default=5)
    p.add_argument("--shot", type=int, default=1)
    p.add_argument("--query", type=int, default=15)
    p.add_argument("--episodes", type=int, default=200)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    try:
        import easyfsl.methods  # noqa: F401
        have_easyfsl = True
    except ImportError:
        have_easyfsl = False
        print("easyfsl is not installed: easyfsl columns skipped (`.venv/bin/pip install easyfsl==1.5.0 "
              "--no-deps`, the `bench` extra)")
    # easyfsl 1.5.0's TaskSampler passes data_source to Sampler.__init__, which torch >= 2.6
    # rejects; only easyfsl.methods is used here (features come ready), so no shim is needed.

    feats, labels = synthetic(64, 100, a.dim)
    index = episode_indices(EpisodeSampler(labels, n_way=a.way, k_shot=a.shot, n_query=a.query,
                                           n_episodes=a.episodes, seed=0))
    n_s = a.way * a.shot
    z = feats[index]
    zs_raw, zq_raw = z[:, :n_s], z[:, n_s:]
    ys = torch.arange(a.way).repeat_interleave(a.shot).expand(a.episodes, -1).contiguous()
    yq = torch.arange(a.way).repeat_interleave(a.query)
    print(f"features: synthetic ReLU(Gaussian) classes (64 x 100, {a.dim}-d); {a.episodes} episodes "
          f"{a.way}-way {a.shot}-shot {a.query}-query; fewshot float64, easyfsl float32, cpu, "
          f"{a.threads} thread(s); best of {a.repeats}")
    print("\n| method | path | accuracy % | same as easyfsl | same as official code | ms / episode | "
          "speed-up vs easyfsl |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name in a.methods:
        bench_method(name, a, zs_raw, zq_raw, ys, yq, have_easyfsl)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
