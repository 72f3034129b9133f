# Licensed under a 3-clause BSD style license - see LICENSE
"""`SuperResolver`: flux- and WCS-preserving super-resolution of astronomical images.

The estimator (parameters, `fit`, `evaluate`, persistence) lives here; the
inference pipeline is `astrolens.models._sr_inference`, the flux corrections
`astrolens.models._sr_flux` and the training data `astrolens.models._sr_data`.
"""

import copy
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from astropy import units as u

from astrolens.models import _sr_inference
from astrolens.models._sr_data import PatchSampler, as_pairs, prepare_pairs, psnr_metric
from astrolens.models._sr_flux import estimate_gain
from astrolens.models._sr_inference import FLUX_MODES, bicubic_upscale, is_surface_brightness
from astrolens.models._sr_networks import SR_ARCHS, count_parameters, create_sr_network
from astrolens.models._sr_uncertainty import check_uncertainty
from astrolens.utils import NotFittedError, WeightsError
from astrolens.version import __version__

__all__ = ['SuperResolver', 'bicubic_upscale', 'is_surface_brightness']

_LOSSES = ('l1', 'l2', 'gan')
_FLUX = FLUX_MODES
CONFIG_KIND = 'astrolens.SuperResolver'
FORMAT_VERSION = 1
#: Output PSF (FWHM, output pixels) of a model whose configuration records neither
#: ``output_fwhm`` nor the target PSFs it was trained for: a Nyquist-sampled image.
DEFAULT_OUTPUT_FWHM = 2.0


def _output_fwhm_of(config):
    """The geometric middle of the PSF range of the training targets, else the default.

    The range is ``data.degradation.ranges.target_fwhm`` (output pixels) of a configuration;
    without one, `DEFAULT_OUTPUT_FWHM`.
    """
    ranges = (((config or {}).get('data') or {}).get('degradation') or {}).get('ranges') or {}
    span = ranges.get('target_fwhm')
    try:
        low, high = (float(v) for v in span)
    except (TypeError, ValueError):
        return DEFAULT_OUTPUT_FWHM
    return float(np.sqrt(low * high)) if low > 0 and high > 0 else DEFAULT_OUTPUT_FWHM


def _earlier_stages(config):
    """The training stages behind a saved model's weights, oldest first.

    Each stage keeps its training record, command, data and test metrics, so
    a model trained in a chain of stages says how every stage was run.
    """
    earlier = config.get('pretraining') or []
    if isinstance(earlier, dict):  # written by astrolens before stages were chained
        earlier = [earlier]
    last = {**config['training'],
            **{k: config[k] for k in ('command', 'data', 'metrics') if k in config}}
    return [*earlier, last]


