# Licensed under a 3-clause BSD style license - see LICENSE
"""Networks and estimators: `LensClassifier` for dark-matter substructure classes,
the shared training loop, safetensors serialisation and the registry of shipped
weights (`astrolens.models.pretrained`).
"""

from astrolens.models._classifier import LensClassifier, prepare_images
from astrolens.models._networks import LensResNet, create_network, register_network
from astrolens.models._training import train

__all__ = ['LensClassifier', 'LensResNet', 'create_network', 'prepare_images',
           'register_network', 'train']
