"""Read the pickles the community ships data in, without running code from them.

``pickle.load`` can execute arbitrary code. The benchmark pickles (miniImageNet cache,
tieredImageNet, CIFAR-FS, FC100) only hold dicts, lists, strings, numbers and numpy arrays,
so the unpickler below allows exactly the globals needed to rebuild those and refuses
anything else with a clear message.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, Union

# (module, name) pairs that rebuild numpy arrays and scalars, across numpy 1.x and 2.x names.
_ALLOWED = {
    ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"), ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"), ("_codecs", "encode"),
    ("collections", "OrderedDict"), ("collections", "defaultdict"),
    ("builtins", "list"), ("builtins", "dict"), ("builtins", "set"), ("builtins", "tuple"),
    ("builtins", "bytearray"), ("builtins", "frozenset"), ("copy_reg", "_reconstructor"),
    ("copyreg", "_reconstructor"), ("builtins", "object"), ("__builtin__", "object"),
}


class UnsafePickleError(ValueError):
    """A pickle that asks for code outside the data-only allow-list."""


class _DataUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise UnsafePickleError(f"refusing global {module}.{name}")


def load_pickle(path: Union[str, Path]) -> Any:
    """Load a data pickle written by Python 2 or 3, allowing only plain data and numpy arrays.

    Python 2 pickles of numpy arrays need ``encoding="latin1"``; ``bytes`` keys are turned
    into ``str`` afterwards, so callers can index with ``"data"`` either way.

    Raises:
        ValueError: the file is not a data pickle (names the file and the refused global).
    """
    path = Path(path)
    try:
        with path.open("rb") as f:
            obj = _DataUnpickler(f, encoding="latin1").load()
    except UnsafePickleError as err:
        raise ValueError(f"{str(path)!r} is not a plain data pickle ({err}); fewshot only reads "
                         "pickles of arrays, lists and dicts") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as err:
        raise ValueError(f"cannot read pickle {str(path)!r}: {err}. Is the file complete?") from None
    return _str_keys(obj)


def _str_keys(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}
    return obj
