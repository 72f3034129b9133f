#!/usr/bin/env python
# Licensed under a 3-clause BSD style license - see LICENSE
"""Shim so that ``python setup.py`` style tools keep working; metadata lives in pyproject.toml."""

from setuptools import setup

setup()
