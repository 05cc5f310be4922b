"""Every source of randomness a training step may read, captured and restored as plain values.

A resumed run must draw exactly the random numbers the uninterrupted run would have drawn, so a
checkpoint stores the state of Python's ``random``, NumPy's global generator, torch's CPU
generator and every CUDA device's generator. The states are stored as tensors, ints and lists
(never NumPy objects) so that checkpoints still load with ``torch.load(weights_only=True)``.
The episode sampler is not here: it has its own ``state_dict`` and never reads global state.
"""

from __future__ import annotations

import os
import random
import sys
from typing import Any, Dict

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed ``random``, NumPy's global generator and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def set_deterministic(enabled: bool) -> None:
    """Ask torch for deterministic kernels (or allow the fast non-deterministic ones again).

    CPU kernels are deterministic for a fixed thread count anyway; on CUDA this also disables
    cuDNN autotuning, which may pick different algorithms in two runs.
    """
    if enabled:
        # cuBLAS needs a fixed workspace to be deterministic; it must be set before CUDA starts.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    if torch.are_deterministic_algorithms_enabled() != enabled:
        if "torch._inductor.config" in sys.modules or not hasattr(torch._C, "_set_deterministic_algorithms"):
            torch.use_deterministic_algorithms(enabled)
        else:
            # The public call also sets torch._inductor's flag, and importing torch._inductor takes
            # seconds; nothing here compiles, so set the kernel flag alone.
            torch._C._set_deterministic_algorithms(enabled)
    torch.backends.cudnn.deterministic = enabled
    torch.backends.cudnn.benchmark = False


def capture_rng() -> Dict[str, Any]:
    """The state of every global generator, as checkpoint-safe values."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: Dict[str, Any] = {
        "python": {"version": version, "internal": list(internal), "gauss": gauss},
        "numpy": {"kind": kind, "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
                  "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: Dict[str, Any]) -> None:
    """Put back what :func:`capture_rng` returned."""
    py = state["python"]
    random.setstate((py["version"], tuple(py["internal"]), py["gauss"]))
    npy = state["numpy"]
    np.random.set_state((npy["kind"], npy["keys"].numpy().astype(np.uint32), npy["pos"],
                         npy["has_gauss"], npy["cached"]))
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"]
        if len(cuda) != torch.cuda.device_count():
            raise ValueError(f"the checkpoint holds RNG states for {len(cuda)} CUDA devices but "
                             f"{torch.cuda.device_count()} are visible; resume on the same set-up")
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda])
