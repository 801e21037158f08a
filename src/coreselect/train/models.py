"""Reference models. Each has ``features(x)`` (penultimate activations) and ``head`` (the last
``nn.Linear``), with ``forward(x) == head(features(x))``, so signals (GraNd) and last-layer gradient
embeddings can be computed from one pass."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from coreselect.errors import InputError


class MLP(nn.Module):
    """Fully connected ReLU network on flattened inputs; ``hidden=()`` is multinomial logistic
    regression (then ``features(x)`` is the flattened input)."""

    def __init__(
        self, in_dim: int, num_classes: int, hidden: Sequence[int] = (128,), dropout: float = 0.0
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _conv_bn(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class SmallCNN(nn.Module):
    """Two conv blocks (2 × conv3×3-BN-ReLU, then 2×2 max-pool) and a 128-unit FC layer, for
    ``in_channels × in_size × in_size`` images (default 1×28×28). Sized to reach ≥ 90% Fashion-MNIST
    test accuracy in about 10 epochs of SGD on the full training set (the usual result for this
    architecture; not measured by the unit tests)."""

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        in_size: int = 28,
        width: int = 32,
        dropout: float = 0.25,
    ) -> None:
        super().__init__()
        if in_size < 4:
            raise InputError(f"SmallCNN needs images of at least 4×4, got {in_size}")
        self.body = nn.Sequential(
            *_conv_bn(in_channels, width),
            *_conv_bn(width, width),
            nn.MaxPool2d(2),
            *_conv_bn(width, 2 * width),
            *_conv_bn(2 * width, 2 * width),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(2 * width * (in_size // 4) ** 2, 128),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Linear(128, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    """ResNet-18 (He et al. 2016) in the CIFAR style: 3×3 stride-1 stem, no max-pool, four stages of
    two basic blocks (64-128-256-512), global average pool; ``features(x)`` is the 512-d pooled vector."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        self.stem = nn.Sequential(*_conv_bn(in_channels, 64))
        stages, cin = [], 64
        for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            stages += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
            cin = cout
        self.stages = nn.Sequential(*stages)
        self.head = nn.Linear(512, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        out = self.stages(self.stem(x))
        return torch.flatten(F.adaptive_avg_pool2d(out, 1), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


MODEL_NAMES = ("mlp", "cnn", "resnet18")


def build_model(
    name: str, in_shape: Sequence[int], num_classes: int, *, seed: int | None = None, **kwargs: Any
) -> nn.Module:
    """A reference model by name: ``"mlp"`` (any input, flattened), ``"cnn"`` (SmallCNN, square
    ``(C, H, W)`` images), ``"resnet18"`` (``(C, H, W)``). `in_shape` excludes the batch dimension.
    With `seed`, the initial weights depend only on it (the global torch RNG is left untouched).
    Extra keyword arguments go to the model's constructor."""
    shape = tuple(int(s) for s in in_shape)
    if not shape or any(s < 1 for s in shape):
        raise InputError(f"in_shape must be positive sizes, got {tuple(in_shape)}")
    if num_classes < 2:
        raise InputError(f"num_classes must be >= 2, got {num_classes}")
    if name not in MODEL_NAMES:
        raise InputError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
    if name != "mlp" and len(shape) != 3:
        raise InputError(f"model {name!r} needs image input (C, H, W), got in_shape={shape}")
    if name == "cnn" and shape[1] != shape[2]:
        raise InputError(f"model 'cnn' needs square images, got {shape[1]}×{shape[2]}")
    if seed is None:
        return _make(name, shape, num_classes, kwargs)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _make(name, shape, num_classes, kwargs)


def _make(name: str, shape: tuple[int, ...], num_classes: int, kwargs: dict[str, Any]) -> nn.Module:
    if name == "mlp":
        return MLP(math.prod(shape), num_classes, **kwargs)
    if name == "cnn":
        return SmallCNN(num_classes, in_channels=shape[0], in_size=shape[1], **kwargs)
    return ResNet18(num_classes, in_channels=shape[0], **kwargs)
