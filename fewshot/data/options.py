"""Options every cached loader accepts (through ``data.options`` or keyword arguments)."""

from __future__ import annotations

import difflib
import os
import typing
from dataclasses import dataclass, fields
from typing import Any, Dict, Optional, Sequence, Tuple, Union

from .images import CROPS, RESAMPLE


@dataclass
class LoadOptions:
    """Loader options shared by every data set that goes through the cache.

    Attributes:
        channels: 1 (grey) or 3 (RGB); None keeps the data set's own (Omniglot and
            Fashion-MNIST grey, the others RGB). Cross-domain evaluation sets it from the
            checkpoint's ``in_channels``.
        crop: "none" (squash to S x S) or "center" (squash to 1.15 S, keep the central S x S);
            None uses the data set's usual choice.
        resample: PIL filter for resizing: bilinear, bicubic, lanczos or nearest.
        cache_dir: cache root (default ``<data dir>/cache``).
        rebuild: decode the source again even if a valid cache exists (after the source changed).
        skip_corrupt: leave out images that cannot be decoded (counted, named in the manifest)
            instead of stopping with an error that names the file.
        workers: decoding threads; 0 = up to 8, one per CPU core.
        progress: show a progress bar while building.
    """

    channels: Optional[int] = None
    crop: Optional[str] = None
    resample: str = "bilinear"
    cache_dir: Optional[str] = None
    rebuild: bool = False
    skip_corrupt: bool = False
    workers: int = 0
    progress: bool = True

    def threads(self) -> int:
        return self.workers if self.workers > 0 else max(1, min(8, os.cpu_count() or 1))


_TYPES = typing.get_type_hints(LoadOptions)


def _check_type(dataset: str, key: str, value: Any, tp: Any) -> None:
    """``data.options.KEY`` must have the type :class:`LoadOptions` declares (``workers: abc`` is
    refused, not passed on)."""
    allowed = [a for a in typing.get_args(tp) if a is not type(None)] if typing.get_origin(tp) is Union else [tp]
    if value is None and len(allowed) < len(typing.get_args(tp) or [tp]):
        return
    ok = any(isinstance(value, (a, os.PathLike) if a is str else a) and not (a is int and isinstance(value, bool))
             for a in allowed)
    if not ok:
        names = {int: "an integer", str: "a string", bool: "true or false"}
        want = " or ".join(names.get(a, a.__name__) for a in allowed)
        raise ValueError(f"data set {dataset!r}: option {key!r} (data.options.{key}) expects {want}, got {value!r}")


def parse_options(dataset: str, options: Dict[str, Any],
                  own: Sequence[str] = ()) -> Tuple[LoadOptions, Dict[str, Any]]:
    """Split ``options`` into the shared :class:`LoadOptions` and the loader's ``own`` options.

    Raises:
        ValueError: an option neither shared nor the loader's own (with the closest valid name),
            or a shared option with a bad value.
    """
    shared = {f.name for f in fields(LoadOptions)}
    unknown = [k for k in options if k not in shared and k not in own]
    if unknown:
        valid = sorted(shared | set(own))
        close = difflib.get_close_matches(unknown[0], valid, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"data set {dataset!r} has no option {unknown[0]!r}.{hint} "
                         f"Valid options: {', '.join(valid)}")
    for f in fields(LoadOptions):
        if f.name in options:
            _check_type(dataset, f.name, options[f.name], _TYPES[f.name])
    opts = LoadOptions(**{k: v for k, v in options.items() if k in shared})
    if opts.channels not in (None, 1, 3):
        raise ValueError(f"option channels must be 1 or 3 (or unset), got {opts.channels!r}")
    if opts.crop not in (None,) + CROPS:
        raise ValueError(f"option crop must be one of {', '.join(CROPS)}, got {opts.crop!r}")
    if opts.resample not in RESAMPLE:
        raise ValueError(f"option resample must be one of {', '.join(RESAMPLE)}, got {opts.resample!r}")
    return opts, {k: v for k, v in options.items() if k in own}
