# Licensed under a 3-clause BSD style license - see LICENSE
"""Running the network of `LensClassifier`: symmetric views, features and logits.

`infer` returns the logits of every test-time view (the 8 rotations and
reflections of the square, or fewer) and the view-averaged features -- the
vector the last linear layer sees, from which ``astrolens.models._outliers``
scores how unlike the training data an image is.
"""

import torch

__all__ = ['infer']


def _classifier_layer(model):
    """The final linear layer of a network (whose input are the features)."""
    if hasattr(model, 'get_classifier'):  # timm
        return model.get_classifier()
    for name in ('fc', 'head', 'classifier'):
        layer = getattr(model, name, None)
        if isinstance(layer, torch.nn.Sequential):
            layer = layer[-1]
        if isinstance(layer, torch.nn.Linear):
            return layer
    msg = f'cannot find the final linear layer of {type(model).__name__}'
    raise TypeError(msg)


def _features_and_logits(model, x):
    """``(features, logits)`` of one batch; features are what the last linear layer sees."""
    if hasattr(model, 'features') and hasattr(model, 'head'):  # D4LensNet
        features = model.features(x)
        return features, model.head(features)
    seen = []
    hook = _classifier_layer(model).register_forward_hook(
        lambda module, args, output: seen.append(args[0]))
    try:
        logits = model(x)
    finally:
        hook.remove()
    return seen[0].flatten(1), logits


def _d4(x, k):
    """Element ``k`` (0-7) of the dihedral group on the last two axes of a tensor."""
    if k >= 4:
        x = torch.flip(x, dims=(-1,))
    return torch.rot90(x, k % 4, dims=(-2, -1))


@torch.no_grad()
def infer(model, x, *, views, device, batch_size=256):
    """Logits ``(V, N, K)`` of the views and view-averaged features ``(N, D)``.

    Parameters
    ----------
    model : `torch.nn.Module`
        Moved to ``device`` in evaluation mode, and back to the CPU after.
    x : `torch.Tensor`
        ``(N, 1, H, W)`` prepared images.
    views : iterable of int
        Elements of the dihedral group (see ``_d4``) to average over.
    device : `torch.device`
    batch_size : int, optional

    Returns
    -------
    logits, features : `~numpy.ndarray`
    """
    # the channels-last layout runs the CPU convolutions faster (deeplense-model-i: 98 -> 132
    # images/s in benchmarks/bench_classifier.py), with the same numbers
    model = model.to(device, memory_format=torch.channels_last).eval()
    logits, features = [], []
    try:
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size].to(device, memory_format=torch.channels_last)
            parts = [_features_and_logits(model, _d4(xb, k)) for k in views]
            features.append(torch.stack([f for f, _ in parts]).float().mean(0).cpu())
            logits.append(torch.stack([z for _, z in parts]).float().cpu())
    finally:
        model.to('cpu', memory_format=torch.contiguous_format)
    return torch.cat(logits, 1).numpy(), torch.cat(features).numpy()
