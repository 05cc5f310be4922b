"""Typed configuration: dataclasses, YAML defaults, dotted ``key=value`` overrides.

A config file is YAML with the same nesting as :class:`Config`. Unknown keys and values of the
wrong type are rejected with a :class:`ConfigError` that lists the valid keys (and the closest
match), so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import numpy as np
import yaml

from episodes import Describer, FixedShots, ImbalancedShots, VariableWaysShots

from .augment import Augment
from .optim import OPTIMIZERS, SCHEDULES
from .registry import Registry


class ConfigError(ValueError):
    """A config file or override that does not fit the schema."""


@dataclass
class DataConfig:
    name: str = "glyphs"  # data set name in the registry (fewshot.data)
    root: Optional[str] = None  # data directory; default: $FEWSHOT_DATA or ~/.cache/fewshot
    image_size: int = 28
    seed: int = 0  # seed of generated data sets (glyphs)
    train_split: str = "background"
    val_split: str = "validation"
    test_split: str = "evaluation"
    options: Dict[str, Any] = field(default_factory=dict)  # extra loader-specific arguments
    # Few-task regime (training only; validation and test are untouched):
    train_classes: int = 0  # train on a fixed random subset of this many classes (0 = all)
    train_tasks: int = 0  # train on a fixed pool of this many tasks (0 = a new task every episode)
    subset_seed: int = 0  # seed of that class subset / task pool (shared by every training seed)


@dataclass
class ModelConfig:
    backbone: str = "conv4"
    learner: str = "protonet"
    distance: str = "sqeuclidean"  # sqeuclidean | euclidean | cosine
    width: int = 64  # channels of Conv4 (64 in the paper; 32 in few-task settings)
    learn_scale: bool = True  # learnable temperature for cosine distance
    options: Dict[str, Any] = field(default_factory=dict)  # extra learner-specific arguments
    backbone_options: Dict[str, Any] = field(default_factory=dict)  # e.g. {drop_rate: 0.1} (resnet12)
    # Initial backbone weights for training: a fewshot run folder, checkpoint or plain state_dict
    # file (loaded with weights_only=True; prefixes module. / backbone. / encoder. removed).
    init: Optional[str] = None
    init_strict: bool = True  # refuse unless every backbone weight is in the file (false: load what fits)


@dataclass
class EpisodeKeys:
    """The keys that decide the episodes of a section (``train`` and ``eval``), besides its
    n_way / k_shot (or shots) / n_query; checked by :func:`check_section`. The defaults give
    fixed N-way K-shot episodes. Variable / imbalanced kinds ignore ``eval.shots`` (one
    evaluation each)."""

    episode_kind: str = "fixed"  # fixed | variable (Meta-Dataset's rule) | imbalanced
    episode_options: Dict[str, Any] = field(default_factory=dict)  # variable/imbalanced bounds
    domains: str = "auto"  # auto | by_domain | mixed: one source domain per episode (auto: if several)
    domain_weights: Dict[str, float] = field(default_factory=dict)  # domain name -> weight; {} = uniform
    p_mixed: float = 0.0  # probability of an episode mixing all domains
    hierarchy: str = ""  # per-class meta key (e.g. alphabets): an episode's classes share its value
    p_ignore_hierarchy: float = 0.0  # probability of an episode ignoring the hierarchy
    drop_small_classes: bool = False  # leave out classes too small for the episodes (with a warning)


@dataclass
class TrainConfig(EpisodeKeys):
    n_way: int = 20
    k_shot: int = 1
    n_query: int = 5
    episodes: int = 2000
    meta_batch: int = 1  # episodes per optimiser step
    lr: float = 1e-3
    lr_step: int = 2000  # StepLR period in episodes (Snell et al.: halve every 2000)
    lr_gamma: float = 0.5
    weight_decay: float = 0.0
    # Episodic optimiser and schedule (pre-training has its own pretrain.optimizer / momentum / nesterov):
    optimizer: str = "adam"  # adam | adamw | sgd
    momentum: float = 0.9  # sgd only
    nesterov: bool = False  # sgd only
    schedule: str = "step"  # step (lr_step, lr_gamma) | multistep (milestones, lr_gamma) | cosine
    milestones: List[int] = field(default_factory=list)  # multistep: episodes where lr *= lr_gamma
    warmup: int = 0  # linear warm-up episodes (steps for pre-training)
    lr_min_ratio: float = 0.0  # cosine: final lr / lr
    grad_clip: float = 0.0  # clip the global gradient norm to this before each step; 0 = off
    patience: int = 0  # stop after this many validations without a better one; 0 = never
    # Episodic augmentation on the device (none | flip | crop_flip | crop_flip_jitter, or a mapping
    # of fewshot.augment.Augment fields), seeded by the episode: resumes stay exact.
    augment_support: Any = "none"
    augment_query: Any = "none"
    precision: str = "32"  # 32 | bf16 | 16 (autocast; 16 with a GradScaler, CUDA only)
    channels_last: bool = False  # channels-last memory format for model and inputs
    compile: bool = False  # torch.compile the backbone (nn.Module.compile: checkpoint keys unchanged)
    # The uint8 training split uploaded once to the device and gathered there (no per-episode
    # host copy): null = when the device is CUDA and the split takes under half its free memory.
    data_on_device: Optional[bool] = None
    # Host path only: episode groups gathered ahead by a background thread (into pinned memory
    # when training on CUDA, copied without blocking); 0 = gather each one when it is needed;
    # null = 2 on CUDA, 0 on the CPU. The same episodes and the same numbers either way; resumes
    # stay exact.
    prefetch: Optional[int] = None
    val_every: int = 500  # validate (and keep the best checkpoint) every M episodes; 0 = never
    val_episodes: int = 200
    ckpt_every: int = 500
    keep_last: int = 2
    seed: int = 0
    device: str = "auto"  # auto (CUDA if available, else CPU) | cpu | cuda | cuda:N; config.yaml: the one used
    threads: int = 0  # torch.set_num_threads; 0 = leave torch's default
    progress: bool = True
    log_every: int = 50  # one metrics.jsonl row (window means) every L episodes
    deterministic: bool = False  # torch.use_deterministic_algorithms: bit-identical resumes on GPU too
    tensorboard: bool = True  # also write TensorBoard events when `tensorboard` is installed


@dataclass
class EvalConfig(EpisodeKeys):
    n_way: int = 5
    shots: List[int] = field(default_factory=lambda: [1, 5])
    n_query: int = 15
    episodes: int = 1000
    seed: int = 1234
    feature_cache: bool = True  # embed the split once, then sample episodes over features
    chunk: Optional[int] = None  # episodes handed to the learner at once (None: 16 image / 256 feature episodes)
    untrained_baseline: bool = True  # also evaluate a freshly initialised network


@dataclass
class RunConfig:
    out_dir: str = "runs"
    name: Optional[str] = None  # run folder name; default: <config stem>-<timestamp>


@dataclass
class PretrainConfig:
    """Standard (non-episodic) pre-training, used when ``model.learner`` is ``pretrain``.

    ``train.episodes`` counts optimiser steps (batches) there; ``train.lr``, ``lr_step``,
    ``lr_gamma``, ``weight_decay``, ``val_*`` and ``ckpt_every`` keep their meaning.
    """

    batch_size: int = 128
    head: str = "linear"  # linear | cosine classifier over all base classes
    head_scale: float = 10.0  # cosine head temperature
    learn_head_scale: bool = True
    optimizer: str = "sgd"  # sgd | adam
    momentum: float = 0.9
    nesterov: bool = False
    milestones: List[int] = field(default_factory=list)  # steps where lr *= lr_gamma; empty: every lr_step
    augment: str = "none"  # none | flip | crop_flip (random resized crop + horizontal flip)
    # Each batch in this many chunks, forward and backward one at a time (gradients accumulated):
    # less memory; BatchNorm then sees batch_size / accumulate images, as each process of a
    # distributed run sees batch_size / processes (chunks are split over the processes first).
    accumulate: int = 1


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    run: RunConfig = field(default_factory=RunConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------- schema helpers
def _valid_keys(cls: type, prefix: str = "") -> List[str]:
    keys = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            keys.extend(_valid_keys(tp, f"{prefix}{f.name}."))
        else:
            keys.append(f"{prefix}{f.name}")
    return keys


def valid_keys() -> List[str]:
    """Every settable dotted key, e.g. ``train.n_way``."""
    return _valid_keys(Config)


def _unknown_key(key: str) -> ConfigError:
    keys = valid_keys()
    close = difflib.get_close_matches(key, keys, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return ConfigError(
        f"unknown config key {key!r}.{hint} Valid keys: {', '.join(keys)}"
    )


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against type hint ``tp``; accept only safe, lossless conversions."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin is Union:  # Optional[X]
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], key)
    if origin in (list, List):
        if not isinstance(value, (list, tuple)):
            value = [value]
        return [_coerce(v, args[0], key) for v in value]
    if origin in (dict, Dict):
        if not isinstance(value, dict):
            raise ConfigError(f"config key {key!r} expects a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"config key {key!r} expects true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"config key {key!r} expects an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "3e-4" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"config key {key!r} expects a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool):  # e.g. train.precision: 32
            return str(value)
        raise ConfigError(f"config key {key!r} expects a string, got {value!r}")
    raise ConfigError(f"config key {key!r}: unsupported type {tp}")  # pragma: no cover


def coerce_value(value: Any, tp: Any, key: str) -> Any:
    """``value`` checked against type hint ``tp`` (safe, lossless conversions only); a
    ConfigError naming ``key`` otherwise. For option dicts typed elsewhere (learner options)."""
    return _coerce(value, tp, key)


def _deep_merge(base: Dict[str, Any], new: Dict[str, Any]) -> Dict[str, Any]:
    out = dict(base)
    for k, v in new.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _apply(obj: Any, mapping: Dict[str, Any], prefix: str = "") -> None:
    hints = typing.get_type_hints(type(obj))
    names = {f.name for f in dataclasses.fields(obj)}
    for name, value in mapping.items():
        key = f"{prefix}{name}"
        if name not in names:
            raise _unknown_key(key)
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            if not isinstance(value, dict):
                raise ConfigError(f"config section {key!r} expects a mapping, got {value!r}")
            _apply(getattr(obj, name), value, f"{key}.")
        elif typing.get_origin(tp) in (dict, Dict) and isinstance(value, dict):
            # free-form option dicts merge, so `model.options.k=3` keeps the file's other options
            setattr(obj, name, _deep_merge(getattr(obj, name) or {}, value))
        else:
            setattr(obj, name, _coerce(value, tp, key))


#: Bounds on what a config may hold: values after YAML aliases are expanded, nesting depth, and
#: the largest integer (beyond it numpy and torch overflow).
MAX_VALUES, MAX_DEPTH, MAX_INT = 100_000, 32, 2 ** 31 - 1


def check_yaml_value(data: Any, source: str) -> Any:
    """Refuse a YAML value that expands beyond :data:`MAX_VALUES` values (an alias bomb: a few
    hundred bytes of ``&a [*b, *b, ...]`` expand to gigabytes once copied) or nests deeper than
    :data:`MAX_DEPTH`; counts every reference, so shared (aliased) nodes count each time."""
    count, stack = 0, [(data, 0)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise ConfigError(f"{source} expands to more than {MAX_VALUES} values (YAML aliases repeating "
                              "each other?); write the values out, or shorten them")
        if depth > MAX_DEPTH:
            raise ConfigError(f"{source} nests deeper than {MAX_DEPTH} levels; a config is a few levels deep")
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, (list, tuple)):
            stack.extend((v, depth + 1) for v in node)
    return data


def safe_load_yaml(text: str, source: str) -> Any:
    """``yaml.safe_load`` whose nesting and expansion are bounded (:func:`check_yaml_value`)."""
    try:
        return check_yaml_value(yaml.safe_load(text), source)
    except RecursionError:
        raise ConfigError(f"{source} nests too deeply to read; a config is a few levels deep") from None


def parse_override(text: str) -> Dict[str, Any]:
    """``"train.n_way=20"`` -> ``{"train": {"n_way": 20}}`` (value parsed as YAML)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key=value, e.g. train.n_way=20")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"override {text!r} has an empty key")
    try:
        value = safe_load_yaml(raw, f"override {key!r}") if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    out: Dict[str, Any] = {}
    node = out
    parts = key.split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value
    return out


