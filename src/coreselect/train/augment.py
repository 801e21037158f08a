"""Standard CIFAR-style augmentation on whole batches: random crop after zero padding, horizontal flip.

Vectorised (one gather per batch, no per-image Python loop) and seeded through a ``torch.Generator``.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from coreselect.errors import InputError


def random_crop_flip(
    x: torch.Tensor, padding: int = 4, flip: bool = True, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Each image of ``x (B, C, H, W)`` zero-padded by `padding` on every side, cropped back to
    ``H × W`` at a uniformly random offset, and mirrored left-right with probability 1/2 when `flip`.

    Random numbers are drawn on `generator`'s device (CPU when None: the global CPU RNG), so the same
    generator state gives the same augmentation on CPU and CUDA inputs.
    """
    if x.ndim != 4:
        raise InputError(f"random_crop_flip expects (B, C, H, W) images, got shape {tuple(x.shape)}")
    if padding < 0:
        raise InputError(f"padding must be >= 0, got {padding}")
    b, _, h, w = x.shape
    gen_device = generator.device if generator is not None else torch.device("cpu")
    oy = torch.randint(0, 2 * padding + 1, (b,), generator=generator, device=gen_device).to(x.device)
    ox = torch.randint(0, 2 * padding + 1, (b,), generator=generator, device=gen_device).to(x.device)
    rows = oy[:, None] + torch.arange(h, device=x.device)  # (B, H) rows of the padded image
    cols = ox[:, None] + torch.arange(w, device=x.device)  # (B, W)
    if flip:
        mirrored = torch.rand(b, generator=generator, device=gen_device).to(x.device) < 0.5
        cols = torch.where(mirrored[:, None], cols.flip(1), cols)
    padded = F.pad(x, (padding, padding, padding, padding)) if padding else x
    batch = torch.arange(b, device=x.device)[:, None, None, None]
    chan = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[batch, chan, rows[:, None, :, None], cols[:, None, None, :]]
