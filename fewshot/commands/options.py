"""The one ``KEY=VALUE`` parser of the command line (``--option``, ``--data-option``, overrides)."""

from __future__ import annotations

from typing import Any, Dict, Iterable, Optional

import yaml

from ..config import safe_load_yaml


def parse_key_values(pairs: Optional[Iterable[str]], flag: str = "--option",
                     example: str = "steps=100") -> Dict[str, Any]:
    """``["split_scheme=lake", "crop=center"]`` -> dict, each value read as YAML (numbers, bools).

    A pair without ``=`` or with an empty key is a ValueError naming ``flag`` and an example.
    """
    out: Dict[str, Any] = {}
    for text in pairs or []:
        key, sep, raw = str(text).partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{flag} {text!r} must look like KEY=VALUE, e.g. {flag} {example}")
        try:
            out[key.strip()] = safe_load_yaml(raw, f"{flag} {key.strip()}") if raw.strip() else ""
        except yaml.YAMLError:
            out[key.strip()] = raw
    return out


__all__ = ["parse_key_values"]
