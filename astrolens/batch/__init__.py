# Licensed under a 3-clause BSD style license - see LICENSE
"""Batches of files: `enhance_many` super-resolves and `classify_many` classifies
many FITS cutouts on a `dask.distributed` cluster (a local one by default, an
existing ``Client``, or a scheduler address), loading the model once per worker
process, writing every output atomically, skipping finished files on a rerun
and recording each file's outcome in an ECSV manifest. dask is imported only
when a function runs: install it with ``pip install "astrolens[all]"``. Without
it, or with ``workers=1``, a batch runs without a cluster: in local
`concurrent.futures` processes, or in the calling process.
"""

from astrolens.batch._classify import classify_many
from astrolens.batch._enhance import enhance_many

__all__ = ['classify_many', 'enhance_many']
