# Licensed under a 3-clause BSD style license - see LICENSE
"""Sphinx configuration of the astrolens documentation."""

import os
import sys
from datetime import date

import matplotlib

matplotlib.use('Agg')
sys.path.insert(0, os.path.abspath('..'))

import astrolens  # noqa: E402

project = 'astrolens'
author = 'The astrolens developers'
copyright = f'{date.today().year}, {author}'
version = release = astrolens.__version__

extensions = [
    'sphinx.ext.autodoc',
    'sphinx.ext.mathjax',
    'sphinx.ext.viewcode',
    'numpydoc',
    'sphinx_automodapi.automodapi',
    'sphinx_automodapi.smart_resolver',
    'sphinx_gallery.gen_gallery',
]

# The build machines have no network: no intersphinx inventories.
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
automodapi_toctreedirnm = 'api'
automodsumm_inherited_members = False
autosummary_generate = True
default_role = 'obj'
nitpicky = False

def _gallery_rc(gallery_conf, fname):
    """Matplotlib defaults for the gallery: text that stays legible at page width.

    The pages show a figure about 9 inches wide at most (870 CSS pixels); an
    example drawn 10-11 inches wide is scaled down by up to a fifth, so the
    default text, tick labels included, is 13 points (about 10.5 points as shown).
    """
    import matplotlib.pyplot as plt

    plt.rcdefaults()
    plt.rcParams.update({'font.size': 13, 'axes.titlesize': 'medium',
                         'axes.labelsize': 'medium', 'legend.fontsize': 'small',
                         'xtick.labelsize': 'medium', 'ytick.labelsize': 'medium'})


sphinx_gallery_conf = {
    'examples_dirs': '../examples',
    'gallery_dirs': 'auto_examples',
    'filename_pattern': r'plot_',
    'download_all_examples': False,
    'remove_config_comments': True,
    'abort_on_example_error': True,
    # examples are numbered in reading order
    'within_subsection_order': 'FileNameSortKey',
    'reset_modules': ('matplotlib', _gallery_rc),
}

templates_path = []
exclude_patterns = ['_build', '**.ipynb_checkpoints', 'figures']
html_theme = 'pydata_sphinx_theme'
html_title = f'astrolens {release}'
# the figures that open the user-guide pages (docs/figures/make_figures.py) and the CSS
html_static_path = ['_static']
html_css_files = ['astrolens.css']
# no left sidebar: the pages are short enough for the right-hand table of contents alone,
# and their figures and tables get the width
html_sidebars = {'**': []}
html_theme_options = {
    # the main pages stay in the top bar; the rest goes under "More"
    'header_links_before_dropdown': 6,
    'show_toc_level': 2,
    # the search box beside the theme switch, so the page links get the whole bar
    'navbar_persistent': [],
    'navbar_end': ['search-button', 'theme-switcher'],
    'logo': {'text': 'astrolens'},
    'secondary_sidebar_items': ['page-toc'],
}
suppress_warnings = ['config.cache']
