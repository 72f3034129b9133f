# Licensed under a 3-clause BSD style license - see LICENSE
"""`D4LensNet`: a lens classifier invariant to the 8 rotations/reflections by construction.

A strong-lens image has no preferred orientation for its class: rotating it
by 90 degrees or mirroring it never changes whether it holds subhalos or a
vortex. Instead of teaching a network that by augmentation, `D4LensNet`
runs one encoder on all 8 elements of the dihedral group D4 applied to the
input and averages the 8 feature vectors before the classifier head, so its
output is exactly the same for any of the 8 versions of an image.
"""

import torch
from torch import nn
from torch.nn import functional as F

from astrolens.models._networks import _Block, register_network

__all__ = ['PHYSICS_CHANNELS', 'D4LensNet', 'd4_transform']

#: Fixed channels the encoder can see besides the (prepared) image.
PHYSICS_CHANNELS = ('log', 'grad', 'laplacian')


def d4_transform(x, k):
    """Element ``k`` (0-7) of D4 on the last two axes.

    ``k % 4`` quarter turns, after a mirror image when ``k >= 4``.
    """
    if k >= 4:
        x = torch.flip(x, dims=(-1,))
    return torch.rot90(x, k % 4, dims=(-2, -1))


class _Physics(nn.Module):
    """Fixed (not learned) channels: log intensity, the two gradients and the Laplacian.

    They are computed after the D4 transform, inside each view, so the
    gradient channels turn with the image and invariance is kept.
    """

    def __init__(self, channels):
        super().__init__()
        unknown = set(channels) - set(PHYSICS_CHANNELS)
        if unknown:
            msg = f'unknown physics channels {sorted(unknown)}; choose from {PHYSICS_CHANNELS}'
            raise ValueError(msg)
        self.channels = tuple(channels)
        sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8
        lap = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
        kernels = []
        if 'grad' in self.channels:
            kernels += [sobel, sobel.T]
        if 'laplacian' in self.channels:
            kernels.append(lap)
        weight = torch.stack(kernels)[:, None] if kernels else torch.zeros(0, 1, 3, 3)
        self.register_buffer('kernels', weight, persistent=False)

    @property
    def out_chans(self):
        return 1 + ('log' in self.channels) + 2 * ('grad' in self.channels) + (
            'laplacian' in self.channels)

    def forward(self, x):
        # x is the prepared image (one channel, zero mean, unit variance per image)
        parts = [x]
        if 'log' in self.channels:
            low = x.amin(dim=(-2, -1), keepdim=True)
            parts.append(torch.log(x - low + 0.1))
        if len(self.kernels):
            parts.append(F.conv2d(F.pad(x, (1, 1, 1, 1), mode='replicate'), self.kernels))
        return torch.cat(parts, 1)


class D4LensNet(nn.Module):
    """Encoder applied to the 8 D4 versions of the input, features averaged over them.

    Parameters
    ----------
    in_chans : int
        Channels of the input (1 for astrolens' prepared images).
    num_classes : int
    widths, depths : sequence of int
        Channels and residual blocks of each stage; every stage after the
        first halves the resolution.
    patch : int
        Side of the lossless space-to-depth step at the start of the
        encoder (a ``patch`` x ``patch`` block of pixels becomes channels):
        the first stage then works at ``1/patch`` of the input resolution
        while still seeing every pixel.
    physics : sequence of str
        Fixed channels added to the image in every view: any of ``'log'``,
        ``'grad'`` (the x and y derivatives), ``'laplacian'``.
    group_pool : {'mean', 'max'}
        How the 8 feature vectors are pooled.
    dropout : float
        Before the last linear layer.
    train_views : {8, 1}
        Views the encoder sees in training mode. 8 (the whole orbit, as in
        evaluation) or 1: the image as given, which the training loop turns
        by a random element of D4 (``LensClassifier(augment='d4')``). One
        view is 8 times less work per training image, so a CPU budget
        sees about 8 times more images; evaluation always pools the orbit,
        so the trained network stays exactly invariant.
    """

    def __init__(self, *, in_chans=1, num_classes=3, widths=(32, 64, 96, 128),
                 depths=(1, 1, 1, 1), patch=2, physics=PHYSICS_CHANNELS, group_pool='mean',
                 dropout=0.1, train_views=8):
        super().__init__()
        if len(widths) != len(depths):
            msg = f'widths and depths must have the same length, got {widths} and {depths}'
            raise ValueError(msg)
        if group_pool not in ('mean', 'max'):
            msg = f"group_pool must be 'mean' or 'max', got {group_pool!r}"
            raise ValueError(msg)
        if in_chans != 1 and physics:
            msg = 'physics channels are defined for one-channel images; pass physics=()'
            raise ValueError(msg)
        if train_views not in (1, 8):
            msg = f'train_views must be 8 (the orbit) or 1, got {train_views!r}'
            raise ValueError(msg)
        self.patch = int(patch)
        self.group_pool = group_pool
        self.train_views = int(train_views)
        self.physics = _Physics(physics) if physics else None
        chans = self.physics.out_chans if physics else in_chans
        self.stem = nn.Sequential(
            nn.PixelUnshuffle(self.patch) if self.patch > 1 else nn.Identity(),
            nn.Conv2d(chans * self.patch ** 2, widths[0], 3, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True))
        layers, cin = [], widths[0]
        for i, (width, depth) in enumerate(zip(widths, depths, strict=True)):
            for j in range(depth):
                layers.append(_Block(cin, width, 2 if (i > 0 and j == 0) else 1))
                cin = width
        self.layers = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Linear(cin, cin), nn.ReLU(inplace=True),
                                  nn.Dropout(dropout), nn.Linear(cin, num_classes))
        self.num_features = cin
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode='fan_out', nonlinearity='relu')
            if isinstance(module, _Block):
                nn.init.zeros_(module.bn2.weight)

    def _crop_to_patch(self, x):
        h, w = x.shape[-2:]
        p = self.patch
        if h % p or w % p:
            # crop symmetrically, so that the D4 versions share one crop
            dh, dw = h % p, w % p
            x = x[..., dh // 2:h - (dh - dh // 2), dw // 2:w - (dw - dw // 2)]
        return x

    def features(self, x):
        """Group-pooled features ``(N, num_features)``, invariant under D4."""
        x = self._crop_to_patch(x)
        if x.shape[-1] != x.shape[-2]:
            msg = f'D4LensNet needs square images, got {tuple(x.shape[-2:])}'
            raise ValueError(msg)
        n = x.shape[0]
        n_views = self.train_views if self.training else 8
        views = torch.cat([d4_transform(x, k) for k in range(n_views)])
        if self.physics is not None:
            views = self.physics(views)
        f = self.layers(self.stem(views)).mean(dim=(-2, -1)).view(n_views, n, -1)
        return f.mean(0) if self.group_pool == 'mean' else f.amax(0)

    def forward(self, x):
        return self.head(self.features(x))


@register_network('d4lensnet')
def _d4lensnet(*, in_chans=1, num_classes=3, **kwargs):
    for key in ('widths', 'depths', 'physics'):
        if key in kwargs and kwargs[key] is not None:
            kwargs[key] = tuple(kwargs[key])
    return D4LensNet(in_chans=in_chans, num_classes=num_classes, **kwargs)
