"""Episode samplers from a config section (``train`` or ``eval``): kind, domains, hierarchy.

A section names the episode *kind* and how its classes are grouped:

* ``episode_kind``: ``fixed`` (N-way K-shot, the section's ``n_way`` / ``k_shot`` /
  ``n_query``), ``variable`` (Meta-Dataset's variable-way variable-shot rule, bounds in
  ``episode_options``, see :class:`episodes.VariableWaysShots`) or ``imbalanced`` (the section's
  ``n_way`` / ``n_query``, shots between ``min_shot`` and ``max_shot``, see
  :class:`episodes.ImbalancedShots`).
* ``domains``: ``auto`` (one source domain per episode when the split has several, as
  Meta-Dataset samples), ``by_domain`` or ``mixed``; ``domain_weights`` (by domain name) and
  ``p_mixed`` tune the draw. Domains come from ``split.meta["domains"]`` (see
  :mod:`fewshot.data.multi`).
* ``hierarchy``: a per-class meta key (``alphabets`` for glyphs and Omniglot, ``superclass``
  for tieredImageNet): all classes of an episode then share its value, unless the episode
  ignores the hierarchy (probability ``p_ignore_hierarchy``).
* ``drop_small_classes``: leave out (with a warning) the classes that have too few samples for
  the episodes, instead of refusing them.
"""

from __future__ import annotations

import re
import warnings
from typing import Any, Dict, Optional, Tuple

import numpy as np
import torch

from episodes import (
    ByDomain,
    ClassSubset,
    EpisodeSpec,
    SpecSampler,
    TaskPoolSampler,
    WithinParent,
    choose_classes,
)

from ..config import build_describer, check_section


def _domain_ids(section: Any, split, prefix: str) -> Tuple[Optional[np.ndarray], Optional[Dict[int, float]]]:
    """Per-sample domain ids to sample by (None: mixed episodes) and weights by domain id."""
    domains = split.meta.get("domains")
    if section.domains == "mixed":
        return None, None
    if domains is None:
        if section.domains == "by_domain":
            raise ValueError(f"'{prefix}.domains' is by_domain but {split.name!r} has no domains "
                             "(meta['domains']); combine data sets with data.name: multi, or set "
                             f"'{prefix}.domains: mixed'")
        return None, None
    domains = np.asarray(domains, dtype=np.int64)
    if section.domains == "auto" and len(np.unique(domains)) < 2:
        return None, None
    names = list(split.meta.get("domain_names") or range(int(domains.max()) + 1))
    weights: Optional[Dict[int, float]] = None
    if section.domain_weights:
        weights = {}
        for name, w in section.domain_weights.items():
            found = [i for i, n in enumerate(names) if str(n) == str(name)]
            if not found:
                raise ValueError(f"'{prefix}.domain_weights' names domain {name!r} but {split.name!r} "
                                 f"has domains {', '.join(map(str, names))}")
            weights[found[0]] = float(w)
    return domains, weights


def _parents(section: Any, split, prefix: str) -> Optional[np.ndarray]:
    """(n_samples,) super-category of every sample, from the per-class meta key ``hierarchy``."""
    key = section.hierarchy
    if not key:
        return None
    values = split.meta.get(key)
    if values is None or len(values) != split.num_classes or isinstance(values, str):
        keys = [k for k, v in split.meta.items()
                if not isinstance(v, str) and hasattr(v, "__len__") and len(v) == split.num_classes]
        raise ValueError(f"'{prefix}.hierarchy' is {key!r} but {split.name!r} has no per-class meta key "
                         f"of that name; its per-class keys: {', '.join(keys) or 'none'}")
    per_class = [str(v) for v in values]
    class_domains = split.meta.get("class_domains")
    if class_domains is not None:  # multi-domain: a source without the key is one group
        names = split.meta.get("domain_names") or []
        per_class = [f"{names[d] if d < len(names) else d}/{'*' if v is None else v}"
                     for d, v in zip(class_domains, values)]
    return np.asarray(per_class)[split.labels]


