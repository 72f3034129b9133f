# Licensed under a 3-clause BSD style license - see LICENSE
"""Version of astrolens."""

__version__ = '0.1.0.dev0'
