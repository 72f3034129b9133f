# Licensed under a 3-clause BSD style license - see LICENSE
"""Adversarial training of super-resolution networks (``SuperResolver(loss='gan')``).

The generator loss is SRGAN's: a pixel loss, a feature ("perceptual") loss
and an adversarial loss. Instead of VGG features of natural photographs, the
feature loss compares the early feature maps of a trained astrolens
`~astrolens.models.LensClassifier` network, so "looking alike" means looking
alike to a network that learned which small structures in lens images
matter. The discriminator is a small strided CNN trained alongside the
generator; both are only used in training and never saved with the weights.
"""

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ['AdversarialLoss', 'ClassifierFeatures', 'GAN_DEFAULTS', 'SRDiscriminator']

GAN_DEFAULTS = {
    'feature_model': 'deeplense-model-i',
    'pixel_weight': 1.0,
    'perceptual_weight': 0.05,
    'adversarial_weight': 2e-3,
    'discriminator_lr': 1e-4,
    'discriminator_width': 32,
}


class SRDiscriminator(nn.Module):
    """SRGAN-style discriminator: strided conv blocks, global pooling, one logit.

    Works on any patch side (global average pooling), so the patch size of
    training does not fix it.

    Parameters
    ----------
    width : int, optional
        Channels of the first block; doubled at every stride-2 block.
    in_chans : int, optional
    """

    def __init__(self, *, width=32, in_chans=1):
        super().__init__()
        layers, cin = [], in_chans
        for i, cout in enumerate((width, width * 2, width * 4, width * 4)):
            layers += [nn.Conv2d(cin, cout, 3, padding=1),
                       nn.LeakyReLU(0.2, inplace=True),
                       nn.Conv2d(cout, cout, 4, stride=2, padding=1),
                       nn.GroupNorm(8 if cout % 8 == 0 else 1, cout) if i else nn.Identity(),
                       nn.LeakyReLU(0.2, inplace=True)]
            cin = cout
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(cin, cin), nn.LeakyReLU(0.2, inplace=True),
                                  nn.Linear(cin, 1))

    def forward(self, x):
        return self.head(self.features(x)).squeeze(1)


def _stretch_like(images, reference):
    """The classifier's input transform (min-max, sqrt, standardise) with ``reference``'s stats.

    Using the statistics of the reference (the true high-resolution patch)
    for both images keeps the comparison on one intensity scale and keeps
    the transform differentiable in ``images``.
    """
    flat = reference.flatten(1)
    low = flat.min(dim=1).values.view(-1, 1, 1, 1)
    span = (flat.max(dim=1).values.view(-1, 1, 1, 1) - low).clamp_min(1e-12)

    def transform(x):
        # The small floor keeps the gradient of sqrt finite at the minimum.
        return torch.sqrt(((x - low) / span).clamp(0.0, 1.5) + 1e-4)

    ref = transform(reference)
    mean = ref.mean(dim=(2, 3), keepdim=True)
    std = ref.std(dim=(2, 3), keepdim=True).clamp_min(1e-6)
    return (transform(images) - mean) / std, (ref - mean) / std


class ClassifierFeatures(nn.Module):
    """Frozen early feature maps of a trained `~astrolens.models.LensClassifier`.

    Parameters
    ----------
    classifier : `~astrolens.models.LensClassifier`
        Fitted, with a ``lensresnet`` or ``d4lensnet`` network (a stem plus
        residual blocks; the fixed physics channels of a ``d4lensnet`` are
        computed first, on one view).
    n_blocks : int, optional
        Residual blocks (after the stem) whose outputs are compared.
    """

    def __init__(self, classifier, *, n_blocks=3):
        super().__init__()
        classifier._check_fitted()
        network = classifier.model_
        if not (hasattr(network, 'stem') and hasattr(network, 'layers')):
            msg = (f'the feature loss needs a classifier with a lensresnet or d4lensnet '
                   f'network, got {type(network).__name__}')
            raise TypeError(msg)
        self.physics = getattr(network, 'physics', None)
        self.patch = int(getattr(network, 'patch', 1))
        self.stem = network.stem
        self.blocks = nn.ModuleList(list(network.layers)[:n_blocks])
        self.eval()
        for param in self.parameters():
            param.requires_grad_(False)

    def train(self, mode=True):
        # Always in evaluation mode: batch-norm statistics of the classifier stay fixed.
        return super().train(False)

    def forward(self, x):
        """List of feature maps of ``x`` (already in the classifier's input space)."""
        h, w = x.shape[-2:]
        x = x[..., :h - h % self.patch, :w - w % self.patch]
        if self.physics is not None:
            x = self.physics(x)
        x = self.stem(x)
        maps = [x]
        for block in self.blocks:
            x = block(x)
            maps.append(x)
        return maps

    def distance(self, images, reference):
        """Mean squared feature difference, each layer normalised by its reference energy."""
        a, b = _stretch_like(images, reference)
        total = 0.0
        maps_a, maps_b = self(a), self(b)
        for fa, fb in zip(maps_a, maps_b, strict=True):
            total = total + F.mse_loss(fa, fb) / fb.pow(2).mean().clamp_min(1e-6)
        return total / len(maps_a)