def build_sampler(section: Any, split, n_episodes: int, seed: int, *, k_shot: Optional[int] = None,
                  advance_epoch: bool = True, prefix: Optional[str] = None, classes: Any = 0,
                  tasks: int = 0, subset_seed: int = 0) -> SpecSampler:
    """A :class:`episodes.SpecSampler` over ``split`` drawing the episodes ``section`` describes.

    With ``episode_kind: fixed``, ``domains: auto`` and no hierarchy on a single-domain split
    the episodes are exactly those of ``EpisodeSampler(labels, n_way, k_shot, n_query, ...)``
    (and, with ``classes`` / ``tasks``, those of :func:`episodes.few_task_sampler`).

    Args:
        section: ``cfg.train`` or ``cfg.eval``.
        split: an :class:`~fewshot.data.base.ImageSplit` (``meta["domains"]`` /
            ``meta["domain_names"]`` for domains; the ``hierarchy`` key for super-categories).
        n_episodes: episodes per epoch.
        seed: base seed of the episodes.
        k_shot: shots of fixed episodes (evaluation loops over ``eval.shots``).
        advance_epoch: False for an evaluation set that repeats.
        prefix: the section's name in error messages (default: guessed from the section).
        classes: few-task regime: keep this many classes (chosen with ``subset_seed``) or
            these labels; 0 for all.
        tasks: few-task regime: a fixed pool of this many tasks (seeded with ``subset_seed``).
        subset_seed: seed of the class subset and of the task pool.

    Raises:
        ValueError: bad section keys, or a split lacking the domains / hierarchy asked for.
    """
    prefix = prefix or ("train" if hasattr(section, "k_shot") else "eval")
    check_section(section, prefix)
    describer = build_describer(section, k_shot)
    parents = _parents(section, split, prefix)
    if parents is not None:
        describer = WithinParent(describer, p_ignore=section.p_ignore_hierarchy)
    domains, weights = _domain_ids(section, split, prefix)
    if domains is not None:
        describer = ByDomain(describer, weights=weights, p_mixed=section.p_mixed)
    if classes:
        keep = (choose_classes(split.labels, classes, subset_seed) if isinstance(classes, (int, np.integer))
                else np.unique(np.asarray(list(classes))))
        describer = ClassSubset(describer, tuple(keep.tolist()))
    kwargs = dict(domains=domains, parents=parents, advance_epoch=advance_epoch,
                  drop_small_classes=bool(getattr(section, "drop_small_classes", False)))
    if tasks and (domains is not None or parents is not None):
        raise ValueError(f"a fixed task pool (data.train_tasks) cannot be combined with sampling by "
                         f"domain or hierarchy; set '{prefix}.domains: mixed' and no '{prefix}.hierarchy'")
    try:
        with warnings.catch_warnings(record=True) as caught:  # drop_small_classes: said with names
            warnings.simplefilter("always")
            if tasks:
                sampler = TaskPoolSampler(split.labels, describer, tasks, n_episodes, seed,
                                          pool_seed=subset_seed, **kwargs)
            else:
                sampler = SpecSampler(split.labels, describer, n_episodes, seed, **kwargs)
        for w in caught:
            warnings.warn(f"{split.name}: {sampler_message(str(w.message), split, prefix)}", w.category,
                          stacklevel=2)
        return sampler
    except ValueError as err:
        raise ValueError(f"{split.name!r} cannot supply the episodes '{prefix}' asks for: "
                         f"{sampler_message(str(err), split, prefix)}") from None


def sampler_message(text: str, split, prefix: str) -> str:
    """A sampler's message in the config's words: classes by their names (``class 3`` ->
    ``class 3 ('Laysan_Albatross')``) and the config key instead of the sampler's argument."""
    names = list(getattr(split, "class_names", None) or [])

    def name(match, form: str) -> str:
        c = int(match.group(1))
        if not 0 <= c < len(names) or str(names[c]) == str(c):
            return match.group(0)
        return form.format(repr(str(names[c])))

    text = re.sub(r"'class (\d+)'", lambda m: name(m, "{}"), text)  # in a list: the names alone
    text = re.sub(r"\bclass (\d+)\b", lambda m: name(m, "class {}"), text)
    hint = f"set {prefix}.drop_small_classes=true"
    if prefix == "eval":
        hint += " (fewshot eval: --drop-small-classes)"
    return text.replace("pass drop_small_classes=True", hint)


def spec_labels(spec: EpisodeSpec, device=None) -> Tuple[torch.Tensor, torch.Tensor]:
    """(support labels, query labels) of an episode as int64 tensors on ``device``."""
    return (torch.from_numpy(spec.support_labels()).to(device),
            torch.from_numpy(spec.query_labels()).to(device))


def episode_task(x: torch.Tensor, spec: EpisodeSpec) -> Tuple[torch.Tensor, ...]:
    """Split an episode's inputs into ``(support, support_labels, query, query_labels)``.

    Args:
        x: (support_size + query_size, ...) the episode's inputs in yielded order.
        spec: the episode's composition.
    """
    ys, yq = spec_labels(spec, x.device)
    return x[:spec.support_size], ys, x[spec.support_size:], yq