# ---------------------------------------------------------------- episode keys
#: ``episode_kind`` -> ``factory(section, k_shot, **episode_options) -> Describer``; ``options``
#: (registration metadata) are the ``episode_options`` the kind takes. Register your own kind
#: with ``DESCRIBERS.add(name, factory, options=(...))``.
DESCRIBERS = Registry("episode kind")
DESCRIBERS.add("fixed", lambda section, k_shot, **o: FixedShots(section.n_way, k_shot, section.n_query, **o),
               options=())
DESCRIBERS.add("variable", lambda section, k_shot, **o: VariableWaysShots(**o),
               options=tuple(f.name for f in dataclasses.fields(VariableWaysShots)))
DESCRIBERS.add("imbalanced", lambda section, k_shot, **o: ImbalancedShots(n_way=section.n_way,
                                                                          n_query=section.n_query, **o),
               options=("min_shot", "max_shot", "profile", "step_fraction"))
EPISODE_KINDS = tuple(DESCRIBERS)
DOMAIN_MODES = ("auto", "by_domain", "mixed")
# The config keys (of train and eval) that decide the episodes, besides n_way / k_shot / n_query.
EPISODE_KEYS = tuple(f.name for f in dataclasses.fields(EpisodeKeys))


def check_section(section: Any, prefix: str) -> None:
    """Raise ValueError, naming the key (``prefix.key``), when a section's episode keys are wrong.

    Checks what does not need the data: the kind, its options (by building the describer),
    the domain mode, weights and probabilities.
    """
    kind = section.episode_kind
    if kind not in DESCRIBERS:
        raise ValueError(f"config key '{prefix}.episode_kind' must be one of {', '.join(DESCRIBERS)}, "
                         f"got {kind!r}")
    kind_options = DESCRIBERS.info(kind).get("options", ())
    unknown = [k for k in section.episode_options if k not in kind_options]
    if unknown:
        valid = ", ".join(kind_options) or ("none: fixed episodes use "
                                                  f"{prefix}.n_way, k_shot and n_query")
        raise ValueError(f"config key '{prefix}.episode_options' has {unknown[0]!r}, which episode_kind "
                         f"{kind!r} does not take; valid options: {valid}")
    try:
        build_describer(section)
    except (ValueError, TypeError) as err:
        raise ValueError(f"config keys '{prefix}.episode_*' do not describe valid {kind} episodes: "
                         f"{err}") from None
    if section.domains not in DOMAIN_MODES:
        raise ValueError(f"config key '{prefix}.domains' must be one of {', '.join(DOMAIN_MODES)}, "
                         f"got {section.domains!r}")
    for key in ("p_mixed", "p_ignore_hierarchy"):
        value = getattr(section, key)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"config key '{prefix}.{key}' must be in [0, 1], got {value}")
    weights = section.domain_weights
    for name, w in weights.items():
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not np.isfinite(w) or w < 0:
            raise ValueError(f"config key '{prefix}.domain_weights' must map domain names to numbers "
                             f">= 0, got {name!r}: {w!r}")
    if weights and sum(weights.values()) <= 0:
        raise ValueError(f"config key '{prefix}.domain_weights' must give some domain a weight > 0")
    if section.domains == "mixed" and (weights or section.p_mixed > 0):
        raise ValueError(f"'{prefix}.domain_weights' and '{prefix}.p_mixed' choose the domain of each "
                         f"episode; with '{prefix}.domains: mixed' there is none to choose (use auto "
                         "or by_domain)")
    if section.p_ignore_hierarchy > 0 and not section.hierarchy:
        raise ValueError(f"config key '{prefix}.p_ignore_hierarchy' needs '{prefix}.hierarchy' (a "
                         "per-class meta key such as alphabets)")


