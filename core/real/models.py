"""Image classifiers in plain torch.nn, each split into a representation ``features(x)``
(the penultimate layer the paper inverts, Section 6.2) and a linear ``head``.

SmallCNN is the CPU model for 8x8 digits (and quick runs elsewhere); ResNet18 (MNIST)
and WideResNet-34-10 (CIFAR10, SVHN) are the paper's models, CIFAR-style (3x3 stem,
no max-pool), with a width knob so tests can build them tiny. Inputs are in [0, 1];
no normalisation layer, so eps means the same thing in every model.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

MODEL_NAMES = ("small_cnn", "resnet18", "wrn34_10")
DEFAULT_WIDTH = {"small_cnn": 32, "resnet18": 64, "wrn34_10": 10}  # channels, channels, widen factor


class Classifier(nn.Module):
    """Common shape: representation then a linear head, so inversion needs no hooks."""

    def features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _conv_bn(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


class SmallCNN(Classifier):
    """Three conv blocks and global average pooling: fast on 2 CPU cores at 8x8, any input size."""

    def __init__(self, in_channels: int = 1, n_classes: int = 10, width: int = 32):
        super().__init__()
        w = width
        self.body = nn.Sequential(
            _conv_bn(in_channels, w), _conv_bn(w, 2 * w), nn.MaxPool2d(2), _conv_bn(2 * w, 4 * w),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.head = nn.Linear(4 * w, n_classes)

    def features(self, x):
        return self.body(x)


class BasicBlock(nn.Module):
    """ResNet basic block (He et al., 2016), post-activation."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet18(Classifier):
    def __init__(self, in_channels: int = 3, n_classes: int = 10, width: int = 64):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        layers, c_in = [], width
        for i, c_out in enumerate((width, 2 * width, 4 * width, 8 * width)):
            stride = 1 if i == 0 else 2
            layers += [BasicBlock(c_in, c_out, stride), BasicBlock(c_out, c_out, 1)]
            c_in = c_out
        self.layers = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, n_classes)

    def features(self, x):
        return F.adaptive_avg_pool2d(self.layers(self.stem(x)), 1).flatten(1)


class WideBlock(nn.Module):
    """Pre-activation wide block (Zagoruyko & Komodakis, 2016)."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.shortcut = None if c_in == c_out and stride == 1 else nn.Conv2d(c_in, c_out, 1, stride, bias=False)

    def forward(self, x):
        out = F.relu(self.bn1(x))
        skip = x if self.shortcut is None else self.shortcut(out)
        out = self.conv2(F.relu(self.bn2(self.conv1(out))))
        return out + skip


class WideResNet(Classifier):
    """WRN-depth-widen; depth 34 and widen 10 give the paper's WRN-34-10."""

    def __init__(self, in_channels: int = 3, n_classes: int = 10, widen: int = 10, depth: int = 34):
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"WideResNet depth must be 6n + 4, got {depth}")
        n = (depth - 4) // 6
        widths = (16, 16 * widen, 32 * widen, 64 * widen)
        self.stem = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        blocks, c_in = [], widths[0]
        for i, c_out in enumerate(widths[1:]):
            for j in range(n):
                blocks.append(WideBlock(c_in, c_out, 2 if i > 0 and j == 0 else 1))
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(c_in)
        self.head = nn.Linear(c_in, n_classes)

    def features(self, x):
        out = F.relu(self.bn(self.blocks(self.stem(x))))
        return F.adaptive_avg_pool2d(out, 1).flatten(1)


def build_model(name: str, in_channels: int, n_classes: int, width: int = 0, depth: int = 34) -> Classifier:
    """A fresh model; width 0 means the model's usual width (see DEFAULT_WIDTH)."""
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
    width = width or DEFAULT_WIDTH[name]
    if name == "small_cnn":
        return SmallCNN(in_channels, n_classes, width)
    if name == "resnet18":
        return ResNet18(in_channels, n_classes, width)
    return WideResNet(in_channels, n_classes, width, depth)
