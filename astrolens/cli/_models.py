# Licensed under a 3-clause BSD style license - see LICENSE
"""``astrolens models``: what each shipped model is for, from its JSON configuration."""

import re

__all__ = ['add_commands', 'describe_model']

# The simulated data of each classifier, in words (importing astrolens.simulation for them
# would pull lenstronomy into a command that only reads JSON).
_SIMULATIONS = {
    'model_i': ('none (simulated, DeepLenseSim Model I: 0.05"/px, Gaussian PSF 0.087")',
                'DeepLenseSim Model I'),
    'model_ii': ('Euclid VIS (simulated, DeepLenseSim Model II)', 'DeepLenseSim Model II'),
    'model_iii': ('HST WFC3 F160W (simulated, DeepLenseSim Model III)',
                  'DeepLenseSim Model III'),
}
_PREFERRED_SETS = ('hsc-hst', 'lenses', 'hst', 'ground', 'hdf')
_FILTER = re.compile(r'_(f\d{3,4}(?:w|lp|x|m|n))\b', re.IGNORECASE)


def _simulation_of(config):
    for stage in reversed(config.get('stages') or []):
        if isinstance(stage, dict) and stage.get('model') in _SIMULATIONS:
            return stage['model']
    source = str((config.get('training') or {}).get('source', ''))
    return next((name for name in _SIMULATIONS if source.endswith(name)), None)


def _classifier_lines(config):
    simulation = _simulation_of(config)
    band, data = _SIMULATIONS.get(simulation, ('unknown', 'unknown'))
    inst = config.get('instrument') or {}
    shape = inst.get('shape') or ('?', '?')
    classes = ' / '.join(config.get('classes', ()))
    training = config.get('training') or {}
    n_train = training.get('n_train')
    lines = [('kind', f'classifier ({classes})'),
             ('band', band),
             ('pixels', f'{inst.get("pixel_scale", "?")}"/px, {shape[1]}x{shape[0]} px '
                        f'(FITS inputs with a WCS are resampled to this grid)'),
             ('trained on', f'{data} simulations'
                            + (f', {n_train} training images' if n_train else ', drawn afresh '
                               'for every batch'))]
    lines.append(('use', f'classify {data}-like lens images by dark-matter substructure; '
                         'outlier_score flags images unlike them'))
    metrics = config.get('metrics') or {}
    for key, value in metrics.items():
        if key.startswith('simulated_') and isinstance(value, dict):
            n = value.get('n_samples')
            lines.append(('metrics', f'accuracy {value.get("accuracy", float("nan")):.3f}, '
                                     f'macro AUC {value.get("auc_macro", float("nan")):.3f} '
                                     f'on {n} fresh simulations'))
            break
    return lines


def _sr_lines(config, name):
    domain = config.get('domain') or {}
    scales = domain.get('input_pixel_scale_arcsec') or ('?', '?')
    psf = domain.get('lr_psf_fwhm_lr_pixels') or ('?', '?')
    sources = (config.get('data') or {}).get('sources') or {}
    filters = sorted({m.upper() for f in sources.get('hst_files', ())
                      for m in _FILTER.findall(str(f))})
    band = ('optical / near-IR, any band' + (f' (trained on HST {", ".join(filters)} images)'
                                             if filters else ''))
    lines = [('kind', f'super-resolution x{config.get("scale", "?")}'),
             ('band', band),
             ('pixels', f'inputs at {scales[0]}-{scales[1]}"/px with a PSF FWHM of '
                        f'{psf[0]}-{psf[1]} input px; output {config.get("scale", "?")}x finer'),
             ('trained on', 'real HST images (and Hubble Deep Field, simulated lenses, stars, '
                            'sky) degraded to such inputs (astrolens.datasets.degrade)'
                            if sources else str((config.get('data') or {}).get('source', '?'))),
             ('use', str(domain.get('description', '?')))]
    metrics = config.get('metrics') or {}
    sets = [key for key, value in metrics.items()
            if isinstance(value, dict) and 'mean_dpsnr' in value and value.get('model') == name]
    # the sets nearest each model's use first: real pairs, lenses, real HST
    sets.sort(key=lambda key: (_PREFERRED_SETS.index(key) if key in _PREFERRED_SETS
                               else len(_PREFERRED_SETS)))
    for key in sets[:2]:
        value = metrics[key]
        data = re.split(r' \(|[:;,]', str(value.get('data', key)))[0]
        lines.append(('metrics', f'PSNR {value["mean_dpsnr"]:+.2f} dB over bicubic on {data} '
                                 f'(n={value.get("n", "?")}, set {key!r})'))
    # the test sets of `astrolens train sr --preset` (model and bicubic on the same pairs)
    for key, value in metrics.items():
        if not sets and isinstance(value, dict) and 'psnr' in (value.get('model') or {}) \
                and 'psnr' in (value.get('bicubic') or {}):
            gain = value['model']['psnr'] - value['bicubic']['psnr']
            lines.append(('metrics', f'PSNR {gain:+.2f} dB over bicubic, SSIM '
                                     f'{value["model"].get("ssim", float("nan")):.3f} on '
                                     f'{value.get("n_images", "?")} fresh {key} pairs'))
    return lines


def describe_model(name):
    """``[(label, text), ...]`` describing the shipped model ``name``."""
    from astrolens.batch._models import model_kind
    from astrolens.models.pretrained import read_config

    config = read_config(name)
    kind = model_kind(config)
    if kind == 'classifier':
        return _classifier_lines(config)
    if kind == 'sr':
        return _sr_lines(config, name)
    return [('kind', 'unknown')]


def _run_models(args):
    from astrolens.batch._models import model_kind, shipped_models
    from astrolens.models.pretrained import read_config

    names = shipped_models({'all': None, 'classifier': 'classifier', 'sr': 'sr'}[args.kind])
    if args.name is not None:
        if args.name not in names:
            msg = f'no shipped model named {args.name!r}; shipped: {", ".join(names)}'
            raise ValueError(msg)
        names = [args.name]
    for k, name in enumerate(names):
        if args.names_only:
            print(name)
            continue
        print(('\n' if k else '') + name)
        for label, text in describe_model(name):
            print(f'  {label + ":":<12}{text}')
    if not args.names_only and args.name is None:
        kinds = {model_kind(read_config(n)) for n in names}
        used = ' and '.join(f for k, f in (('classifier', 'astrolens classify --model NAME'),
                                             ('sr', 'astrolens enhance --model NAME'))
                            if k in kinds)
        print(f'\nuse them with {used}')
    return 0


def add_commands(subparsers):
    """Register ``models``."""
    models = subparsers.add_parser(
        'models', help='list the shipped models and what each is for',
        description='List every model shipped with astrolens: its kind (classifier or '
                    'super-resolution), band, pixel scale, training data, intended use and '
                    'headline metrics, read from its JSON configuration.')
    models.add_argument('name', nargs='?', default=None,
                        help='describe only this model (default: all of them)')
    models.add_argument('--kind', choices=('all', 'classifier', 'sr'), default='all',
                        help="only classifiers or only super-resolution ('sr') models")
    models.add_argument('--names-only', action='store_true',
                        help='print the names alone, one a line')
    models.set_defaults(func=_run_models)
