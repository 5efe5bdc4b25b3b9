"""Foreground maps of unaugmented images, the paper's image filter, and their quality.

The paper weights the reconstruction loss by how confident a salient-object
detector (rembg's ``u2netp``) is that a pixel belongs to the object, and drops
the pretraining images in which it finds (almost) nothing. The package, in
dependency order:

- :mod:`~focusmim.data.foreground.cache`: cache file names (unchanged since
  ``focusmim.segment``, so cached maps stay valid) and the resumable chunk store;
- :mod:`~focusmim.data.foreground.u2netp`: u2netp as a torch module (weights read from
  rembg's ONNX file) and its batched predictor with rembg's pre- and post-processing;
- :mod:`~focusmim.data.foreground.maps`: u2netp's weights, session and batched predictor,
  the backend rule (torch on CUDA, onnxruntime on a CPU) and :func:`foreground_maps`
  (computed once, cached);
- :mod:`~focusmim.data.foreground.filter`: the paper's filter rule (:func:`keep_mask`);
- :mod:`~focusmim.data.foreground.quality`: IoU against ground truth;
- :mod:`~focusmim.data.foreground.load`: maps attached to an ImageSet; importing the
  package registers ``foreground='rembg'`` with :func:`focusmim.data.load_for_config`.

Example (a stand-in predictor instead of u2netp, so it runs anywhere):

    >>> import torch
    >>> from focusmim.data.foreground import foreground_maps, keep_mask, filter_report
    >>> images = torch.zeros(3, 3, 96, 96, dtype=torch.uint8)
    >>> images[0, :, 40:60, 40:60] = 255          # one image with a bright square
    >>> fake = lambda x: (x[:, :1] > 128).to(torch.uint8) * 255
    >>> fg = foreground_maps(images, predict=fake, progress=False)
    >>> fg.shape, fg.dtype
    (torch.Size([3, 1, 96, 96]), torch.uint8)
    >>> keep_mask(fg).tolist()                    # 400 confident pixels > 100
    [True, False, False]
    >>> filter_report(fg)["dropped"]
    2
"""
from __future__ import annotations

from .cache import MODEL_NAME, foreground_cache_path
from .filter import PAPER_MIN_PIXELS, PAPER_SIZE, filter_report, keep_mask, min_pixels_for
from .load import attach_foreground, split_with_maps
from .maps import (WEIGHTS_MD5, U2netpPredictor, backend_for, batched_model, default_predictor, foreground_maps, session,
                   weights_path)
from .quality import IoUResult, iou, segmentation_quality
from .u2netp import TorchU2netp, U2Netp, load_u2netp

__all__ = [
    "MODEL_NAME", "WEIGHTS_MD5", "PAPER_MIN_PIXELS", "PAPER_SIZE", "weights_path", "session", "batched_model",
    "U2netpPredictor", "backend_for", "default_predictor", "TorchU2netp", "U2Netp", "load_u2netp",
    "foreground_maps", "keep_mask", "filter_report", "min_pixels_for", "iou", "IoUResult", "segmentation_quality",
    "attach_foreground", "split_with_maps", "foreground_cache_path",
]