def build_describer(section: Any, k_shot: Optional[int] = None) -> Describer:
    """The episode composition of a section, before domains and hierarchy.

    Args:
        section: a ``TrainConfig`` or ``EvalConfig`` (anything with the episode keys).
        k_shot: shots of fixed episodes (default ``section.k_shot``, else ``section.shots[0]``).
    """
    factory = DESCRIBERS.get(section.episode_kind)  # unknown: ValueError listing the kinds
    if k_shot is None:
        k_shot = section.k_shot if hasattr(section, "k_shot") else section.shots[0]
    return factory(section, k_shot, **dict(section.episode_options))


def validate(cfg: Config) -> Config:
    """Range checks that types alone cannot express."""
    t, e = cfg.train, cfg.eval
    positive = {
        "train.n_way": t.n_way, "train.k_shot": t.k_shot, "train.n_query": t.n_query,
        "train.episodes": t.episodes, "train.meta_batch": t.meta_batch,
        "train.lr_step": t.lr_step, "train.val_episodes": t.val_episodes, "train.log_every": t.log_every,
        "eval.n_way": e.n_way, "eval.n_query": e.n_query, "eval.episodes": e.episodes,
        "data.image_size": cfg.data.image_size, "model.width": cfg.model.width,
    }
    for key, v in positive.items():
        if v < 1:
            raise ConfigError(f"config key {key!r} must be >= 1, got {v}")
    for key, v in {"train.val_every": t.val_every, "train.ckpt_every": t.ckpt_every,
                   "train.threads": t.threads, "train.keep_last": t.keep_last,
                   "data.train_classes": cfg.data.train_classes, "data.train_tasks": cfg.data.train_tasks,
                   "data.subset_seed": cfg.data.subset_seed, "train.seed": t.seed, "eval.seed": e.seed,
                   "data.seed": cfg.data.seed}.items():
        if v < 0:
            raise ConfigError(f"config key {key!r} must be >= 0, got {v}")
    for key, v in _int_values(cfg):
        if abs(v) > MAX_INT:
            raise ConfigError(f"config key {key!r} is {v}, beyond any usable size (at most {MAX_INT})")
    if cfg.model.width > 4096 or cfg.data.image_size > 4096:
        raise ConfigError(f"model.width ({cfg.model.width}) and data.image_size ({cfg.data.image_size}) must be "
                          "at most 4096 (a larger network or image does not fit in memory)")
    if t.n_way < 2 or e.n_way < 2:
        raise ConfigError("train.n_way and eval.n_way must be >= 2 (a 1-way task has nothing to classify)")
    if not t.lr > 0:
        raise ConfigError(f"config key 'train.lr' must be > 0, got {t.lr}")
    if not 0 < t.lr_gamma <= 1:
        raise ConfigError(f"config key 'train.lr_gamma' must be in (0, 1], got {t.lr_gamma}")
    if not e.shots or any(s < 1 for s in e.shots):
        raise ConfigError(f"config key 'eval.shots' must be a non-empty list of integers >= 1, got {e.shots}")
    for prefix, section in (("train", t), ("eval", e)):
        try:
            check_section(section, prefix)
        except ValueError as err:
            raise ConfigError(str(err)) from None
    check_recipe(cfg)
    if e.chunk is not None and e.chunk < 1:
        raise ConfigError(f"config key 'eval.chunk' must be >= 1 (or null for the default), got {e.chunk}")
    return cfg


