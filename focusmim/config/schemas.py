"""The declared parameters of every masker, model and objective: the registries.

This module imports nothing of the package but :mod:`focusmim.config.registry`, so a
:class:`~focusmim.config.Config` is validated from its values and these schemas
alone, before any model, masker, checkpoint or image is touched. The modules that
implement a name register their factory into the same registry
(``masking.REGISTRY is schemas.MASKERS``), and registration fails when the
factory's keyword parameters differ from the ones declared here.

    >>> from focusmim.config.schemas import MASKERS, OBJECTIVES
    >>> sorted(MASKERS.params("masked_periphery"))
    ['center', 'ratio']
    >>> OBJECTIVES.check_params("adios_mim", {"n_mask": 4}, "objective_params of objective 'adios_mim'")
    Traceback (most recent call last):
    ...
    ValueError: objective_params of objective 'adios_mim' has unknown key(s) n_mask; allowed: alpha, loss_weight, mask_lr, mask_lr_ratio, mask_width, n_masks, single
"""
from __future__ import annotations

from focusmim.config.registry import Param, Registry

__all__ = ["DATASETS", "MASKERS", "MODELS", "OBJECTIVES", "BACKBONES", "MASK_NETWORKS", "N_PATCHES", "PLACEMENTS",
           "FOVEAL_BLENDS", "FOVEAL_VERSION", "LOSS_WEIGHTS", "OBJECT_DISC_VERSION"]

DATASETS = Registry("dataset")
MASKERS = Registry("masker")
MODELS = Registry("model")
OBJECTIVES = Registry("objective", match_signature=False)  # built as (cfg, model); params in cfg.objective_params

GRID = 12  # masks use a 12x12 patch grid relative to the image
N_PATCHES = GRID * GRID
PLACEMENTS = ("random", "object")
# the foveal filter's variants, default first: the reference code's foveation, or the earlier consistent blend
FOVEAL_BLENDS = ("reference", "consistent")
# version of the default foveal filter, part of a foveal run's key (``Config.key``) from version 2 on:
# 1 = the consistent blend, the only filter before ``blend`` existed; 2 = the reference's foveation
FOVEAL_VERSION = 2
# where covert attention's second disc goes with placement='object', part of such a run's key from version 2
# on: 1 = the foreground map's first maximal pixel (the object's top edge once rembg's maps saturate);
# 2 = the confidence-weighted centroid of the pixels within 1 % of the maximum
OBJECT_DISC_VERSION = 2
# adios_mim: what weights the reconstruction error. 'mask': the soft mask (what is hidden is also where the
# error counts; the mask network gets gradient through both); 'detached': the same weight, but the mask
# network's gradient comes only through what it hides; 'image': every pixel counts equally.
LOSS_WEIGHTS = ("mask", "detached", "image")

# Models that map images to (recon, z) and can be pretrained as ``cfg.model``;
# ``adios_unet`` is a mask network, built by the ADIOS objectives themselves.
BACKBONES = ("autoencoder", "convnext_fcmae")
MASK_NETWORKS = ("adios_unet",)

# ------------------------------------------------------------------ maskers
_RATIO = dict(low=1 / N_PATCHES, high=1, high_open=True)  # at least one of the 144 patches hidden
_CENTER = Param("pair", None, low=0, high=1, none=True, doc="fixation (cy, cx) in [0, 1]; None: the centre")
_SIGMA = Param("float", 4.0, low=0, low_open=True, doc="blur std in pixels at 96 px")
_PATCH = dict(fixed=Param("bool", False), seed=Param("int", 0, low=0))


def _ratio(default: float) -> Param:
    return Param("float", default, low=0, high=1, low_open=True, high_open=True)


def _grid_rule(p: dict) -> None:
    keep, grid = p.get("keep", 3), p.get("grid", 7)
    if keep >= grid or (grid - keep) % 2:
        raise ValueError(f"keep={keep} with grid={grid} is not allowed; allowed: keep < grid with grid - keep "
                         f"even (a centred block, e.g. keep=3, grid=7)")


def _learned_rule(p: dict) -> None:
    if (p.get("net") is None) == (p.get("run_key") is None):
        raise ValueError("give exactly one of net= (a mask network) or run_key= (a stored ADIOS run); "
                         "allowed: net=<nn.Module> or run_key=<str>")


