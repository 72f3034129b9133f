# Licensed under a 3-clause BSD style license - see LICENSE
"""Registration of folders of LR/HR FITS pairs, with an ECSV report."""

import warnings
from pathlib import Path

import numpy as np
from astropy.table import Table
from tqdm.auto import tqdm

from astrolens.io import write_fits
from astrolens.preprocessing._registration._high_level import register_pair
from astrolens.utils import atomic_path, check_not_inputs, check_writable

__all__ = ['register_directory']

REPORT_NAME = 'registration.ecsv'


def _report_table(rows):
    names = ('name', 'lr_file', 'hr_file', 'status', 'factor', 'shift_y', 'shift_x',
             'shift_error_y', 'shift_error_x', 'shift_y_arcsec', 'shift_x_arcsec',
             'dra_arcsec', 'ddec_arcsec', 'flux_ratio', 'scale_ratio', 'scale_ratio_error',
             'consistency', 'message')
    columns = {name: [row[name] for row in rows] for name in names}
    table = Table(columns, names=names,
                  dtype=[str, str, str, str, int] + [float] * 12 + [str])
    for name in ('shift_y', 'shift_x', 'shift_error_y', 'shift_error_x'):
        table[name].unit = 'pix'
        table[name].description = 'LR pixels'
    for name in ('shift_y_arcsec', 'shift_x_arcsec', 'dra_arcsec', 'ddec_arcsec'):
        table[name].unit = 'arcsec'
    table.meta['description'] = (
        'astrolens register_directory: shift is the offset applied to the HR content '
        '(LR pixels, y x) to align it with the LR; dra/ddec are HR-WCS minus LR-WCS '
        'coordinates; scale_ratio is LR / HR pixel scale (fitted with fit_scale, its '
        'error NaN otherwise); status is ok, failed or unpaired')
    return table


def _empty_row(name, lr_file, hr_file, status, message):
    row = dict.fromkeys(('shift_y', 'shift_x', 'shift_error_y', 'shift_error_x',
                         'shift_y_arcsec', 'shift_x_arcsec', 'dra_arcsec', 'ddec_arcsec',
                         'flux_ratio', 'scale_ratio', 'scale_ratio_error', 'consistency'),
                        np.nan)
    row.update(name=name, lr_file=lr_file, hr_file=hr_file, status=status, factor=0,
               message=message)
    return row


