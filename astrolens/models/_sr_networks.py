# Licensed under a 3-clause BSD style license - see LICENSE
"""Super-resolution networks: residual CNNs with a pixel-shuffle upsampler.

Every network maps a normalised low-resolution batch ``(N, 1, h, w)`` to
``(N, 1, s*h, s*w)`` on the same intensity scale (a "density": the value a
pixel would have if it were the size of an input pixel), so a bicubic
upsampling of the input is already a good answer and the networks learn only
the residual to it (global bicubic skip).

Noise-aware networks (``noise_channel=True``) are told the noise level: the
input then has one more channel, the noise standard deviation of every input
pixel on the normalised scale (from the image's uncertainty, else
`estimate_noise`); the network sees its logarithm. Given only the image
channel, such a network estimates a constant noise level itself with
`estimate_noise`, so callers that know nothing of noise still work.

PSF-conditioned networks (``psf_condition=True``, after SRMD, Zhang et al. 2018,
which gives the degradation to the network as constant input maps) take
`PSF_CONDITION_CHANNELS` more channels, after the noise channel: whether the
PSFs are known, the input PSF's FWHM in input pixels and the sharpening asked
for, the ratio of that FWHM to the output PSF's (both as logarithms, see
`psf_condition_values`). Blind, all three are 0: the network is trained with the PSFs
hidden for part of the pairs, so it then falls back on what its training
prior allows. Networks are built by name with `create_sr_network`; the name
and keyword arguments are what the JSON configuration of saved weights
records.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ['PSF_CONDITION_CHANNELS', 'SR_ARCHS', 'EDSR', 'SRResNet', 'count_parameters',
           'create_sr_network', 'estimate_noise', 'noise_feature', 'psf_condition_values']

#: Input channels a PSF-conditioned network has beyond the image and noise channels.
PSF_CONDITION_CHANNELS = 3

# name -> (class, default keyword arguments)
SR_ARCHS = {
    'edsr-xs': ('edsr', {'n_feats': 16, 'n_blocks': 4}),
    'edsr-s': ('edsr', {'n_feats': 32, 'n_blocks': 8}),
    'edsr-m': ('edsr', {'n_feats': 48, 'n_blocks': 12}),
    'srresnet': ('srresnet', {'n_feats': 32, 'n_blocks': 8}),
}

_SCALES = (2, 3, 4)


def _check_scale(scale):
    if isinstance(scale, bool) or scale not in _SCALES:
        msg = f'scale must be one of {_SCALES}, got {scale!r}'
        raise ValueError(msg)
    return int(scale)


def estimate_noise(x):
    """Robust noise standard deviation of every image of a batch ``(N, C, h, w)``.

    ``1.4826 * MAD / sqrt(2)`` of the pixel-to-pixel differences along both
    axes (first channel): insensitive to smooth structure and to a few
    sources. Returns ``(N, 1, 1, 1)``.
    """
    img = x[:, :1]
    diffs = torch.cat([(img[..., 1:, :] - img[..., :-1, :]).flatten(1),
                       (img[..., :, 1:] - img[..., :, :-1]).flatten(1)], dim=1)
    med = diffs.median(dim=1, keepdim=True).values
    mad = (diffs - med).abs().median(dim=1, keepdim=True).values
    return (1.4826 / 2 ** 0.5 * mad).view(-1, 1, 1, 1)


def noise_feature(sigma):
    """What a noise-aware network sees of the noise level: ``log10`` of it, bounded."""
    return torch.log10(sigma.clamp(1e-4, 10.0))


def psf_condition_values(input_fwhm=None, output_fwhm=None, *, scale):
    """The PSF channels of a conditioned network: ``(known, log FWHM_in, log sharpening)``.

    Parameters
    ----------
    input_fwhm : float or None
        FWHM of the input's PSF in input pixels; None when unknown (blind).
    output_fwhm : float or None
        FWHM of the output PSF asked for, in output pixels.
    scale : int
        Output pixels per input pixel.

    Returns
    -------
    values : tuple of float
        ``(1, ln(input_fwhm), ln(scale * input_fwhm / output_fwhm))`` when both
        are known, ``(0, 0, 0)`` when either is None.
    """
    if input_fwhm is None or output_fwhm is None:
        return (0.0, 0.0, 0.0)
    fin, fout = float(input_fwhm), float(output_fwhm)
    if not (math.isfinite(fin) and math.isfinite(fout) and fin > 0 and fout > 0):
        msg = (f'PSF FWHMs must be positive numbers, got input {input_fwhm!r}, '
               f'output {output_fwhm!r}')
        raise ValueError(msg)
    return (1.0, math.log(fin), math.log(scale * fin / fout))


class _ResBlock(nn.Module):
    """EDSR block: conv-ReLU-conv, no batch norm, scaled residual."""

    def __init__(self, n_feats, res_scale):
        super().__init__()
        self.conv1 = nn.Conv2d(n_feats, n_feats, 3, padding=1)
        self.conv2 = nn.Conv2d(n_feats, n_feats, 3, padding=1)
        self.act = nn.ReLU(inplace=True)
        self.res_scale = res_scale

    def forward(self, x):
        return x + self.res_scale * self.conv2(self.act(self.conv1(x)))


class _BNResBlock(nn.Module):
    """SRResNet block: conv-BN-PReLU-conv-BN."""

    def __init__(self, n_feats):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(n_feats, n_feats, 3, padding=1), nn.BatchNorm2d(n_feats),
            nn.PReLU(n_feats), nn.Conv2d(n_feats, n_feats, 3, padding=1),
            nn.BatchNorm2d(n_feats))

    def forward(self, x):
        return x + self.body(x)


def _upsampler(n_feats, scale, act=None):
    """Pixel-shuffle stages: one x3 stage, or x2 stages for 2 and 4."""
    layers, n_convs = [], 0
    stages = [3] if scale == 3 else [2] * (scale // 2)
    for factor in stages:
        layers += [nn.Conv2d(n_feats, n_feats * factor ** 2, 3, padding=1),
                   nn.PixelShuffle(factor)]
        if act is not None:
            layers.append(act(n_feats))
        n_convs += 1
    return nn.Sequential(*layers), n_convs


class _SRBase(nn.Module):
    """Shared pieces: bicubic skip and the receptive field used for tiling."""

    scale: int
    receptive_field: int

    def _skip(self, x):
        # align_corners=False puts output pixel centres at sub-pixel centres,
        # the same convention as astrolens.wcs_utils.scale_wcs.
        return F.interpolate(x, scale_factor=self.scale, mode='bicubic', align_corners=False)

    def _split(self, x):
        """The image channels and what the head sees: image, noise feature, PSF channels.

        Channels a caller leaves out are filled in: the noise level estimated
        from the image, the PSF channels blind (zeros).
        """
        n_img = self.in_chans
        n_noise = int(self.noise_channel)
        n_psf = PSF_CONDITION_CHANNELS if self.psf_condition else 0
        if x.shape[1] not in (n_img, n_img + n_noise, n_img + n_noise + n_psf):
            msg = (f'expected {n_img}, {n_img + n_noise} or {n_img + n_noise + n_psf} input '
                   f'channels, got {x.shape[1]}')
            raise ValueError(msg)
        if not (n_noise or n_psf):
            return x, x
        img = x[:, :n_img]
        parts = [img]
        if n_noise:
            if x.shape[1] > n_img:
                sigma = x[:, n_img:n_img + 1]
            else:
                sigma = estimate_noise(img).expand(-1, 1, *img.shape[-2:])
            parts.append(noise_feature(sigma))
        if n_psf:
            if x.shape[1] == n_img + n_noise + n_psf:
                parts.append(x[:, n_img + n_noise:])
            else:
                parts.append(img.new_zeros((img.shape[0], n_psf, *img.shape[-2:])))
        return img, torch.cat(parts, dim=1)

    def _head_channels(self):
        return (self.in_chans + int(self.noise_channel)
                + (PSF_CONDITION_CHANNELS if self.psf_condition else 0))

    def forward(self, x):
        img, inputs = self._split(x)
        features = self.head(inputs)
        features = features + self.body(features)
        return self._skip(img) + self.tail(self.upsample(features))


class EDSR(_SRBase):
    """EDSR-like residual network with a global bicubic skip.

    Parameters
    ----------
    scale : {2, 3, 4}
    n_feats : int
        Channels of the body.
    n_blocks : int
        Residual blocks.
    res_scale : float
        Residual scaling inside the blocks (EDSR uses 0.1 for wide bodies).
    in_chans : int
        Image channels (input and output).
    noise_channel : bool
        Noise-aware: the input carries one more channel, the noise level
        (see the module docstring).
    psf_condition : bool
        PSF-conditioned: `PSF_CONDITION_CHANNELS` more channels (see the
        module docstring).

    Attributes
    ----------
    receptive_field : int
        Half-width, in input pixels, of the region an output pixel depends
        on (a bound): tiles must overlap by at least this much.
    """

    def __init__(self, scale=2, *, n_feats=32, n_blocks=8, res_scale=1.0, in_chans=1,
                 noise_channel=False, psf_condition=False):
        super().__init__()
        self.scale = _check_scale(scale)
        self.in_chans, self.noise_channel = int(in_chans), bool(noise_channel)
        self.psf_condition = bool(psf_condition)
        self.head = nn.Conv2d(self._head_channels(), n_feats, 3, padding=1)
        self.body = nn.Sequential(*[_ResBlock(n_feats, res_scale) for _ in range(n_blocks)],
                                  nn.Conv2d(n_feats, n_feats, 3, padding=1))
        self.upsample, n_up = _upsampler(n_feats, self.scale)
        self.tail = nn.Conv2d(n_feats, in_chans, 3, padding=1)
        # 3x3 convolutions at input resolution each add one pixel; those after
        # the upsampler add at most one input pixel each; bicubic adds two.
        self.receptive_field = 1 + 2 * n_blocks + 1 + n_up + 1 + 2
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)


class SRResNet(_SRBase):
    """SRGAN generator (SRResNet): batch-normalised residual blocks, PReLU, 9x9 head and tail.

    Used as the baseline of the benchmark; same bicubic skip as `EDSR` so the
    comparison is about the body.
    """

    def __init__(self, scale=2, *, n_feats=32, n_blocks=8, in_chans=1, noise_channel=False,
                 psf_condition=False):
        super().__init__()
        self.scale = _check_scale(scale)
        self.in_chans, self.noise_channel = int(in_chans), bool(noise_channel)
        self.psf_condition = bool(psf_condition)
        self.head = nn.Sequential(nn.Conv2d(self._head_channels(), n_feats, 9,
                                            padding=4), nn.PReLU(n_feats))
        self.body = nn.Sequential(*[_BNResBlock(n_feats) for _ in range(n_blocks)],
                                  nn.Conv2d(n_feats, n_feats, 3, padding=1),
                                  nn.BatchNorm2d(n_feats))
        self.upsample, n_up = _upsampler(n_feats, self.scale, act=nn.PReLU)
        self.tail = nn.Conv2d(n_feats, in_chans, 9, padding=4)
        self.receptive_field = 4 + 2 * n_blocks + 1 + n_up + 4 + 2
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)


_CLASSES = {'edsr': EDSR, 'srresnet': SRResNet}


def create_sr_network(arch, scale, **kwargs):
    """Build a super-resolution network by name.

    Parameters
    ----------
    arch : str
        One of `SR_ARCHS`: ``'edsr-xs'`` (16 channels, 4 blocks, ~30k
        parameters), ``'edsr-s'`` (32 x 8, ~195k), ``'edsr-m'`` (48 x 12,
        ~600k), ``'srresnet'`` (the SRGAN generator, 32 x 8).
    scale : {2, 3, 4}
    **kwargs
        Override the defaults of the architecture (``n_feats``,
        ``n_blocks``, ``noise_channel``, ...).

    Returns
    -------
    network : `torch.nn.Module`
        With ``scale`` and ``receptive_field`` attributes.
    """
    if arch not in SR_ARCHS:
        msg = f'unknown super-resolution architecture {arch!r}; use one of {sorted(SR_ARCHS)}'
        raise ValueError(msg)
    kind, defaults = SR_ARCHS[arch]
    params = {**defaults, **kwargs}
    try:
        return _CLASSES[kind](scale, **params)
    except TypeError as exc:
        msg = f'bad keyword arguments for {arch!r}: {exc}'
        raise ValueError(msg) from None


def count_parameters(network):
    """Number of trainable parameters of ``network``."""
    return sum(p.numel() for p in network.parameters() if p.requires_grad)
