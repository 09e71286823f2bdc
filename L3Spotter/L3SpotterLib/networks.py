"""The window regressor: a CNN trunk (mobilenet_v2 built from torch alone, other torchvision backbones or
the seed's small CNN4) and a small regression head.

Input: a batch of windows ``[batch, views, height, width]`` with pixels in [0, 1]. Output: ``[batch]``, the
predicted position of L3 in each window as a fraction of its height (see :mod:`windows`).

The head keeps the vertical layout of the trunk's features (it averages over the width only, into a few
horizontal bands), because *where* along the window a vertebra appears is exactly what it must regress.
"""

from __future__ import annotations

import torch
from torch import nn

from .backbone_names import BACKBONES, IMAGENET_BACKBONES  # noqa: F401  (re-exported for training)
from .mobilenet import LAST_CHANNELS, mobilenet_v2_features

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_HEAD_CHANNELS = 64
_HEAD_BANDS = 5


class ImageNetInput(nn.Module):
    """Turn 1 or 2 grey views into the 3 normalised channels an ImageNet trunk expects."""

    def __init__(self, n_views: int):
        super().__init__()
        if n_views not in (1, 2):
            raise ValueError(f"1 or 2 views are supported, got {n_views}")
        self.n_views = n_views
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.n_views == 1:
            rgb = x.expand(-1, 3, -1, -1)
        else:
            rgb = torch.cat([x[:, :1], x[:, 1:2], x.mean(dim=1, keepdim=True)], dim=1)
        return (rgb - self.mean) / self.std


class CenteredInput(nn.Module):
    """Map [0, 1] pixels to [-1, 1] for a trunk trained from scratch."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2.0 - 1.0


def _cnn4_trunk(n_views: int) -> tuple[nn.Module, int]:
    """The seed's small "homemade" 4-layer CNN (about 60 K parameters; the seed's had 55 K)."""
    layers = []
    channels = [n_views, 16, 32, 64, 64]
    for c_in, c_out in zip(channels[:-1], channels[1:]):
        layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
    return nn.Sequential(*layers), channels[-1]


def build_trunk(backbone: str, n_views: int) -> tuple[nn.Module, nn.Module, int]:
    """(input adapter, trunk, trunk output channels) for ``backbone``, with random weights."""
    if backbone == "mobilenet_v2":  # torch alone: detection with the shipped model never imports torchvision
        return ImageNetInput(n_views), mobilenet_v2_features(), LAST_CHANNELS
    import torchvision  # only the other ImageNet backbones need it

    if backbone == "vgg16":
        return ImageNetInput(n_views), torchvision.models.vgg16(weights=None).features, 512
    if backbone == "resnet18":
        resnet = torchvision.models.resnet18(weights=None)
        trunk = nn.Sequential(resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool, resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4)
        return ImageNetInput(n_views), trunk, 512
    if backbone == "cnn4":
        trunk, channels = _cnn4_trunk(n_views)
        return CenteredInput(), trunk, channels
    raise ValueError(f"unknown backbone {backbone!r}; expected one of {BACKBONES}")


class WindowRegressor(nn.Module):
    """Trunk plus head: predicts L3's position (fraction of the window height) in each window."""

    def __init__(self, backbone: str, n_views: int = 1, head_dropout: float = 0.0):
        super().__init__()
        self.backbone = backbone
        self.input_adapter, self.trunk, trunk_channels = build_trunk(backbone, n_views)
        self.head = nn.Sequential(
            nn.Conv2d(trunk_channels, _HEAD_CHANNELS, 1, bias=False),
            nn.BatchNorm2d(_HEAD_CHANNELS),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d((_HEAD_BANDS, 1)),
            nn.Flatten(),
            nn.Linear(_HEAD_CHANNELS * _HEAD_BANDS, _HEAD_CHANNELS),
            nn.ReLU(inplace=True),
            nn.Dropout(head_dropout),  # acts in training only; the weights do not depend on it
            nn.Linear(_HEAD_CHANNELS, 1),
        )

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(self.input_adapter(windows))).squeeze(1)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


class LevelMapNetwork(nn.Module):
    """The vertebra count: for every row of a whole projection, its vertebral level and whether it lies in
    the counted region (T11 to S1; see :mod:`vertebral_levels`).

    Input ``[batch, views, rows, width]`` (rows a multiple of 32, pixels in [0, 1]); output
    ``[batch, 2, rows / 8]``: channel 0 the level, channel 1 the region logit, one value per 8 rows.

    A mobilenet_v2 trunk (ImageNet weights in training) gives features at 8, 16 and 32 rows; each is
    pooled over the width (mean and max), brought to one value per 8 rows and joined. A bidirectional GRU
    then runs along the whole body axis: the level of a row depends on what lies far above and below it
    (the last rib, the sacrum, the skull), which is how a reader counts.
    """

    OUTPUT_STRIDE = 8
    INPUT_MULTIPLE = 32

    def __init__(self, n_views: int = 2, hidden: int = 96):
        super().__init__()
        features = mobilenet_v2_features()
        self.input_adapter = ImageNetInput(n_views)
        self.stride8 = features[:7]  # 32 channels
        self.stride16 = features[7:14]  # 96 channels
        self.stride32 = features[14:18]  # 320 channels (the 1280-channel last convolution is left out)
        self.reduce = nn.Sequential(nn.Conv1d(2 * (32 + 96 + 320), hidden, 1), nn.ReLU(inplace=True))
        self.along_body = nn.GRU(hidden, hidden, batch_first=True, bidirectional=True)
        self.out = nn.Conv1d(2 * hidden, 2, 1)

    def forward(self, projection: torch.Tensor) -> torch.Tensor:
        x8 = self.stride8(self.input_adapter(projection))
        x16 = self.stride16(x8)
        x32 = self.stride32(x16)
        n_steps = x8.shape[2]
        sequence = self.reduce(torch.cat([width_pooled(x, n_steps) for x in (x8, x16, x32)], dim=1))
        along, _ = self.along_body(sequence.transpose(1, 2))
        return self.out(along.transpose(1, 2))


def width_pooled(features: torch.Tensor, n_steps: int) -> torch.Tensor:
    """``[batch, channels, rows, width]`` features pooled over the width (mean and max, ``2 * channels``)
    and brought to ``n_steps`` values along the rows."""
    pooled = torch.cat([features.mean(dim=3), features.amax(dim=3)], dim=1)
    return nn.functional.interpolate(pooled, size=n_steps, mode="linear", align_corners=False)
