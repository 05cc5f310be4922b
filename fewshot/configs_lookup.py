"""Find a shipped config by name or path, so that ``fewshot train miniimagenet_protonet`` works
after a plain ``pip install`` as well as in a checkout.

The YAML files live in the repository's ``configs/``; a wheel carries a copy in the package as
``fewshot/configs/`` (``setup.py`` copies it at build time). A name is looked up in the packaged
copy first, then in the checkout this package was imported from.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import List, Union

from .config import ConfigError

_SUFFIXES = (".yaml", ".yml")


def config_dirs() -> List[Path]:
    """The folders shipped configs are looked up in, those that exist, packaged copy first."""
    package = Path(__file__).resolve().parent
    checkout = package.parent
    found = [package / "configs"]
    if (checkout / "pyproject.toml").is_file():  # a source checkout or an editable install
        found.append(checkout / "configs")
    return [d for d in found if d.is_dir()]


def list_configs() -> List[str]:
    """Names of the shipped configs, e.g. ``glyphs_protonet`` or ``benchmarks/bscd_fsl``."""
    names = set()
    for folder in config_dirs():
        for path in folder.rglob("*"):
            if path.suffix in _SUFFIXES and path.is_file():
                names.add(path.relative_to(folder).with_suffix("").as_posix())
    return sorted(names)


def find_config(name_or_path: Union[str, Path]) -> Path:
    """The config file meant by ``name_or_path``.

    Args:
        name_or_path: an existing file (taken as it is), or the name of a shipped config with or
            without ``.yaml`` and with or without a leading ``configs/``
            (``miniimagenet_protonet``, ``configs/glyphs_protonet.yaml``, ``benchmarks/bscd_fsl``).

    Raises:
        ConfigError: no such file or shipped config; the message lists close names.
    """
    path = Path(name_or_path)
    if path.is_file():
        return path
    name = path.as_posix()
    if name.startswith("configs/"):
        name = name[len("configs/"):]
    stem = name[: -len(path.suffix)] if path.suffix in _SUFFIXES else name
    for folder in config_dirs():
        for suffix in _SUFFIXES:
            candidate = folder / f"{stem}{suffix}"
            if candidate.is_file():
                return candidate
    known = list_configs()
    close = difflib.get_close_matches(stem, known, n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise ConfigError(f"no config file {str(name_or_path)!r} and no shipped config of that name; {hint}"
                      f"`fewshot configs` lists the {len(known)} shipped ones")
