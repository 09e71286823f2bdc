"""mobilenet_v2's convolutional features built from torch alone, with torchvision's layout.

Detection needs only the architecture, not torchvision: importing torchvision costs about a second of
start-up (its ops import ``torch._dynamo``), and a Slicer install may hold a torchvision that does not match
its torch. The modules and their parameter names are those of ``torchvision.models.mobilenet_v2().features``
(Sandler et al., 2018: inverted residual blocks with linear bottlenecks, ReLU6), so the same state dict
loads into either; ``tests/test_networks.py`` checks that both give the same outputs. Initialisation
follows torchvision's (Kaiming normal, fan out), for training from scratch.
"""

from __future__ import annotations

from torch import nn

# (expansion, output channels, repeats, first stride) of each stage, as in the paper's Table 2.
_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
FIRST_CHANNELS = 32
LAST_CHANNELS = 1280


def _conv_bn_relu6(in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, groups: int = 1) -> nn.Sequential:
    """Conv (no bias), batch norm, ReLU6: torchvision's Conv2dNormActivation, keys 0, 1, 2."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, (kernel_size - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    """1x1 expansion (unless the expansion is 1), 3x3 depthwise, 1x1 linear projection; a skip connection
    when the block keeps its size and channels."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, expansion: int):
        super().__init__()
        hidden = int(round(in_channels * expansion))
        self.use_res_connect = stride == 1 and in_channels == out_channels
        layers = [_conv_bn_relu6(in_channels, hidden, kernel_size=1)] if expansion != 1 else []
        layers += [
            _conv_bn_relu6(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, out_channels, 1, 1, 0, bias=False),
            nn.BatchNorm2d(out_channels),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


def mobilenet_v2_features() -> nn.Sequential:
    """The 19 feature modules of mobilenet_v2 (width 1.0): 3 input channels, 1280 out, output stride 32."""
    layers = [_conv_bn_relu6(3, FIRST_CHANNELS, stride=2)]
    channels = FIRST_CHANNELS
    for expansion, out_channels, repeats, first_stride in _STAGES:
        for index in range(repeats):
            layers.append(InvertedResidual(channels, out_channels, first_stride if index == 0 else 1, expansion))
            channels = out_channels
    layers.append(_conv_bn_relu6(channels, LAST_CHANNELS, kernel_size=1))
    features = nn.Sequential(*layers)
    for module in features.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    return features