MASKERS.declare("none", {})
MASKERS.declare("random_patches", dict(ratio=Param("float", 0.6, **_RATIO), **_PATCH))
MASKERS.declare("blurry_patches", dict(ratio=Param("float", 0.6, **_RATIO), sigma=_SIGMA, **_PATCH))
MASKERS.declare("masked_periphery", dict(ratio=_ratio(0.8), center=_CENTER))
MASKERS.declare("blurry_periphery", dict(ratio=_ratio(0.8), sigma=_SIGMA, center=_CENTER))
MASKERS.declare("central", dict(ratio=_ratio(0.25), center=_CENTER))
MASKERS.declare("covert_attention", dict(ratio=_ratio(0.8), placement=Param("choice", "random", choices=PLACEMENTS),
                                         center=_CENTER))
MASKERS.declare("foveal", dict(
    center=_CENTER,
    alpha=Param("float", 2.5, low=0, low_open=True),
    pixels_per_degree=Param("float", 3.5, low=0, low_open=True),
    levels=Param("int", 6, low=2, high=10),
    pyramid_sigma=Param("float", 0.248, low=0, low_open=True),
    blend=Param("choice", FOVEAL_BLENDS[0], choices=FOVEAL_BLENDS,
                doc="'reference': as the paper's code; 'consistent': weights in [0, 1], milder near the fovea"),
))
MASKERS.declare("grid_periphery", dict(keep=Param("int", 3, low=1), grid=Param("int", 7, low=1)), rule=_grid_rule)
MASKERS.declare("learned", dict(
    net=Param("any", None, none=True, doc="a mask network (not storable in a Config: use run_key)"),
    run_key=Param("str", None, none=True, doc="a stored ADIOS run whose mask network is used"),
    store_root=Param("str", None, none=True),
    which=Param("any", "last", doc="'last' or a snapshot epoch"),
    binarize=Param("bool", True),
), rule=_learned_rule)

# ------------------------------------------------------------------ models
_WIDTH = Param("float", 1.0, low=0, high=4, low_open=True)
MODELS.declare("autoencoder", dict(width=_WIDTH))
MODELS.declare("convnext_fcmae", dict(
    width=_WIDTH,
    stem_stride=Param("int", 4, low=1),
    grid=Param("int", None, low=1, none=True),
    decoder_dim=Param("int", 512, low=1),
    image_size=Param("int", None, low=8, none=True),
))
MODELS.declare("adios_unet", dict(
    n_masks=Param("int", 6, low=2),
    image_size=Param("int", 96, low=8),
    num_blocks=Param("int", None, low=1, none=True),
    filter_start=Param("int", 32, low=8),
    mlp_hidden=Param("int", 128, low=1),
    width=Param("float", None, low=0, high=4, low_open=True, none=True),
))

# ------------------------------------------------------------------ objectives
# ``cfg.objective_params`` of each objective (``mim`` takes none)
_MASKS = dict(
    n_masks=Param("int", 6, low=2, doc="masks N of the mask network"),
    alpha=Param("float", None, low=0, doc="weight of the sparsity barrier (default per objective)"),
    mask_lr_ratio=Param("float", 0.2, low=0, low_open=True, doc="mask-network lr / encoder lr"),
    mask_lr=Param("float", None, low=0, low_open=True, none=True, doc="mask-network lr (overrides the ratio)"),
    single=Param("bool", False, doc="ADIOS-s: one sampled mask per image"),
    mask_width=Param("float", None, low=0, high=4, low_open=True, none=True, doc="mask UNet width (None: cfg.width)"),
)
_HEAD = dict(
    temperature=Param("float", 0.2, low=0, low_open=True),
    proj_hidden=Param("int", 512, low=1),
    proj_dim=Param("int", 128, low=1),
)
OBJECTIVES.declare("mim", {})
OBJECTIVES.declare("adios_mim", dict(_MASKS, loss_weight=Param(
    "choice", "mask", choices=LOSS_WEIGHTS, doc="what weights the reconstruction error (see LOSS_WEIGHTS)")))
OBJECTIVES.declare("adios_simclr", {**_MASKS, **_HEAD})
OBJECTIVES.declare("simclr", dict(_HEAD))
