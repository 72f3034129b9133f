# Licensed under a 3-clause BSD style license - see LICENSE
"""Running an upscaling function over a large image in overlapping tiles.

Each output pixel is taken from the tile in which it lies at least
``overlap`` input pixels away from any tile edge that is not an image edge,
so with ``overlap`` at least the receptive field of the network the tiled
result equals the untiled one (up to floating-point summation order). All
tiles have the same size, so they are batched; memory is bounded by the tile
size and batch size, whatever the image size (plus the output itself).
"""

import numpy as np

__all__ = ['tile_windows', 'tiled_apply']


def _axis_windows(n, tile, overlap):
    """(window_start, core_start, core_stop) along one axis of length ``n``.

    The fewest tiles of side at most ``tile`` that cover the axis, shrunk to
    the same smaller side when that suffices, so the halos waste as little
    work as possible.
    """
    if n <= tile:
        return [(0, 0, n)], n
    count = -(-(n - 2 * overlap) // (tile - 2 * overlap))
    side = -(-(n - 2 * overlap) // count) + 2 * overlap
    windows = []
    core = side - 2 * overlap
    for k in range(count):
        core_start = 0 if k == 0 else k * core + overlap
        core_stop = n if k == count - 1 else (k + 1) * core + overlap
        windows.append((min(k * core, n - side), core_start, core_stop))
    return windows, side


def tile_windows(shape, *, tile, overlap):
    """Tiles covering an image of ``shape`` with a margin of ``overlap``.

    Parameters
    ----------
    shape : tuple of int
        ``(H, W)``.
    tile : int
        Largest side of the tiles, in input pixels; the image is not tiled
        along an axis shorter than ``tile``. Along longer axes the fewest
        tiles that fit are used, all of one size, shrunk as far as they can.
    overlap : int
        Margin kept on every side of the used core of a tile, except at the
        image edges.

    Returns
    -------
    windows : list of tuple
        ``(window_slices, core_slices)``: where each tile is read from the
        input, and which part of the input its used core covers.
    """
    tile, overlap = int(tile), int(overlap)
    if overlap < 0:
        msg = f'overlap must be >= 0, got {overlap}'
        raise ValueError(msg)
    if tile <= 2 * overlap:
        msg = (f'tile ({tile}) must be larger than twice the overlap ({overlap}); '
               f'use tile >= {2 * overlap + 16} or a smaller overlap')
        raise ValueError(msg)
    out = []
    ys, th = _axis_windows(shape[0], tile, overlap)
    xs, tw = _axis_windows(shape[1], tile, overlap)
    for wy, cy0, cy1 in ys:
        for wx, cx0, cx1 in xs:
            out.append(((slice(wy, wy + th), slice(wx, wx + tw)),
                        (slice(cy0, cy1), slice(cx0, cx1))))
    return out


def tiled_apply(func, image, *, scale, tile, overlap, batch_size=4, channels=1,
                progress=False, desc='tiles'):
    """Apply an upscaling function to ``image`` tile by tile.

    Parameters
    ----------
    func : callable
        Maps a float32 array ``(B, th, tw)`` of tiles to ``(B, channels,
        scale*th, scale*tw)``.
    image : `~numpy.ndarray`
        ``(H, W)``, finite.
    scale : int
    tile, overlap : int
        See `tile_windows`.
    batch_size : int, optional
        Tiles per call of ``func``.
    channels : int, optional
        Number of output planes ``func`` returns.
    progress : bool, optional
        Show a tqdm progress bar.
    desc : str, optional
        Label of the progress bar.

    Returns
    -------
    out : `~numpy.ndarray`
        ``(channels, scale*H, scale*W)`` float32.
    """
    if batch_size < 1:
        msg = f'batch_size must be >= 1, got {batch_size}'
        raise ValueError(msg)
    image = np.asarray(image, dtype=np.float32)
    windows = tile_windows(image.shape, tile=tile, overlap=overlap)
    s = int(scale)
    out = np.empty((channels, s * image.shape[0], s * image.shape[1]), dtype=np.float32)
    bar = None
    if progress and len(windows) > 1:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(windows), desc=desc, unit='tile', leave=False)
    try:
        for first in range(0, len(windows), batch_size):
            chunk = windows[first:first + batch_size]
            batch = np.stack([image[w] for w, _ in chunk])
            result = np.asarray(func(batch))
            for (wslice, core), res in zip(chunk, result, strict=True):
                oy = core[0].start - wslice[0].start
                ox = core[1].start - wslice[1].start
                ny = core[0].stop - core[0].start
                nx = core[1].stop - core[1].start
                out[:, s * core[0].start:s * core[0].stop, s * core[1].start:s * core[1].stop] = \
                    res[:, s * oy:s * (oy + ny), s * ox:s * (ox + nx)]
            if bar is not None:
                bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
    return out
