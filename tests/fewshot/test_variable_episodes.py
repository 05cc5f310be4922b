"""Variable-way variable-shot, imbalanced and multi-domain episodes through config, sampler
factory, ProtoNet, evaluation, the multi-domain data set and the trainer."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tiny_run  # noqa: E402,F401  (registers the "tiny" data set)

from episodes import EpisodeSampler, EpisodeSpec  # noqa: E402
from fewshot.backbones import Conv4  # noqa: E402
from fewshot.config import ConfigError, config_from_dict, load_config  # noqa: E402
from fewshot.data.base import ImageSplit  # noqa: E402
from fewshot.data.images import to_array  # noqa: E402
from fewshot.data.registry import load_split, register_dataset  # noqa: E402
from fewshot.engine.trainer import train  # noqa: E402
from fewshot.evaluation import evaluate  # noqa: E402
from fewshot.evaluation.run_eval import evaluate_run  # noqa: E402
from fewshot.learners import ProtoNet  # noqa: E402
from fewshot.runs.episodes import build_sampler, episode_task  # noqa: E402
from fewshot.runs.inputs import Normalizer, pixel_stats  # noqa: E402

VARIABLE = {"min_ways": 2, "max_ways_upper_bound": 5, "max_num_query": 3, "max_support_set_size": 12,
            "max_support_size_contrib_per_class": 4}


@register_dataset("h11_rgb")
def load_rgb(split: str, root=None, image_size: int = 0, seed: int = 0, **options) -> ImageSplit:
    """4 colour classes of 12 x 12 images, whatever image_size says (multi must resize them)."""
    rng = np.random.default_rng(7)
    images = rng.integers(0, 256, (4 * 8, 12, 12, 3), dtype=np.uint8)
    return ImageSplit(images, np.repeat(np.arange(4), 8), ["red", "green", "blue", "grey"], f"h11_rgb/{split}",
                      meta={"group": ["warm", "cold", "cold", "none"]})


def multi_data(**extra):
    sources = [{"name": "tiny", "split": "train", "options": {"per_class": 12}},
               {"name": "h11_rgb", "split": "train", "classes": ["green", "red", "blue"], "max_per_class": 6}]
    return {"name": "multi", "image_size": 16, "train_split": "train", "val_split": "train",
            "test_split": "train", "options": {"splits": {"train": sources}, **extra}}


def section(kind="variable", **keys):
    options = VARIABLE if kind == "variable" else ({"min_shot": 1, "max_shot": 4} if kind == "imbalanced" else {})
    return config_from_dict({"train": {"n_way": 3, "k_shot": 2, "n_query": 2, "episode_kind": kind,
                                       "episode_options": options, **keys}}).train


# ---------------------------------------------------------------- config
def test_defaults_keep_fixed_episodes_and_bad_keys_are_named():
    cfg = load_config(None)
    assert cfg.train.episode_kind == cfg.eval.episode_kind == "fixed" and cfg.train.domains == "auto"
    for override, needle in [("train.episode_kind=metadataset", "train.episode_kind"),
                             ("eval.episode_options={max_shot: 3}", "eval.episode_options"),
                             ("train.domains=random", "train.domains"),
                             ("train.p_mixed=1.5", "train.p_mixed"),
                             ("eval.p_ignore_hierarchy=0.5", "needs 'eval.hierarchy'")]:
        with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
            load_config(None, [override])
    with pytest.raises(ConfigError, match="max_ways_upper_bound must be >= 9"):
        load_config(None, ["train.episode_kind=variable",
                           "train.episode_options={min_ways: 9, max_ways_upper_bound: 4}"])
    with pytest.raises(ConfigError, match="domains: mixed"):
        load_config(None, ["train.domains=mixed", "train.domain_weights={a: 1}"])


# ---------------------------------------------------------------- ProtoNet on unequal shots
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_protonet_prototypes_and_logits_with_unequal_shots_match_a_loop(dtype):
    torch.manual_seed(0)
    spec = EpisodeSpec(np.arange(3), np.array([1, 4, 2]), np.array([2, 1, 3]))
    ys = torch.from_numpy(spec.support_labels())
    zs, zq = torch.randn(spec.support_size, 6, dtype=dtype), torch.randn(spec.query_size, 6, dtype=dtype)
    learner = ProtoNet(torch.nn.Identity()).to(dtype)
    logits = learner.logits_from_features(zs, ys, zq, spec.n_way)
    for i in range(spec.query_size):
        for k in range(spec.n_way):
            members = [zs[j] for j in range(spec.support_size) if int(ys[j]) == k]
            proto = sum(members) / len(members)
            expected = -float(sum((zq[i][d] - proto[d]) ** 2 for d in range(6)))
            assert float(logits[i, k]) == pytest.approx(expected, rel=1e-5, abs=1e-5)


def test_protonet_trains_on_an_imbalanced_episode():
    torch.manual_seed(0)
    spec = EpisodeSpec(np.arange(4), np.array([1, 3, 5, 2]), np.array([2, 2, 2, 2]))
    x = torch.randn(spec.support_size + spec.query_size, 1, 16, 16)
    learner = ProtoNet(Conv4(1, width=8))
    out = learner.episode_loss(*episode_task(x, spec), spec.n_way)
    out["loss"].backward()
    assert torch.isfinite(out["loss"]) and all(p.grad is not None for p in learner.parameters())


# ---------------------------------------------------------------- sampler factory
def test_fixed_kind_gives_exactly_the_episode_sampler_episodes():
    split = load_split("tiny", "train")
    fixed = build_sampler(section("fixed"), split, 20, 5)
    plain = EpisodeSampler(split.labels, 3, 2, 2, 20, 5)
    assert [list(a) for a in fixed] == [list(b) for b in plain]


def test_multi_domain_split_has_global_labels_domains_and_one_shape():
    split = load_split("multi", "train", image_size=16, splits=multi_data()["options"]["splits"], channels=1)
    assert split.images.shape == (8 * 12 + 3 * 6, 16, 16)  # RGB 12 px -> grey 16 px
    assert split.meta["domain_names"] == ["tiny", "h11_rgb"] and split.num_classes == 11
    np.testing.assert_array_equal(np.bincount(split.meta["domains"]), [96, 18])
    np.testing.assert_array_equal(split.meta["class_domains"], [0] * 8 + [1] * 3)
    assert split.class_names[8:] == ["h11_rgb/green", "h11_rgb/red", "h11_rgb/blue"]
    np.testing.assert_array_equal(np.bincount(split.labels), [12] * 8 + [6] * 3)
    assert split.meta["group"] == [None] * 8 + ["cold", "warm", "cold"]  # per-class meta, merged
    rgb = load_split("multi", "train", image_size=16, splits=multi_data()["options"]["splits"])
    assert rgb.images.shape == (114, 16, 16, 3)  # by default colour as soon as one source has it
    resized_green = [to_array(g, 16, 3) for g in load_rgb("train").images[8:16]]  # source label 1
    for kept in rgb.images[rgb.labels == 8]:  # new label 8 = "green": 6 of its 8 images, resized
        assert any(np.array_equal(kept, g) for g in resized_green)


@pytest.mark.parametrize("splits, needle", [
    ({"train": [{"name": "tiny", "split": "train"}, {"name": "tiny", "split": "val"}]}, "distinct `domain`"),
    ({"train": [{"name": "h11_rgb", "split": "x", "classes": ["pink"]}]}, "no class named 'pink'"),
    ({"train": [{"name": "tiny", "split": "train", "colour": 1}]}, "unknown key 'colour'"),
    ({"test": [{"name": "tiny", "split": "train"}]}, "no split 'train'"),
])
def test_multi_refuses_bad_sources(splits, needle):
    with pytest.raises(ValueError, match=needle):
        load_split("multi", "train", image_size=16, splits=splits)


def test_by_domain_episodes_follow_the_weights_and_stay_in_one_domain():
    split = load_split("multi", "train", image_size=16, splits=multi_data()["options"]["splits"], channels=1)
    sampler = build_sampler(section(domains="by_domain", domain_weights={"tiny": 3.0, "h11_rgb": 1.0}),
                            split, 400, 0)
    counts = np.zeros(2)
    for ep in sampler.iter_episodes():
        domains = np.unique(split.meta["domains"][ep.indices])
        assert domains.tolist() == [ep.spec.domain]
        counts[ep.spec.domain] += 1
        assert 2 <= ep.spec.n_way <= (5 if ep.spec.domain == 0 else 3)
    assert abs(counts[0] / 400 - 0.75) < 0.07  # 3:1, within ~3.3 standard deviations
    with pytest.raises(ValueError, match="names domain 'fashion'"):
        build_sampler(section(domain_weights={"fashion": 1.0}), split, 4, 0)
    with pytest.raises(ValueError, match="has no domains"):
        build_sampler(section(domains="by_domain"), load_split("tiny", "train"), 4, 0)


def test_hierarchy_keeps_each_episode_within_one_parent():
    split = load_split("tiny", "train")
    split.meta["family"] = ["a", "a", "a", "b", "b", "b", "b", "c"]  # "c" too small: never drawn
    with pytest.warns(UserWarning, match="never drawn"):
        sampler = build_sampler(section("fixed", hierarchy="family"), split, 50, 0)
    for ep in sampler.iter_episodes():
        assert len({split.meta["family"][c] for c in split.labels[ep.indices]}) == 1
    with pytest.raises(ValueError, match="per-class keys: family"):
        build_sampler(section("fixed", hierarchy="alphabets"), split, 4, 0)


# ---------------------------------------------------------------- evaluation
@pytest.mark.parametrize("kind", ["variable", "imbalanced"])
def test_evaluate_variable_episodes_reports_accuracies_and_shape_distribution(kind):
    split = load_split("multi", "train", image_size=16, splits=multi_data()["options"]["splits"], channels=1)
    torch.manual_seed(0)
    learner = ProtoNet(Conv4(1, width=8))
    norm = Normalizer(*pixel_stats(split.images), "cpu")
    make = lambda: build_sampler(section(kind), split, 12, 3, advance_epoch=False)  # noqa: E731
    specs = [ep.spec for ep in make().iter_episodes()]
    cached = evaluate(learner, split, norm, sampler=make(), feature_cache=True)
    direct = evaluate(learner, split, norm, sampler=make(), feature_cache=False)
    np.testing.assert_allclose(cached.accuracies, direct.accuracies, atol=1e-6)
    assert cached.episodes == 12 and cached.episode_kind == kind
    np.testing.assert_array_equal(cached.ways, [s.n_way for s in specs])
    np.testing.assert_array_equal(cached.shots, np.concatenate([s.n_support for s in specs]))
    np.testing.assert_array_equal(cached.domains, [s.domain for s in specs])
    for acc, spec in zip(cached.accuracies, specs):  # plain accuracy over the episode's queries
        assert acc * spec.query_size == pytest.approx(round(acc * spec.query_size))
    summary = cached.summary()
    assert summary["ways"] == {"mean": round(float(np.mean(cached.ways)), 3),
                               "min": int(cached.ways.min()), "max": int(cached.ways.max())}
    assert summary["shots"]["min"] >= 1 and summary["shots"]["max"] == int(cached.shots.max())
    assert set(summary["per_domain"]) <= {"tiny", "h11_rgb"}
    assert sum(d["episodes"] for d in summary["per_domain"].values()) == 12
    if kind == "imbalanced":
        assert cached.n_way == 3 and cached.k_shot == 0 and cached.n_query == 2
    assert f"{kind} episodes (ways" in str(cached)


# ---------------------------------------------------------------- trainer + run evaluation
def test_trainer_runs_variable_multi_domain_episodes_and_evaluates_them(tmp_path):
    episode = {"episode_kind": "variable", "episode_options": VARIABLE}
    cfg = config_from_dict({
        "data": multi_data(channels=1), "model": {"backbone": "conv4", "learner": "protonet", "width": 8},
        "train": {"episodes": 6, "val_every": 3, "val_episodes": 4, "ckpt_every": 3, "log_every": 2,
                  "lr": 0.005, "threads": 1, "progress": False, "tensorboard": False, "seed": 1,
                  "domain_weights": {"tiny": 1.0, "h11_rgb": 1.0}, **episode},
        "eval": {"episodes": 5, **episode}})
    result = train(cfg, tmp_path / "run")
    assert result.episodes == 6 and result.best_val is not None
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["episode"] for r in rows if r["kind"] == "val"] == [3, 6]
    (res,) = evaluate_run(tmp_path / "run", progress=False)
    assert res.episode_kind == "variable" and res.episodes == 5
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved[-1]["ways"]["max"] <= 5 and saved[-1]["episode_kind"] == "variable"
    (csv,) = (tmp_path / "run" / "eval").glob("*variable*.csv")
    header, *lines = csv.read_text().splitlines()
    assert header == "episode,accuracy,ways,support,query,domain" and len(lines) == 5
    assert [int(line.split(",")[2]) for line in lines] == res.ways.tolist()
