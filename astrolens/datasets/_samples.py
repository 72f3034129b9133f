# Licensed under a 3-clause BSD style license - see LICENSE
"""Real sample images shipped inside the package.

A few small real FITS files (HSC and HST, see ``samples/README.rst`` and
``samples/LICENSES`` for their origin and licences) so that examples, the
documentation and first tries work from the installed package alone, without
a download or the ``shared/real`` folder of a development checkout.
"""

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

__all__ = ['list_samples', 'sample_path']


@dataclass(frozen=True)
class _Sample:
    filename: str
    description: str


# name -> file in astrolens/datasets/samples and a one-line description; the order is the listing's
_SAMPLES = {
    'hsc-cosmos': _Sample(
        'Cut_HSC.fits.gz',
        'Subaru HSC cube g,r,i,z,y x 50x50 px, 0.168"/px, COSMOS, TAN WCS; MIT (scarlet)'),
    'hst-cosmos': _Sample(
        'Cut_HST.fits',
        'HST ACS/WFC F814W 250x250 px, 0.03"/px, same COSMOS field, TAN WCS; MIT (scarlet)'),
    'hsc-cosmos-psf': _Sample(
        'PSF_HSC.fits',
        'HSC PSFs of hsc-cosmos, 5 bands x 31x31 px, 0.168"/px, no WCS; MIT (scarlet)'),
    'hst-cosmos-psf': _Sample(
        'PSF_HST.fits.gz',
        'HST F814W PSF of hst-cosmos, 179x179 px, 0.03"/px, no WCS; MIT (scarlet)'),
    'hst-lens': _Sample(
        'dolphin_lens_system1_F390W.fits',
        'HST WFC3/UVIS F390W strong lens 120x120 px, 0.04"/px (PIXSCALE), no sky WCS; '
        'BSD-3-Clause (dolphin)'),
    'hst-drizzled': _Sample(
        'rbh_rbh1_acs_f606w_f814w.fits',
        "HST ACS/WFC drizzled F606W+F814W SCI/WHT 400x400 px, 0.05\"/px, TAN WCS "
        "(hdu='F814W_SCI'); BSD-3-Clause (rbh-search)"),
}


def _unknown(name):
    msg = f'unknown sample {name!r}; the samples are: {", ".join(_SAMPLES)}'
    return ValueError(msg)


def sample_path(name):
    """Path of a real sample image shipped with astrolens.

    Parameters
    ----------
    name : str
        One of the names `list_samples` gives: ``'hsc-cosmos'`` (HSC g,r,i,z,y
        cube), ``'hst-cosmos'`` (HST F814W of the same field),
        ``'hsc-cosmos-psf'``, ``'hst-cosmos-psf'`` (their PSFs), ``'hst-lens'``
        (an HST strong lens, no sky WCS) or ``'hst-drizzled'`` (an HST drizzled
        image with SCI and WHT extensions in two bands).

    Returns
    -------
    path : `~pathlib.Path`
        The installed FITS file (``.fits`` or gzipped ``.fits.gz``), ready for
        `astrolens.io.read_fits` or `astropy.io.fits.open`. Treat it as read-only.

    Raises
    ------
    ValueError
        If ``name`` is not a sample; the message lists the valid names.
    FileNotFoundError
        If the package was installed without its sample data.

    Examples
    --------
    >>> from astrolens.datasets import sample_path
    >>> from astrolens.io import read_fits
    >>> hst = read_fits(sample_path('hst-cosmos'))
    >>> hst.data.shape
    (250, 250)
    """
    if not isinstance(name, str) or name not in _SAMPLES:
        raise _unknown(name)
    # the package is installed as files (no zip import), so the traversable is a real path
    path = Path(str(resources.files('astrolens.datasets') / 'samples' / _SAMPLES[name].filename))
    if not path.is_file():
        msg = (f'the sample file {path} is missing: this astrolens was installed without its '
               'package data; reinstall it (pip install --force-reinstall astrolens)')
        raise FileNotFoundError(msg)
    return path


def list_samples():
    """The shipped sample images, each with a one-line description.

    Returns
    -------
    samples : dict
        ``{name: description}`` in a fixed order; the description gives the
        instrument and band, size, pixel scale, whether there is a sky WCS, and
        the licence. Origin (repository @ commit, path) and full licence texts
        are in ``astrolens/datasets/samples/README.rst`` and ``LICENSES``.

    Examples
    --------
    >>> from astrolens.datasets import list_samples
    >>> sorted(list_samples())[:2]
    ['hsc-cosmos', 'hsc-cosmos-psf']
    """
    return {name: sample.description for name, sample in _SAMPLES.items()}
