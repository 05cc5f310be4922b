"""Options of a glyphs build: validation, cache folder name, cache check, manifest."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
import unicodedata
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from .alphabets import get_alphabets
from .render import RenderKnobs

# Bump whenever selection or rendering code changes what a build produces: caches written by
# another version are rebuilt (the default folder name does not change).
BUILD_VERSION = 1
DEFAULT_INSTANCES = 20
# Character selection knobs (see select.select_characters) and their defaults.
SELECT_DEFAULTS: Dict[str, Any] = {"fonts": "bundled", "min_fonts": 2, "diacritics": False,
                                   "similarity": 0.8, "min_extent": 0.2}
RENDER_DEFAULTS: Dict[str, Any] = dataclasses.asdict(RenderKnobs())


def resolve(image_size: int, seed: int, instances: int, alphabets: Optional[Sequence[str]],
            max_chars_per_alphabet: Optional[int], knobs: Dict[str, Any]) -> Dict[str, Any]:
    """Check every option and return them as one JSON-able dict (the cache key).

    Raises:
        ValueError: an unknown knob (the message lists the valid ones) or a bad value.
    """
    unknown = sorted(set(knobs) - set(SELECT_DEFAULTS) - set(RENDER_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown glyphs option(s) {unknown}; valid: "
                         f"{sorted(SELECT_DEFAULTS) + sorted(RENDER_DEFAULTS) + ['workers']}")
    for name, value, low in (("image_size", image_size, 8), ("seed", seed, 0),
                             ("instances", instances, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"glyphs {name} must be an integer >= {low}, got {value!r}")
    if max_chars_per_alphabet is not None and (not isinstance(max_chars_per_alphabet, int)
                                               or max_chars_per_alphabet < 1):
        raise ValueError(f"max_chars_per_alphabet must be an integer >= 1 or None, "
                         f"got {max_chars_per_alphabet!r}")
    names = None if alphabets is None else [a.name for a in get_alphabets(alphabets)]
    render = {**RENDER_DEFAULTS, **{k: v for k, v in knobs.items() if k in RENDER_DEFAULTS}}
    RenderKnobs(**render)  # validates
    select = {**SELECT_DEFAULTS, **{k: v for k, v in knobs.items() if k in SELECT_DEFAULTS}}
    if not isinstance(select["fonts"], str):
        select["fonts"] = [str(Path(p).expanduser().resolve()) for p in select["fonts"]]
    return {"image_size": image_size, "seed": seed, "instances": instances, "alphabets": names,
            "max_chars_per_alphabet": max_chars_per_alphabet,
            "render": {k: float(v) for k, v in render.items()}, "select": select}


def is_default(o: Dict[str, Any]) -> bool:
    return (o["instances"] == DEFAULT_INSTANCES and o["alphabets"] is None
            and o["max_chars_per_alphabet"] is None and o["select"] == SELECT_DEFAULTS
            and o["render"] == {k: float(v) for k, v in RENDER_DEFAULTS.items()})


def folder_name(o: Dict[str, Any]) -> str:
    """``glyphs-28px-seed0`` for the default benchmark; a short options hash is appended
    for anything else (subsets, other knobs), so they never overwrite each other."""
    name = f"glyphs-{o['image_size']}px-seed{o['seed']}"
    if is_default(o):
        return name
    digest = hashlib.sha256(json.dumps(o, sort_keys=True).encode()).hexdigest()[:8]
    return f"{name}-{digest}"


def render_knobs(o: Dict[str, Any]) -> RenderKnobs:
    r = dict(o["render"])
    r["elastic_grid"] = int(r["elastic_grid"])
    return RenderKnobs(**r)


def read_manifest(folder: Path) -> Optional[Dict[str, Any]]:
    try:
        return json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return None


def is_valid_cache(folder: Path, o: Dict[str, Any]) -> bool:
    """A finished build of this version with exactly these options."""
    m = read_manifest(folder)
    return (m is not None and m.get("build_version") == BUILD_VERSION and m.get("options") == o
            and all((folder / f).is_file() for f in ("images.npy", "labels.npy", "splits.json")))


def manifest(o, fonts, classes, split_info, seconds: float) -> Dict[str, Any]:
    """Everything needed to know what was built (fonts, per-class character, counts)."""
    n = o["instances"]
    return {
        "name": "glyphs", "build_version": BUILD_VERSION, "options": o,
        "seed": o["seed"], "image_size": o["image_size"], "instances": n,
        "ink": "white (255) on black (0)",
        "fonts": [{"file": os.path.basename(f.path), "family": f.family, "style": f.style,
                   "bytes": os.path.getsize(f.path)} for f in fonts],
        "counts": {"classes": len(classes), "images": len(classes) * n,
                   "alphabets": len({c.alphabet for c in classes}),
                   **{s: {"alphabets": len(v["alphabets"]),
                          "classes": v["classes"][1] - v["classes"][0]}
                      for s, v in split_info.items()}},
        "splits": split_info,
        "classes": [{"name": c.name, "alphabet": c.alphabet, "char": c.char,
                     "codepoint": c.codepoint, "unicode_name": unicodedata.name(c.char, ""),
                     "fonts": list(c.fonts)} for c in classes],
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "build_seconds": seconds,
    }
