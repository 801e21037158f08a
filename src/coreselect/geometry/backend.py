"""Which array backend runs the geometry: numpy/faiss on the CPU, or torch on a CPU or CUDA device.

Methods that use geometry take ``backend`` (``"auto"``, ``"numpy"``, ``"torch"``) and ``device``
(``"auto"``, ``"cpu"``, ``"cuda"``); :func:`resolve` turns the pair into a :class:`Backend`, checking it
before any heavy work:

* ``"auto"`` — torch on CUDA when torch is installed and sees a GPU, else the numpy/faiss path
  (``device="cpu"``: always numpy; ``device="cuda"``: torch on CUDA, which must then be available);
* ``"numpy"`` — the numpy/faiss path, CPU only;
* ``"torch"`` — :mod:`coreselect.geometry.torch_backend` on ``device`` (``"auto"``: CUDA when available,
  else the CPU).

torch is an optional extra and is never imported by the numpy path: ``"auto"`` asks torch about CUDA
only when torch is already imported or an NVIDIA/AMD GPU driver is visible, so on a machine without a
GPU it costs nothing.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Literal

from coreselect.errors import InputError

BackendName = Literal["auto", "numpy", "torch"]
DeviceName = Literal["auto", "cpu", "cuda"]
BACKENDS = ("auto", "numpy", "torch")
DEVICES = ("auto", "cpu", "cuda")
#: Device nodes a GPU driver creates (NVIDIA, AMD ROCm); without one, "auto" does not import torch.
_GPU_NODES = ("/dev/nvidiactl", "/dev/kfd")


@dataclass(frozen=True)
class Backend:
    """A resolved choice: ``name`` ``"numpy"`` (device ``"cpu"``) or ``"torch"`` on ``device``."""

    name: Literal["numpy", "torch"] = "numpy"
    device: Literal["cpu", "cuda"] = "cpu"

    @property
    def is_torch(self) -> bool:
        return self.name == "torch"


NUMPY = Backend()


def _torch() -> ModuleType | None:
    try:
        import torch
    except ImportError:
        return None
    return torch


def _cuda(torch: ModuleType) -> bool:
    return bool(torch.cuda.is_available())


def resolve(backend: str = "auto", device: str = "auto") -> Backend:
    """The :class:`Backend` that `backend` and `device` ask for (module docstring); an impossible pair
    (``"torch"`` without torch, ``"cuda"`` without a CUDA device, ``"numpy"`` on ``"cuda"``) is an
    :class:`~coreselect.errors.InputError` naming both."""
    if backend not in BACKENDS:
        raise InputError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if device not in DEVICES:
        raise InputError(f"device must be one of {DEVICES}, got {device!r}")
    pair = f"backend={backend!r}, device={device!r}"
    if backend == "numpy" or (backend == "auto" and device == "cpu"):
        if device == "cuda":
            raise InputError(f"{pair}: the numpy backend runs on the CPU only; use backend='torch' for CUDA")
        return NUMPY
    if backend == "auto" and device == "auto":
        if "torch" not in sys.modules and not any(os.path.exists(p) for p in _GPU_NODES):
            return NUMPY
        torch = _torch()
        return Backend("torch", "cuda") if torch is not None and _cuda(torch) else NUMPY
    torch = _torch()
    if torch is None:
        raise InputError(f"{pair} needs torch, which is not installed (pip install 'coreselect[torch]')")
    cuda = _cuda(torch)
    if device == "cuda" and not cuda:
        raise InputError(f"{pair}: torch sees no CUDA device")
    return Backend("torch", "cuda" if device == "cuda" or (device == "auto" and cuda) else "cpu")