def _int_values(cfg: Config):
    """(dotted key, value) of every integer setting, list items included."""
    for section in dataclasses.fields(cfg):
        for f in dataclasses.fields(getattr(cfg, section.name)):
            value = getattr(getattr(cfg, section.name), f.name)
            for v in value if isinstance(value, list) else [value]:
                if isinstance(v, int) and not isinstance(v, bool):
                    yield f"{section.name}.{f.name}", v


PRECISIONS = ("32", "bf16", "16")


def check_recipe(cfg: Config) -> None:
    """The optimiser, schedule, augmentation and precision keys of ``train`` (ConfigError naming the key)."""
    t = cfg.train
    choices = {"train.optimizer": (t.optimizer, OPTIMIZERS), "train.schedule": (t.schedule, SCHEDULES),
               "train.precision": (t.precision, PRECISIONS)}
    for key, (value, allowed) in choices.items():
        if value not in allowed:
            raise ConfigError(f"config key {key!r} must be one of {', '.join(allowed)}, got {value!r}")
    if not 0 <= t.momentum < 1 or t.warmup < 0 or t.patience < 0 or not t.grad_clip >= 0 \
            or not 0 <= t.lr_min_ratio < 1:
        raise ConfigError("train.momentum and train.lr_min_ratio must be in [0, 1), train.warmup, "
                          f"train.patience and train.grad_clip >= 0; got {t.momentum}, {t.lr_min_ratio}, "
                          f"{t.warmup}, {t.patience}, {t.grad_clip}")
    if t.prefetch is not None and (isinstance(t.prefetch, bool) or not isinstance(t.prefetch, int)
                                   or t.prefetch < 0):
        raise ConfigError(f"train.prefetch must be null (2 on CUDA, else 0) or an integer >= 0 (episode groups "
                          f"gathered ahead; 0 = off), got {t.prefetch!r}")
    if t.nesterov and (t.optimizer != "sgd" or t.momentum == 0):
        raise ConfigError("train.nesterov needs train.optimizer: sgd and train.momentum > 0")
    if t.schedule == "multistep" and (not t.milestones or t.milestones != sorted(set(t.milestones))
                                      or t.milestones[0] < 1):
        raise ConfigError(f"train.schedule: multistep needs train.milestones, increasing episodes >= 1; "
                          f"got {t.milestones}")
    if t.schedule == "cosine" and t.warmup >= t.episodes:
        raise ConfigError(f"train.warmup ({t.warmup}) must be below train.episodes ({t.episodes}) for the "
                          "cosine schedule")
    for key in ("augment_support", "augment_query"):
        try:
            Augment.parse(getattr(t, key), f"train.{key}")
        except (ValueError, TypeError) as err:
            raise ConfigError(str(err)) from None
    if cfg.model.init is not None and not str(cfg.model.init).strip():
        raise ConfigError("model.init must be a path (a run folder, checkpoint or state_dict file) or null")


def load_config(path: Optional[Union[str, Path]] = None, overrides: Optional[List[str]] = None) -> Config:
    """Defaults <- YAML file <- dotted overrides, validated.

    Args:
        path: a YAML file, or None for the defaults alone.
        overrides: strings like ``"train.n_way=20"``.
    """
    cfg = Config()
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {str(path)!r} does not exist; see configs/ for examples")
        try:
            data = safe_load_yaml(path.read_text(), f"config file {str(path)!r}") or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"config file {str(path)!r} is not valid YAML: {err}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"config file {str(path)!r} must hold a mapping at the top level")
        _apply(cfg, data)
    for text in overrides or []:
        _apply(cfg, parse_override(text))
    return validate(cfg)


def config_from_dict(data: Dict[str, Any]) -> Config:
    cfg = Config()
    _apply(cfg, data)
    return validate(cfg)


def save_config(cfg: Config, path: Union[str, Path]) -> None:
    Path(path).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