class SuperResolver:
    """Super-resolution of astronomical images that keeps flux, WCS and masks.

    Parameters
    ----------
    scale : {2, 3, 4}, optional
        Upscaling factor per axis.
    arch : str, optional
        Network, one of ``'edsr-xs'``, ``'edsr-s'`` (default), ``'edsr-m'``
        (residual CNNs with a pixel-shuffle upsampler and a global bicubic
        skip) or ``'srresnet'`` (the SRGAN generator, a baseline).
    arch_kwargs : dict, optional
        Overrides of the architecture (``n_feats``, ``n_blocks``).
    loss : {'l1', 'l2', 'gan'}, optional
        Training loss. ``'gan'`` trains SRGAN-style: an L1 pixel loss plus a
        feature loss on the early feature maps of a trained
        `~astrolens.models.LensClassifier` and an adversarial loss from a
        discriminator trained alongside (see ``gan``). Its output looks
        sharper, at a cost in PSNR/SSIM that ``benchmarks/bench_superres.py
        --gan-minutes`` measures; start it from L1 weights with ``fit(...,
        init=...)``.
    gan : dict, optional
        Options of ``loss='gan'``, overriding
        `astrolens.models.GAN_DEFAULTS`: ``feature_model`` (a shipped
        classifier name or saved path; None drops the feature term),
        ``pixel_weight``, ``perceptual_weight``, ``adversarial_weight``,
        ``discriminator_lr``, ``discriminator_width``.
    flux : {'local', 'total', 'block', None}, optional
        Flux correction of `enhance`: ``'local'`` (default) keeps every
        source's flux by a smoothed back-projection (the output summed back
        onto the input grid reproduces the input above the noise, with no
        block pattern) and the total exactly; ``'total'`` only rescales the
        total flux (mean surface brightness); ``'block'`` makes every ``scale
        x scale`` block consistent with its input pixel; None leaves the
        network output.
    device : str, optional
        ``'auto'`` (CUDA when available), ``'cpu'``, ``'cuda'``, ...
    seed : int, optional
        Seeds initialisation, data split, patch sampling and augmentation.
    learning_rate : float, optional
        Peak learning rate of `fit` (AdamW, cosine schedule).

    Attributes
    ----------
    model_ : `torch.nn.Module`
        The trained network (after `fit`, `load` or `from_pretrained`).
    flux_gain_ : float
        ``sum(block_mean(hr)) / sum(lr)`` of the training pairs, a ratio of
        sums (``1/scale**2`` for flux per pixel); puts targets on the
        input's intensity scale in training and outputs back on it in
        `enhance`.
    flux_smooth_ : float
        Smoothing (input pixels) of ``flux='local'``; 2 unless the
        configuration says otherwise (``flux_smooth``).
    output_fwhm_ : float
        The output PSF (FWHM, output pixels) `enhance` brings its result to
        when it knows the input's PSF: the configuration's ``output_fwhm``,
        else the geometric middle of the PSFs of the training targets, else
        2 (a Nyquist-sampled image).
    flux_threshold_ : float or None
        When set, ``flux='local'`` leaves out of its correction what is
        within this many times the noise, on every scale (configuration
        ``flux_threshold``; None, the default: all of it is put back, so
        the output summed onto the input grid keeps the input's noise on
        large scales). The shipped models' values, and their
        ``flux_smooth``, were chosen on validation pairs by
        ``benchmarks/tune_flux_correction.py``.
    history_ : list of dict
        Per-epoch training record.
    config_ : dict
        Everything the JSON configuration records (training data, command,
        metrics, ...).

    Examples
    --------
    >>> sr = SuperResolver.from_pretrained('deeplense-x2')  # doctest: +SKIP
    >>> hi = sr.enhance('cutout.fits')                       # doctest: +SKIP
    """

    def __init__(self, scale=2, *, arch='edsr-s', arch_kwargs=None, loss='l1', flux='local',
                 device='auto', seed=0, learning_rate=1e-3, gan=None):
        self.scale = scale
        self.arch = arch
        self.arch_kwargs = arch_kwargs
        self.loss = loss
        self.gan = gan
        self.flux = flux
        self.device = device
        self.seed = seed
        self.learning_rate = learning_rate

    # ------------------------------------------------------------------ checks
    def _check_params(self):
        if isinstance(self.scale, bool) or self.scale not in (2, 3, 4):
            msg = f'scale must be 2, 3 or 4, got {self.scale!r}'
            raise ValueError(msg)
        if self.arch not in SR_ARCHS:
            msg = f'unknown arch {self.arch!r}; use one of {sorted(SR_ARCHS)}'
            raise ValueError(msg)
        if self.loss not in _LOSSES:
            msg = f'loss must be one of {_LOSSES}, got {self.loss!r}'
            raise ValueError(msg)
        if self.gan is not None:
            from astrolens.models._adversarial import GAN_DEFAULTS

            if not isinstance(self.gan, dict):
                msg = f'gan must be a dict of options, got {type(self.gan).__name__}'
                raise TypeError(msg)
            unknown = sorted(set(self.gan) - set(GAN_DEFAULTS))
            if unknown:
                msg = f'unknown gan options {unknown}; known: {sorted(GAN_DEFAULTS)}'
                raise ValueError(msg)
        if self.flux not in _FLUX:
            msg = f'flux must be one of {_FLUX}, got {self.flux!r}'
            raise ValueError(msg)

    def _check_fitted(self):
        if getattr(self, 'model_', None) is None:
            msg = ('this SuperResolver has no trained network yet: call fit(...), '
                   'SuperResolver.load(path) or SuperResolver.from_pretrained(name) first')
            raise NotFittedError(msg)

    def _device(self):
        from astrolens.models._training import resolve_device
        return resolve_device(self.device)

    # ------------------------------------------------------------------ training
    def fit(self, lr, hr=None, *, epochs=20, batch_size=16, patch_size=24, val_fraction=0.1,
            patience=None, max_minutes=None, checkpoint_dir=None, resume=True, init=None,
            noise_augment=0.0, weight_decay=0.0, progress=True, max_val=256,
            lr_scales=None):
        """Train the network on low/high-resolution pairs.

        Parameters
        ----------
        lr : array-like, list, str or `~pathlib.Path`
            ``(N, h, w)`` array or a list of images (arrays, NDData, HDUs,
            FITS paths); or, with ``hr`` omitted, a list of
            `~astrolens.preprocessing.RegisteredPair` or the path of a
            DeepLense super-resolution folder.
        hr : array-like or list, optional
            ``(N, scale*h, scale*w)`` or a list, matching ``lr``.
        epochs : int, optional
            Maximum number of epochs; one epoch draws one random patch per
            training pair.
        batch_size, patch_size : int, optional
            Patches per step, and their side in low-resolution pixels.
        val_fraction : float, optional
            Share of the pairs held out for validation (best weights and
            early stopping on the validation PSNR); 0 turns it off.
        patience : int, optional
            Early stopping after this many epochs without a better PSNR.
        max_minutes : float, optional
            Time budget: the cosine schedule is fitted to it.
        checkpoint_dir : str or `~pathlib.Path`, optional
            Where a checkpoint is written after every epoch; an existing
            one is resumed (unless ``resume=False``).
        resume : bool, optional
        init : str, `~pathlib.Path` or `SuperResolver`, optional
            Start from these weights (a shipped model name, a saved path, or
            a fitted estimator) instead of a fresh network.
        noise_augment : float, optional
            Add Gaussian noise of a random sigma up to this (in normalised
            units, where 1 is the bright end of the image) to the inputs.
        weight_decay : float, optional
        progress : bool, optional
            Show tqdm progress bars.
        max_val : int, optional
            At most this many validation pairs are evaluated each epoch.
        lr_scales : dict, optional
            Learning-rate factors by parameter-name prefix, e.g.
            ``{'head.': 0.1, 'body.': 0.1}`` (0 freezes); see
            `astrolens.models.train`.

        Returns
        -------
        self : `SuperResolver`
        """
        from astrolens.models._training import train

        self._check_params()
        s = int(self.scale)
        lrs, hrs = as_pairs(lr, hr, s)
        gain = estimate_gain(lrs, hrs, s)
        xs, ys = prepare_pairs(lrs, hrs, s, gain)
        rng = np.random.default_rng(self.seed)
        order = rng.permutation(len(xs))
        n_val = int(round(val_fraction * len(xs))) if len(xs) >= 5 else 0
        val_idx, train_idx = order[:n_val][:max_val], order[n_val:]
        if len(train_idx) < batch_size:
            batch_size = max(1, len(train_idx))
        torch.manual_seed(self.seed)
        model, source = self._init_model(init)
        sampler = PatchSampler([xs[i] for i in train_idx], [ys[i] for i in train_idx],
                                scale=s, patch_size=patch_size, batch_size=batch_size,
                                seed=self.seed, noise=noise_augment)
        val_batches = None
        if n_val:
            val_batches = self._val_batches([xs[i] for i in val_idx], [ys[i] for i in val_idx])
        loss_fn = self._loss_function()
        t0 = time.perf_counter()
        world_size = max(1, int(os.environ.get('WORLD_SIZE', '1')))
        result = train(model, loss_fn, sampler, epochs=epochs,
                       steps_per_epoch=sampler.steps(world_size),
                       lr=self.learning_rate, weight_decay=weight_decay,
                       val_batches=val_batches, metrics=psnr_metric if n_val else None,
                       monitor='val_psnr', mode='max', patience=patience,
                       max_minutes=max_minutes, checkpoint_dir=checkpoint_dir, resume=resume,
                       device=self.device, seed=self.seed, progress=progress,
                       lr_scales=lr_scales, restore_best=self.loss != 'gan')
        model.eval()
        self.model_ = model
        self.flux_gain_ = float(gain)
        self.history_ = result.history
        self.name_ = getattr(self, 'name_', None) or f'{self.arch}-x{s}'
        previous = (getattr(source, 'config_', None) or {}) if source is not None else {}
        self.config_ = {
            'training': {
                'n_pairs': len(xs), 'n_train': int(len(train_idx)), 'n_val': int(n_val),
                'lr_shape': list(lrs[0].shape), 'epochs_run': len(result.history),
                'best_epoch': result.best_epoch, 'stopped_early': result.stopped_early,
                'batch_size': int(batch_size), 'patch_size': int(patch_size),
                'learning_rate': self.learning_rate, 'noise_augment': noise_augment,
                'seconds': round(time.perf_counter() - t0, 1), 'seed': self.seed,
                'init': None if init is None else str(getattr(init, 'name_', init)),
                'lr_scales': lr_scales, 'history': result.history,
            },
        }
        if self.loss == 'gan':
            self.config_['training']['gan'] = self._gan_options()
        if 'training' in previous:
            self.config_['pretraining'] = _earlier_stages(previous)
        return self

    def fine_tune(self, lr, hr=None, *, epochs=60, batch_size=8, patch_size=24,
                  learning_rate=None, val_fraction=0.2, patience=10, noise_augment=0.05,
                  checkpoint_dir=None, max_minutes=None, progress=True, body_lr_scale=0.1):
        """Adapt a fitted or pretrained network to a few hundred pairs.

        A lower learning rate (a tenth of ``learning_rate`` by default, and
        ``body_lr_scale`` times that for the feature extractor), strong
        augmentation (the 8 D4 symmetries and input-noise jitter) and early
        stopping on a held-out split keep the few-shot run from forgetting
        what the network knew.

        Parameters
        ----------
        lr, hr
            As for `fit`.
        epochs, batch_size, patch_size, val_fraction, patience, noise_augment,
        checkpoint_dir, max_minutes, progress
            As for `fit`, with few-shot defaults.
        learning_rate : float, optional
            Peak learning rate; default ``self.learning_rate / 10``.
        body_lr_scale : float, optional
            Factor on the learning rate of the head and body (the feature
            extractor); the upsampler and tail learn at the full rate. 0
            freezes the feature extractor, 1 trains everything alike.

        Returns
        -------
        self : `SuperResolver`
        """
        self._check_fitted()
        saved = self.learning_rate
        self.learning_rate = saved / 10 if learning_rate is None else learning_rate
        try:
            return self.fit(lr, hr, epochs=epochs, batch_size=batch_size, patch_size=patch_size,
                            val_fraction=val_fraction, patience=patience, init=self,
                            noise_augment=noise_augment, checkpoint_dir=checkpoint_dir,
                            max_minutes=max_minutes, progress=progress,
                            lr_scales={'head.': body_lr_scale, 'body.': body_lr_scale})
        finally:
            self.learning_rate = saved

    def _gan_options(self):
        from astrolens.models._adversarial import GAN_DEFAULTS

        return {**GAN_DEFAULTS, **(self.gan or {})}

    def _loss_function(self):
        if self.loss == 'l1':
            return F.l1_loss
        if self.loss == 'l2':
            return F.mse_loss
        from astrolens.models._adversarial import AdversarialLoss, ClassifierFeatures
        from astrolens.models._classifier import LensClassifier

        options = self._gan_options()
        features = None
        if options['feature_model'] is not None:
            classifier = LensClassifier.from_pretrained(options['feature_model'])
            features = ClassifierFeatures(classifier)
        return AdversarialLoss(features, pixel='l1', **{
            k: v for k, v in options.items() if k != 'feature_model'})

    def _init_model(self, init):
        """``(network, the estimator it starts from or None)``."""
        model = create_sr_network(self.arch, int(self.scale), **(self.arch_kwargs or {}))
        if init is None:
            return model, None
        if isinstance(init, SuperResolver):
            source = init
        else:
            source = SuperResolver.from_pretrained(init)
        source._check_fitted()
        if source.arch != self.arch or (source.arch_kwargs or {}) != (self.arch_kwargs or {}):
            msg = (f'init weights are for arch={source.arch!r} {source.arch_kwargs or ""}; '
                   f'this SuperResolver is arch={self.arch!r} {self.arch_kwargs or ""}')
            raise ValueError(msg)
        state = copy.deepcopy(source.model_.state_dict())
        if int(source.scale) != int(self.scale):
            # Transfer across scales: the feature extractor (head and body) carries over,
            # the upsampler and tail start fresh.
            own = model.state_dict()
            state = {k: v for k, v in state.items()
                     if k.startswith(('head.', 'body.')) and k in own and own[k].shape == v.shape}
            own.update(state)
            state = own
        model.load_state_dict(state)
        return model, source

    @staticmethod
    def _val_batches(xs, ys, batch=16):
        shapes = {x.shape for x in xs}
        if len(shapes) > 1:
            side = min(min(x.shape) for x in xs)
            s = ys[0].shape[0] // xs[0].shape[0]
            xs = [x[:side, :side] for x in xs]
            ys = [y[:s * side, :s * side] for y in ys]
        xt = torch.from_numpy(np.stack(xs))[:, None]
        yt = torch.from_numpy(np.stack(ys))[:, None]

        def batches():
            for first in range(0, len(xt), batch):
                yield xt[first:first + batch], yt[first:first + batch]
        return batches

    # ------------------------------------------------------------------ inference
    def enhance(self, data, *, tile=512, overlap=None, batch_size=1, uncertainty=False,
                progress=True, flux='default', hdu=None, bad_bits=None, max_pixels='default',
                psf=None, output_fwhm=None, deconvolve=False, uncertainty_samples=8,
                support_nsigma=None):
        """Super-resolve an image (or a batch of arrays).

        Parameters
        ----------
        data : array-like, tuple, `~astropy.nddata.NDData`, HDU, HDUList, str or Path
            One image in any form `astrolens.io.to_nddata` accepts, or a
            ``(N, H, W)`` array (a batch of images in flux per pixel).
        tile : int, optional
            Largest side of the tiles, in input pixels; images larger than
            this are processed tile by tile, so memory stays bounded (about
            1 GB at the default 512 with ``batch_size=1``).
        overlap : int, optional
            Overlap kept on each side of a tile; default the network's
            receptive field, which makes the tiled result equal to the
            untiled one. Smaller values trade exactness for speed.
        batch_size : int, optional
            Tiles per network call; memory grows with it.
        uncertainty : bool or {'calibrated', 'resample', 'd4'}, optional
            Also return a standard deviation per output pixel (the output's
            ``uncertainty``, of the input uncertainty's class, else
            `~astropy.nddata.StdDevUncertainty`). ``True`` is
            ``'calibrated'``: the image is enhanced ``uncertainty_samples``
            times (that many forward passes) with noise drawn from the
            input's uncertainty, or its noise level without one, in
            antithetic pairs each in another symmetry of the square; the
            output is their mean, its uncertainty the spread they show (the
            input's noise carried through the network and flux correction,
            and the network's disagreement between symmetries) with the
            model's error on detail the input does not show added (see
            `astrolens.models._sr_uncertainty`; coefficients from the model's
            configuration, fitted by ``benchmarks/bench_uncertainty.py``).
            ``'resample'``: the same without the model error. ``'d4'``: the
            mean of the 8 symmetries of the clean input, their spread in
            quadrature with the input's uncertainty upsampled (far too narrow
            on real pairs). The output records which (``sr_uncertainty``,
            ``sr_uncertainty_passes``).
        progress : bool, optional
            Show a progress bar over tiles (or batch images).
        flux : {'local', 'total', 'block', None}, optional
            Override the estimator's ``flux`` setting for this call.
        hdu : int, str or (str, int), optional
            Extension to read, for a FITS file or ``HDUList`` with several.
        bad_bits, max_pixels : optional
            For FITS input: the mask planes that make a pixel bad and the
            largest image read (see `astrolens.io.read_fits`).
        psf : float, array-like, `~astropy.units.Quantity` or 'stars', optional
            The input's PSF: an image sampled on the input grid, or its FWHM
            in input pixels (a number) or as an angle (``1.2 * u.arcsec``,
            converted with the WCS), taken as a Moffat profile of index
            4.765, the seeing (give the image when there is one); or
            ``'stars'``: measured on the image's isolated stars
            (`astrolens.preprocessing.psf_from_stars`; with too few, a
            warning and the order below). Default, in this order: the
            ``psf`` of an NDData input, the ``PSF`` extension of a FITS
            file, a header card giving the seeing (``PSF_FWHM``,
            ``PSFFWHM``, ``SEEING`` in arcsec unless their comment says
            pixels, ``FWHM`` when its comment names the unit), else none
            (the model's prior). The output records which
            (``sr_psf_source``; see :ref:`sr_which_psf`). With a
            PSF the output is brought to the resolution ``output_fwhm``: a
            PSF-conditioned network (``arch_kwargs['psf_condition']``) is
            told both FWHMs and sharpens by their ratio (without a PSF it
            runs blind); a network that does not see the PSF guesses how
            much to sharpen, and where it sharpened beyond that resolution
            (on mildly blurred real HST images the shipped models fall up to
            1.9 dB below bicubic) the output is blurred back to it. An output
            blurrier than asked is never sharpened further here (that is
            ``deconvolve``). The local flux correction then observes the
            output through the blur that PSF implies instead of a fitted one.
        output_fwhm : float, optional
            FWHM (output pixels) of the output PSF asked for when ``psf`` is
            known; default ``output_fwhm_`` of the model (the middle of the
            PSFs of its training targets).
        deconvolve : bool, optional
            With ``psf`` and the local flux correction: carry on deconvolving
            the output (Richardson-Lucy iterations, observing it through a
            kernel that reproduces the PSF image, wings included) until,
            observed again, it reproduces the input to within the input's
            noise (the discrepancy principle): its uncertainty pixel by
            pixel when it carries one (so bright sources, noisier by their
            Poisson noise, stop it in time), else the noise level estimated
            from pixel-to-pixel differences. The iterations never leave
            the sky noisier than bicubic upsampling: they stop at the last
            iterate whose sky rms is at most bicubic's, and none is kept
            (with a warning) when the first would exceed it. It helps where the network
            stops short on bright inputs behind wide PSFs (+1.4 dB on the
            Hubble Deep Field set with its PSF) and brings aperture fluxes
            closer to the truth; on the real HSC/HST pair it leaves less
            diffuse light. See :ref:`sr_psf`.
        uncertainty_samples : int, optional
            Forward passes of ``uncertainty='calibrated'`` or
            ``'resample'``: an even number (pairs of opposite noise draws);
            the cost of `enhance` grows that many times.
        support_nsigma : float, optional
            Keep the super-resolved output only where the input supports
            structure at this significance (its signal, smoothed over a
            pixel, ``support_nsigma`` times its noise above the sky, grown by
            2 pixels) and put the input, smoothed and upsampled, elsewhere:
            nothing is sharpened out of the sky noise
            (`astrolens.models._sr_support.gate_unsupported`). Default None:
            no gate. Recorded as ``sr_support_nsigma`` (``SRSUPSIG``) with
            the share of input pixels kept, ``sr_support_fraction``
            (``SRSUPFRC``).

        Returns
        -------
        enhanced : `~astropy.nddata.NDData` or `~numpy.ndarray`
            For one image: ``NDData`` (``CCDData`` for a ``CCDData`` input)
            with ``scale`` x more pixels per axis, the WCS rescaled
            (`astrolens.wcs_utils.scale_wcs`), the same unit, the mask
            upsampled (input NaNs stay NaN there, and only there), the
            input's uncertainty propagated
            (`astrolens.io.upsample_uncertainty`, combined in quadrature
            with the symmetry spread when ``uncertainty='d4'``; replaced by the
            resampled spread for the other methods), ``meta``
            rewritten for the finer grid (`astrolens.io.resampled_meta`) plus
            the provenance (``sr_model``, ``sr_version``, ``sr_scale``,
            ``sr_flux``, ``sr_output_fwhm`` when a PSF was given, and
            ``sr_deconvolve_iterations``, ``sr_deconvolve_stop`` and
            ``sr_deconvolve_sky_ratio`` when ``deconvolve=True`` acted), and
            the PSFs (``sr_psf_source``, ``sr_psf_in``, ``sr_psf_out``, ...,
            written as the FITS cards ``SRPSFSRC``, ``SRPSFIN``,
            ``SRPSFOUT``, ...: `astrolens.io.SR_PSF_CARDS`); its ``psf`` is
            the output PSF, a Gaussian of FWHM ``output_fwhm`` output pixels
            (without a known input PSF, the model's own ``output_fwhm_``,
            the middle of the PSFs it was trained to produce). A 3-D
            NDData or FITS image is a ``(bands, y, x)``
            cube, enhanced plane by plane with its 3-D WCS kept (its
            ``sr_deconvolve_*`` entries are strings of one value per plane,
            ``'12,30,7'``). For an
            array batch: an array ``(N, scale*H, scale*W)``, or
            ``(array, std)`` with ``uncertainty=True``.
        """
        self._check_fitted()
        uncertainty, uncertainty_samples = check_uncertainty(uncertainty, uncertainty_samples)
        flux = self.flux if flux == 'default' else flux
        if flux not in _FLUX:
            msg = f'flux must be one of {_FLUX}, got {flux!r}'
            raise ValueError(msg)
        if isinstance(psf, u.Quantity):
            if psf.ndim or not psf.unit.is_equivalent(u.arcsec) or not psf.value > 0:
                msg = f'psf as a Quantity must be one positive angle (the FWHM), got {psf!r}'
                raise ValueError(msg)
        elif psf is not None and not (isinstance(psf, str) and psf == 'stars'):
            psf = _sr_inference.check_psf(psf)
        if not isinstance(deconvolve, (bool, np.bool_)):
            msg = f'deconvolve must be True or False, got {deconvolve!r}'
            raise TypeError(msg)
        output_fwhm = self._output_fwhm() if output_fwhm is None else output_fwhm
        if isinstance(output_fwhm, bool) or not isinstance(output_fwhm, (int, float)) \
                or not (np.isfinite(output_fwhm) and output_fwhm > 0):
            msg = f'output_fwhm must be a positive number of output pixels, got {output_fwhm!r}'
            raise ValueError(msg)
        if support_nsigma is not None and (
                isinstance(support_nsigma, bool) or not isinstance(support_nsigma, (int, float))
                or not (np.isfinite(support_nsigma) and support_nsigma > 0)):
            msg = ('support_nsigma must be a positive number of sigmas (e.g. 3) or None, '
                   f'got {support_nsigma!r}')
            raise ValueError(msg)
        if overlap is None:
            overlap = int(getattr(self.model_, 'receptive_field', 16))
        if tile <= 2 * overlap:
            msg = (f'tile={tile} is too small for overlap={overlap}: use tile > '
                   f'{2 * overlap} (e.g. {max(256, 4 * overlap)})')
            raise ValueError(msg)
        return _sr_inference.enhance(self, data, tile=tile, overlap=overlap,
                                     batch_size=batch_size, uncertainty=uncertainty,
                                     progress=progress, flux=flux, hdu=hdu, bad_bits=bad_bits,
                                     max_pixels=max_pixels, psf=psf,
                                     output_fwhm=float(output_fwhm), deconvolve=bool(deconvolve),
                                     uncertainty_samples=uncertainty_samples,
                                     support_nsigma=None if support_nsigma is None
                                     else float(support_nsigma))

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, lr, hr, *, surface_brightness=False, tile=512, batch_size=2,
                 progress=False):
        """PSNR, SSIM, MSE and flux errors of the model and of bicubic upsampling.

        Metrics follow `astrolens.metrics` (images rescaled by the range of
        the high-resolution reference, ``data_range = 1``). ``lr`` and ``hr``
        must be in consistent units: flux per pixel (``hr`` sums to the
        ``lr`` total) or, with ``surface_brightness=True``, per solid angle.

        Parameters
        ----------
        lr, hr : array-like
            ``(N, h, w)`` and ``(N, scale*h, scale*w)`` (or single images).
        surface_brightness : bool, optional
        tile, batch_size, progress
            Passed to `enhance`.

        Returns
        -------
        metrics : dict
            ``{'model': {...}, 'bicubic': {...}, 'n_images': N}`` where each
            inner dict holds ``psnr`` (dB), ``ssim``, ``mse`` and
            ``flux_error`` (mean absolute relative total-flux error against
            ``hr``) and ``flux_conservation`` (the same against ``lr``).
        """
        from astrolens.metrics._image import flux_error, image_metrics

        self._check_fitted()
        lrs, hrs = as_pairs(lr, hr, int(self.scale))
        s = int(self.scale)
        srs, bics = [], []
        for low in lrs:
            bad = ~np.isfinite(low)
            sr, _ = _sr_inference.enhance_array(
                self, low.astype(np.float64), bad, surface_brightness=surface_brightness,
                tile=tile, overlap=int(self.model_.receptive_field), batch_size=batch_size,
                uncertainty=False, progress=False, flux=self.flux)
            srs.append(sr)
            bics.append(bicubic_upscale(low, s, surface_brightness=surface_brightness))
        out = {'n_images': len(lrs)}
        for name, preds in (('model', srs), ('bicubic', bics)):
            entry = {'psnr': [], 'ssim': [], 'mse': [], 'flux_error': [],
                     'flux_conservation': []}
            for pred, high, low in zip(preds, hrs, lrs, strict=True):
                m = image_metrics(pred, high)
                for key in ('psnr', 'ssim', 'mse', 'flux_error'):
                    entry[key].append(m[key])
                entry['flux_conservation'].append(abs(flux_error(
                    pred, low, surface_brightness=surface_brightness)))
            out[name] = {k: float(np.mean(v)) for k, v in entry.items()}
        return out

    def _output_fwhm(self):
        """The output PSF (FWHM, output pixels) `enhance` matches when given the input's PSF."""
        value = getattr(self, 'output_fwhm_', None)
        return float(value) if value is not None else _output_fwhm_of(
            getattr(self, 'config_', None) or {})

    # ------------------------------------------------------------------ persistence
    def _config(self):
        config = {
            'kind': CONFIG_KIND, 'format_version': FORMAT_VERSION,
            'astrolens_version': __version__, 'name': self.name_,
            'scale': int(self.scale), 'arch': self.arch, 'arch_kwargs': self.arch_kwargs or {},
            'loss': self.loss, 'flux': self.flux, 'seed': self.seed,
            'learning_rate': self.learning_rate, 'gan': self.gan,
            'normalization': {'method': 'flux', 'per': 'image', 'offset': 'median',
                              'scale': '99.5th percentile above the median'},
            'flux_gain': self.flux_gain_,
            'flux_smooth': float(getattr(self, 'flux_smooth_', 2.0)),
            'flux_threshold': getattr(self, 'flux_threshold_', None),
            'output_fwhm': self._output_fwhm(),
            'receptive_field': int(self.model_.receptive_field),
            'n_parameters': count_parameters(self.model_),
        }
        extra = {k: v for k, v in (getattr(self, 'config_', None) or {}).items()
                 if k not in config}
        config.update(extra)
        return config

    def save(self, path, *, overwrite=False):
        """Write ``PATH.safetensors`` (weights) and ``PATH.json`` (configuration).

        Parameters
        ----------
        path : str or `~pathlib.Path`
            With or without one of those suffixes.
        overwrite : bool, optional

        Returns
        -------
        paths : tuple of `~pathlib.Path`
            ``(weights, config)``.
        """
        from astrolens.models._serialization import save_weights, to_tensor_dict

        self._check_fitted()
        return save_weights(path, to_tensor_dict(self.model_.state_dict()), self._config(),
                            overwrite=overwrite)

    @classmethod
    def _from_parts(cls, config, weights_source, *, source, device):
        from astrolens.models._serialization import load_state, load_weights

        if config.get('kind') != CONFIG_KIND:
            msg = (f'{source} is not a SuperResolver configuration '
                   f"(kind={config.get('kind')!r})")
            raise WeightsError(msg)
        try:
            est = cls(int(config['scale']), arch=config['arch'],
                      arch_kwargs=config.get('arch_kwargs') or None,
                      loss=config.get('loss', 'l1'), flux=config.get('flux', 'total'),
                      device=device, seed=config.get('seed', 0),
                      learning_rate=config.get('learning_rate', 1e-3),
                      gan=config.get('gan'))
            est._check_params()
            model = create_sr_network(est.arch, est.scale, **(est.arch_kwargs or {}))
            gain = float(config['flux_gain'])
        except (KeyError, TypeError, ValueError) as exc:
            msg = f'the configuration in {source} is incomplete or invalid: {exc}'
            raise WeightsError(msg) from None
        state = load_weights(weights_source, name=str(source))
        load_state(model, state, source=source)
        model.eval()
        est.model_ = model
        est.flux_gain_ = gain
        est.flux_smooth_ = float(config.get('flux_smooth', 2.0))
        threshold = config.get('flux_threshold')
        if threshold is not None and not (isinstance(threshold, (int, float))
                                          and not isinstance(threshold, bool) and threshold > 0):
            msg = (f'the configuration in {source} has flux_threshold={threshold!r}; it must be '
                   'a positive number or null')
            raise WeightsError(msg)
        est.flux_threshold_ = None if threshold is None else float(threshold)
        output_fwhm = config.get('output_fwhm')
        if output_fwhm is not None and not (isinstance(output_fwhm, (int, float))
                                            and not isinstance(output_fwhm, bool)
                                            and output_fwhm > 0):
            msg = (f'the configuration in {source} has output_fwhm={output_fwhm!r}; it must be '
                   'a positive number (output pixels) or null')
            raise WeightsError(msg)
        est.output_fwhm_ = _output_fwhm_of(config) if output_fwhm is None else float(output_fwhm)
        est.name_ = config.get('name') or f'{est.arch}-x{est.scale}'
        est.history_ = (config.get('training') or {}).get('history', [])
        est.config_ = {k: v for k, v in config.items()
                       if k in ('training', 'pretraining', 'data', 'command', 'metrics', 'domain',
                                'description', 'uncertainty')}
        return est

    @classmethod
    def load(cls, path, *, device='auto'):
        """Read an estimator written by `save`.

        Raises
        ------
        WeightsError
            For a missing, corrupted or mismatched weights or configuration file.
        """
        from astrolens.models._serialization import read_json_config, weight_paths

        weights, config_path = weight_paths(path)
        config = read_json_config(config_path, source=str(config_path))
        return cls._from_parts(config, weights, source=weights, device=device)

    @classmethod
    def from_pretrained(cls, name, *, device='auto'):
        """A shipped model by name (``'deeplense-x2'``, ...), or a saved path.

        Weights are read from package data with `importlib.resources`; the
        network is never reached.

        Raises
        ------
        ValueError
            For an unknown name; the message lists the shipped models.
        """
        from pathlib import Path

        from astrolens.models._serialization import read_json_config, weight_paths
        from astrolens.models.pretrained import available_models, model_files

        if isinstance(name, SuperResolver):
            return name
        if name in available_models():
            weights, config_path = model_files(name)
            config = read_json_config(config_path, source=f'shipped model {name!r}')
            return cls._from_parts(config, weights, source=f'shipped model {name!r}',
                                   device=device)
        if isinstance(name, (str, Path)) and any(f.exists() for f in weight_paths(name)):
            # A saved model, maybe with one of its files missing: load says which.
            return cls.load(name, device=device)
        msg = (f'no shipped super-resolution model named {name!r} and no such saved model; '
               f'shipped: {available_models() or "none"}')
        raise ValueError(msg)

    def __repr__(self):
        params = ', '.join(f'{k}={getattr(self, k)!r}' for k in
                           ('arch', 'loss', 'flux', 'device', 'seed')
                           if getattr(self, k) is not None)
        return f'SuperResolver(scale={self.scale!r}, {params})'
