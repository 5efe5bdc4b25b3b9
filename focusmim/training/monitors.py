"""What a training run watches besides its loss: the held-out decorrelation, the kNN monitor, TensorBoard
grids, and when each is due (and when a checkpoint is).

Example:
    >>> from focusmim.config import make_config
    >>> cfg = make_config("smoke", epochs=10, knn_every=3)
    >>> knn_due(3, cfg), knn_due(2, cfg)
    (True, False)
"""
from __future__ import annotations
import importlib.util
import time
import torch
from focusmim.training import adios, distributed  # noqa: F401
from focusmim import masking
from focusmim.config import Config, ConfigError
from focusmim.data import load_for_config
from focusmim.evaluation.metrics import decorrelation
from focusmim.evaluation.probe import features, knn_accuracy
from focusmim.store.runs import Run



HELD_OUT = 512  # images of the test split used for the per-epoch decorrelation metric


KNN_K = 20  # the kNN monitor's neighbours (cosine similarity, as focusmim.evaluation.probe.knn_accuracy)


TB_IMAGES = 8  # held-out images in the TensorBoard grid (masked input / reconstruction / target)


TB_GRIDS = 10  # about this many image grids per run (plus the last epoch's)


CHECKPOINT_EVERY_S = 30.0  # on a GPU, where an epoch can take under a second: checkpoint at most this often


def _checkpoint_due(device: torch.device, epoch: int, cfg: Config, last_write: float) -> bool:
    """Whether to write ``last.pt`` (and ``best.pt``, metrics) after ``epoch``: on the CPU after every
    epoch (an epoch takes minutes there; a resume repeats none), on a GPU after the last epoch, a
    snapshot epoch, or when :data:`CHECKPOINT_EVERY_S` have passed since the last write (writing 30 MB
    of checkpoints every sub-second epoch would cost more than the epoch; a resume repeats at most that
    much training).

        >>> from focusmim.config import make_config
        >>> cfg = make_config("smoke", epochs=4, snapshot_epochs=(2,))
        >>> [_checkpoint_due(torch.device("cuda"), e, cfg, time.perf_counter()) for e in (1, 2, 3, 4)]
        [False, True, False, True]
        >>> _checkpoint_due(torch.device("cpu"), 1, cfg, time.perf_counter())
        True
    """
    if device.type == "cpu" or epoch >= cfg.epochs or epoch in cfg.snapshot_epochs:
        return True
    return time.perf_counter() - last_write >= CHECKPOINT_EVERY_S


def knn_due(epoch: int, cfg: Config) -> bool:
    """Whether the kNN monitor runs after ``epoch`` (1-based): every ``cfg.knn_every`` epochs and after the last.

        >>> from focusmim.config import make_config
        >>> [e for e in range(1, 8) if knn_due(e, make_config("smoke", epochs=7, knn_every=3))]
        [3, 6, 7]
    """
    return bool(cfg.knn_every) and (epoch % cfg.knn_every == 0 or epoch == cfg.epochs)


def image_due(epoch: int, cfg: Config) -> bool:
    """Whether TensorBoard gets an image grid after ``epoch``: the first, about every tenth
    (:data:`TB_GRIDS` in all) and the last.

        >>> from focusmim.config import make_config
        >>> [e for e in range(1, 51) if image_due(e, make_config("smoke", epochs=50))]
        [1, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50]
    """
    return epoch in (1, cfg.epochs) or epoch % max(1, cfg.epochs // TB_GRIDS) == 0


def require_tensorboard() -> None:
    """Raise a one-line :class:`ConfigError` unless the ``tensorboard`` package (which
    ``torch.utils.tensorboard`` writes with) is installed; ``Config.tensorboard`` needs it."""
    if importlib.util.find_spec("tensorboard") is None:
        raise ConfigError("tensorboard=True needs the tensorboard package, which is not installed; allowed: "
                          "`pip install tensorboard` (in requirements.txt), or tensorboard=False")


def _tensorboard(run: Run, start: int):
    """A SummaryWriter on ``<run>/tensorboard/``; a resumed run drops the events after its last checkpoint."""
    require_tensorboard()
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(run.dir / "tensorboard"), purge_step=start + 1 if start else None)


@torch.no_grad()
def _log_epoch(writer, cfg: Config, metrics: dict, model: torch.nn.Module, held: torch.Tensor,
               device: torch.device) -> None:
    """The epoch's scalars, and (on :func:`image_due` epochs) a grid of masked input, reconstruction and target
    of the first :data:`TB_IMAGES` held-out test images (rows), masked with a fixed generator."""
    epoch = metrics["epochs_done"]
    for name in ("loss", "lr", "images_per_s", "decorrelation", "epoch_time"):
        writer.add_scalar(f"train/{name}", metrics[name][-1], epoch)
    if metrics.get("knn_epochs") and metrics["knn_epochs"][-1] == epoch:
        writer.add_scalar(f"monitor/knn_accuracy (k={KNN_K})", metrics["knn_accuracy"][-1], epoch)
    if image_due(epoch, cfg):
        x = held[:TB_IMAGES].to(device).float().div(255)
        out = masking.build(cfg.masker, **cfg.masker_kwargs())(
            x, torch.Generator(device=device).manual_seed(0), index=torch.arange(len(x), device=device))
        model.eval()
        recon = model(out.inputs)[0].float()
        model.train()
        rows = [torch.cat(list(t.clamp(0, 1).cpu()), dim=2) for t in (out.inputs, recon, x)]  # each (3, H, n*W)
        writer.add_image("masked input | reconstruction | target", torch.cat(rows, dim=1), epoch)
    writer.flush()


def _knn_sets(cfg: Config) -> tuple:
    """The kNN monitor's labeled train images and test images (uint8, on the CPU) with their labels."""
    plain = cfg.replace(foreground="none")  # as the probe: never filtered, no foreground maps
    train, test = load_for_config(plain, "train"), load_for_config(plain, "test")
    return train.images, train.labels, test.images, test.labels


@torch.no_grad()
def _knn(model: torch.nn.Module, sets: tuple, device: torch.device) -> float:
    """Test accuracy of a cosine kNN (k = :data:`KNN_K`) on the frozen encoder's features."""
    train_x, train_y, test_x, test_y = sets
    model.eval()
    ftr, fte = features(model.encode, train_x, device=device), features(model.encode, test_x, device=device)
    model.train()
    return knn_accuracy(ftr, train_y.to(ftr.device), fte, test_y.to(fte.device), k=KNN_K)


@torch.no_grad()
def _held_out_decorrelation(model: torch.nn.Module, held: torch.Tensor, device: torch.device) -> float:
    model.eval()
    z = features(model.encode, held, device=device).cpu()
    model.train()
    return decorrelation(z)
