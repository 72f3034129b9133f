import numpy as np
import pytest
import torch

from astrolens.models._superres import SuperResolver
from astrolens.models.pretrained import available_models, read_config

torch.set_num_threads(1)

SHIPPED = {'deeplense-x2': 2, 'survey-x2': 2, 'hsc-hst-x3': 3}


@pytest.mark.parametrize('name', sorted(SHIPPED))
def test_shipped_model_loads_and_records_how_it_was_made(name):
    assert name in available_models(), f'{name} is missing from the package data'
    config = read_config(name)
    assert config['command'].startswith('astrolens train sr')
    assert {'source', 'seed'} <= set(config['data'])
    assert config['metrics']
    sr = SuperResolver.from_pretrained(name, device='cpu')
    assert sr.scale == SHIPPED[name] and sr.name_ == name
    image = np.random.default_rng(0).normal(1.0, 0.1, (20, 24))
    out = sr.enhance(image, progress=False)
    s = SHIPPED[name]
    assert out.data.shape == (20 * s, 24 * s)
    assert out.data.sum() == pytest.approx(image.sum(), rel=1e-3)