class AdversarialLoss:
    """Generator loss of SRGAN-style training, with the discriminator's own update.

    Called by `astrolens.models.train` as ``loss(outputs, targets)`` once per
    step: it first updates the discriminator on the detached outputs (real
    = ``targets``), then returns ``pixel + perceptual + adversarial`` for the
    generator. Validation uses the pixel loss only. The discriminator and its
    optimiser are checkpointed with the run.

    Parameters
    ----------
    features : `ClassifierFeatures` or None
        Feature extractor of the perceptual term (None: no perceptual term).
    pixel : {'l1', 'l2'}, optional
    pixel_weight, perceptual_weight, adversarial_weight : float, optional
    discriminator_lr : float, optional
    discriminator_width : int, optional
    """

    def __init__(self, features, *, pixel='l1', pixel_weight=1.0, perceptual_weight=0.05,
                 adversarial_weight=2e-3, discriminator_lr=1e-4, discriminator_width=32):
        self.features = features
        self.pixel = F.l1_loss if pixel == 'l1' else F.mse_loss
        self.weights = (float(pixel_weight), float(perceptual_weight),
                        float(adversarial_weight))
        self.discriminator = SRDiscriminator(width=int(discriminator_width))
        self.optimizer = torch.optim.Adam(self.discriminator.parameters(),
                                          lr=float(discriminator_lr), betas=(0.5, 0.999))
        self.last_terms = {}

    def to(self, device):
        # Called before any step or checkpoint load, so the optimiser has no state to move
        # yet; Optimizer.load_state_dict puts loaded state on the parameters' device.
        self.discriminator.to(device)
        if self.features is not None:
            self.features.to(device)
        return self

    def _discriminator_step(self, fake, real):
        with torch.autocast(fake.device.type, enabled=False):
            self.discriminator.train()
            real_logits = self.discriminator(real.float())
            fake_logits = self.discriminator(fake.detach().float())
            loss = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                    + F.binary_cross_entropy_with_logits(fake_logits,
                                                         torch.zeros_like(fake_logits)))
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            _average_gradients_across_processes(self.discriminator)
            self.optimizer.step()
        return float(loss.detach())

    def __call__(self, outputs, targets):
        outputs, targets = outputs.float(), targets.float()
        d_loss = self._discriminator_step(outputs, targets)
        w_pix, w_perc, w_adv = self.weights
        pixel = self.pixel(outputs, targets)
        total = w_pix * pixel
        perceptual = torch.zeros(())
        if self.features is not None and w_perc > 0:
            perceptual = self.features.distance(outputs, targets)
            total = total + w_perc * perceptual
        logits = self.discriminator(outputs)
        adversarial = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
        total = total + w_adv * adversarial
        self.last_terms = {'pixel': float(pixel.detach()), 'perceptual': float(perceptual.detach()),
                           'adversarial': float(adversarial.detach()), 'discriminator': d_loss}
        return total

    def validation_loss(self, outputs, targets):
        return self.pixel(outputs.float(), targets.float())

    def checkpoint_state(self):
        return {'discriminator': {k: v.detach().cpu() for k, v in
                                  self.discriminator.state_dict().items()},
                'optimizer': self.optimizer.state_dict()}

    def load_checkpoint_state(self, state):
        self.discriminator.load_state_dict(state['discriminator'])
        self.optimizer.load_state_dict(state['optimizer'])


def _average_gradients_across_processes(module):
    """Average gradients over a ``torchrun`` job; the discriminator is not wrapped in DDP."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return
    world = dist.get_world_size()
    for param in module.parameters():
        if param.grad is not None:
            dist.all_reduce(param.grad)
            param.grad /= world