def register_directory(lr_dir, hr_dir, out_dir, *, pattern='*.fits', factor=None,
                       lr_psf=None, hr_psf=None, method='adaptive', upsample_factor=100,
                       max_shift=None, fit_scale=False, scale_ratio=None, fit_rotation=False,
                       overwrite=False, progress=True):
    """Register every LR/HR pair of two folders, pairing files by name.

    Each pair is registered with `register_pair`; the LR goes to
    ``out_dir/LR/<name>`` and the registered HR to ``out_dir/HR/<name>``
    (the DeepLense SR layout), written atomically. ``out_dir/registration.ecsv``
    (also atomic) has one row per name: the shift and its error in LR pixels
    and arcsec, the flux ratio, the consistency (reduced chi-square), a
    status (``ok``, ``failed``, ``unpaired``) and the error message. A pair
    that fails is reported and skipped.

    Parameters
    ----------
    lr_dir, hr_dir : str or `~pathlib.Path`
        Folders of LR and HR FITS files; files with the same name form a pair.
    out_dir : str or `~pathlib.Path`
        Created if needed.
    pattern : str, optional
        Glob pattern of the files to take in both folders.
    factor, lr_psf, hr_psf, method, upsample_factor, max_shift
        Passed to `register_pair` (PSFs as arrays or FWHMs, shared by all
        pairs; by default each file's ``PSF`` extension).
    fit_scale, scale_ratio, fit_rotation
        Passed to `register_pair`: the scale ratio is fitted pair by pair
        and reported in the ``scale_ratio`` column.
    overwrite : bool, optional
        Replace existing outputs. Default: a pair whose outputs exist fails.
        Inputs are never replaced: an ``out_dir`` whose ``LR``/``HR``
        folders hold the inputs is refused with a `ValueError`.
    progress : bool, optional
        Show a tqdm progress bar.

    Returns
    -------
    report : `~astropy.table.Table`
        The table written to ``registration.ecsv``.
    """
    lr_dir, hr_dir, out_dir = Path(lr_dir), Path(hr_dir), Path(out_dir)
    for folder, name in ((lr_dir, 'lr_dir'), (hr_dir, 'hr_dir')):
        if not folder.is_dir():
            msg = f'{name} {folder} is not a folder'
            raise FileNotFoundError(msg)
    report_path = check_writable(out_dir / REPORT_NAME, overwrite=overwrite)
    lr_files = {p.name: p for p in sorted(lr_dir.glob(pattern)) if p.is_file()}
    hr_files = {p.name: p for p in sorted(hr_dir.glob(pattern)) if p.is_file()}
    names = sorted(set(lr_files) | set(hr_files))
    if not names:
        msg = f'no file matches {pattern!r} in {lr_dir} or {hr_dir}'
        raise FileNotFoundError(msg)
    # inputs are never written over, even with overwrite=True (out_dir = lr_dir/.. would)
    check_not_inputs([out_dir / sub / name for name in names for sub in ('LR', 'HR')]
                     + [report_path], [*lr_files.values(), *hr_files.values()],
                     option='overwrite=True')
    rows = []
    for name in tqdm(names, desc='register', unit='pair', disable=not progress):
        lr_path, hr_path = lr_files.get(name), hr_files.get(name)
        if lr_path is None or hr_path is None:
            missing = 'LR' if lr_path is None else 'HR'
            rows.append(_empty_row(name, str(lr_path or ''), str(hr_path or ''), 'unpaired',
                                   f'no {missing} file named {name}'))
            continue
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter('always')
                pair = register_pair(lr_path, hr_path, factor=factor, lr_psf=lr_psf,
                                     hr_psf=hr_psf, method=method,
                                     upsample_factor=upsample_factor, max_shift=max_shift,
                                     fit_scale=fit_scale, scale_ratio=scale_ratio,
                                     fit_rotation=fit_rotation)
                chi2 = pair.consistency()
            for path in (out_dir / 'LR' / name, out_dir / 'HR' / name):
                check_writable(path, overwrite=overwrite)
            write_fits(pair.lr, out_dir / 'LR' / name, overwrite=overwrite)
            write_fits(pair.hr, out_dir / 'HR' / name, overwrite=overwrite)
        except Exception as exc:  # one bad pair must not stop the batch
            rows.append(_empty_row(name, str(lr_path), str(hr_path), 'failed',
                                   f'{type(exc).__name__}: {exc}'))
            continue
        message = '; '.join(sorted({str(w.message) for w in caught}))
        rows.append({'name': name, 'lr_file': str(lr_path), 'hr_file': str(hr_path),
                     'status': 'ok', 'factor': pair.factor,
                     'shift_y': pair.shift[0], 'shift_x': pair.shift[1],
                     'shift_error_y': pair.shift_error[0], 'shift_error_x': pair.shift_error[1],
                     'shift_y_arcsec': pair.shift_arcsec[0],
                     'shift_x_arcsec': pair.shift_arcsec[1],
                     'dra_arcsec': pair.sky_offset[0], 'ddec_arcsec': pair.sky_offset[1],
                     'flux_ratio': pair.flux_ratio, 'scale_ratio': pair.scale_ratio,
                     'scale_ratio_error': pair.scale_ratio_error, 'consistency': chi2,
                     'message': message})
    table = _report_table(rows)
    with atomic_path(report_path, overwrite=overwrite) as tmp:
        table.write(tmp, format='ascii.ecsv', overwrite=True)
    return table
