"""Tests for focusmim.training.objectives: the masked-reconstruction step, optimisers and precision choices."""
from __future__ import annotations

import torch

from focusmim.config import make_config
from focusmim.models import build_for_config as build_model
from focusmim.training.objectives import MIM, OBJECTIVES, Batch, make_optimizer, uses_bf16, uses_channels_last


def _batch(cfg, fg=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(4, 3, cfg.image_size, cfg.image_size, generator=g)
    return Batch(images=x, foreground=fg, index=torch.arange(4), generator=torch.Generator().manual_seed(seed))


def test_mim_step_updates_the_model_and_lowers_the_loss_on_one_batch():
    torch.manual_seed(0)
    cfg = make_config("smoke", masker="random_patches", width=0.25)
    obj = OBJECTIVES.build("mim", cfg=cfg, model=build_model(cfg))
    assert isinstance(obj, MIM) and list(obj.modules()) == ["model"] and list(obj.optimizers()) == ["model"]
    before = [p.detach().clone() for p in obj.model.parameters()]
    losses = [float(obj.step(_batch(cfg))["loss"]) for _ in range(8)]  # same batch, same masks
    assert losses[-1] < losses[0]
    assert any(not torch.equal(a, b) for a, b in zip(before, obj.model.parameters()))


def test_the_foreground_weight_changes_the_loss_only_when_the_config_asks():
    cfg = make_config("smoke", masker="random_patches", width=0.25, foreground="gt")
    fg = torch.zeros(4, 1, cfg.image_size, cfg.image_size)
    fg[..., :4, :4] = 1.0
    losses = {}
    for on in (True, False):
        torch.manual_seed(0)
        c = cfg.replace(foreground_loss=on)
        obj = OBJECTIVES.build("mim", cfg=c, model=build_model(c))
        losses[on] = float(obj.step(_batch(c, fg))["loss"])
    assert losses[True] != losses[False]


def test_make_optimizer_follows_the_config():
    cfg = make_config("smoke", weight_decay=0.01)
    p = [torch.nn.Parameter(torch.zeros(2))]
    adam = make_optimizer(cfg.replace(optimizer="adam"), p)
    adamw = make_optimizer(cfg.replace(optimizer="adamw"), p, lr=0.5)
    assert type(adam) is torch.optim.Adam and adam.defaults["lr"] == cfg.resolved_lr()
    assert type(adamw) is torch.optim.AdamW and adamw.defaults["lr"] == 0.5
    assert adamw.defaults["weight_decay"] == 0.01 and not adamw.defaults.get("fused")


def test_precision_and_layout_choices():
    cfg = make_config("smoke")
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert uses_bf16(cuda, cfg) is cfg.amp and uses_channels_last(cuda, cfg)
    assert not uses_bf16(cpu, cfg.replace(cpu_amp=True, amp=False))
    assert uses_channels_last(cpu, cfg.replace(cpu_amp=True, amp=True))


class _Dispatches(torch.utils._python_dispatch.TorchDispatchMode):
    """Counts the operators one block dispatches."""

    def __init__(self):
        super().__init__()
        self.n = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.n += 1
        return func(*args, **(kwargs or {}))


def test_cpu_optimiser_is_the_per_parameter_loop_bit_for_bit_in_fewer_dispatches():
    """The CPU optimiser takes the multi-tensor path (foreach) and updates the weights exactly as
    torch's per-parameter default did when the stored CPU runs were trained (so they reproduce)."""
    cfg = make_config("smoke", width=0.25)
    for name in ("adam", "adamw"):
        c = cfg.replace(optimizer=name, weight_decay=0.05 if name == "adamw" else 1e-8)
        torch.manual_seed(0)
        model = build_model(c)
        ours = make_optimizer(c, model.parameters())
        assert ours.defaults.get("foreach") is True and not ours.defaults.get("fused")
        twin = build_model(c)
        twin.load_state_dict(model.state_dict())
        loop = type(ours)(twin.parameters(), lr=c.resolved_lr(), weight_decay=c.weight_decay, foreach=False)
        counts = []
        for step in range(4):
            grads = [torch.randn_like(p, generator=torch.Generator().manual_seed(step * 1000 + i))
                     for i, p in enumerate(model.parameters())]
            for opt, m in ((ours, model), (loop, twin)):
                for p, gr in zip(m.parameters(), grads):
                    p.grad = gr.clone()
                with _Dispatches() as d:
                    opt.step()
                counts.append(d.n)
        assert all(torch.equal(a, b) for a, b in zip(model.parameters(), twin.parameters())), name
        n_params = len(list(model.parameters()))
        assert counts[-2] * 3 < counts[-1] and counts[-1] >= 5 * n_params  # foreach: far fewer dispatches
