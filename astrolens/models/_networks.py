# Licensed under a 3-clause BSD style license - see LICENSE
"""Classifier networks: a compact residual network for lens images and timm backbones.

Networks are built by name with `create_network`; the name and keyword
arguments are what the JSON configuration of saved weights records, so a
network is rebuilt exactly from them (no pickled objects).
"""

import torch
from torch import nn

__all__ = ['LensResNet', 'NETWORKS', 'create_network', 'register_network']

NETWORKS = {}


def register_network(name):
    """Decorator registering a network factory ``f(*, in_chans, num_classes, **kwargs)``."""
    def decorator(factory):
        NETWORKS[name] = factory
        return factory
    return decorator


class _Block(nn.Module):
    """Pre-activation-free basic residual block (conv-BN-ReLU-conv-BN + shortcut)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.act = nn.ReLU(inplace=True)
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.AvgPool2d(stride, ceil_mode=True, count_include_pad=False)
                if stride != 1 else nn.Identity(),
                nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.act(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act(out + self.shortcut(x))


class LensResNet(nn.Module):
    """Small residual network that keeps full resolution in its stem.

    Substructure shows up as perturbations a few pixels wide along the
    arcs, so the first stage works at the input resolution (stride-1 stem)
    and downsampling starts only after it.

    Parameters
    ----------
    in_chans : int
    num_classes : int
    widths : sequence of int
        Channels of each stage; every stage after the first halves the
        resolution.
    depths : sequence of int
        Residual blocks per stage.
    dropout : float
        Dropout before the final linear layer.
    stem : {'conv', 'unshuffle'}
        ``'conv'``: a stride-1 3x3 convolution at the input resolution.
        ``'unshuffle'``: a lossless 2x2 space-to-depth rearrangement (each
        2x2 block of pixels becomes 4 channels) before the 3x3 convolution,
        which keeps every pixel's information at a quarter of the cost of
        the first stage.
    """

    def __init__(self, *, in_chans=1, num_classes=3, widths=(24, 48, 96, 192),
                 depths=(1, 2, 2, 1), dropout=0.1, stem='unshuffle'):
        super().__init__()
        if len(widths) != len(depths):
            msg = f'widths and depths must have the same length, got {widths} and {depths}'
            raise ValueError(msg)
        if stem not in ('conv', 'unshuffle'):
            msg = f"stem must be 'conv' or 'unshuffle', got {stem!r}"
            raise ValueError(msg)
        factor = 2 if stem == 'unshuffle' else 1
        self.stem = nn.Sequential(
            nn.PixelUnshuffle(factor) if factor > 1 else nn.Identity(),
            nn.Conv2d(in_chans * factor ** 2, widths[0], 3, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True))
        layers, cin = [], widths[0]
        for i, (width, depth) in enumerate(zip(widths, depths, strict=True)):
            for j in range(depth):
                layers.append(_Block(cin, width, 2 if (i > 0 and j == 0) else 1))
                cin = width
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(cin, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode='fan_out', nonlinearity='relu')
        for module in self.modules():
            if isinstance(module, _Block):
                nn.init.zeros_(module.bn2.weight)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.fc(self.dropout(torch.flatten(self.pool(x), 1)))


@register_network('lensresnet')
def _lensresnet(*, in_chans=1, num_classes=3, **kwargs):
    return LensResNet(in_chans=in_chans, num_classes=num_classes, **kwargs)


@register_network('lensresnet_s')
def _lensresnet_s(*, in_chans=1, num_classes=3, **kwargs):
    kwargs.setdefault('widths', (16, 32, 64, 128))
    kwargs.setdefault('depths', (1, 1, 1, 1))
    return LensResNet(in_chans=in_chans, num_classes=num_classes, **kwargs)


def create_network(name, *, in_chans=1, num_classes=3, pretrained=False, **kwargs):
    """Build a classifier network by name.

    Parameters
    ----------
    name : str
        A name registered with `register_network` (``'d4lensnet'``,
        ``'lensresnet'``, ``'lensresnet_s'``) or any `timm` model name (``'efficientnet_b0'``,
        ``'resnet18'``, ...).
    in_chans, num_classes : int
    pretrained : bool, optional
        For timm models only: download ImageNet weights. Off by default, as
        astrolens never reaches the network on its own.
    **kwargs
        Passed to the factory.

    Returns
    -------
    network : `torch.nn.Module`
        Maps ``(N, in_chans, H, W)`` to ``(N, num_classes)`` logits.
    """
    # the D4-invariant network registers itself on import
    from astrolens.models import _d4  # noqa: F401

    if name in NETWORKS:
        return NETWORKS[name](in_chans=in_chans, num_classes=num_classes, **kwargs)
    import timm

    if not timm.is_model(name):
        msg = (f'unknown backbone {name!r}: use one of {sorted(NETWORKS)} or a timm model '
               "name (see timm.list_models(), e.g. 'efficientnet_b0', 'resnet18')")
        raise ValueError(msg)
    return timm.create_model(name, pretrained=pretrained, in_chans=in_chans,
                             num_classes=num_classes, **kwargs)
