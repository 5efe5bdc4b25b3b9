import pytest

from focusmim.config import PRESETS, Config, ConfigError, make_config, resolve_preset


def test_presets_build_and_validate():
    for name in ("smoke",):
        cfg = make_config(name)
        assert cfg.dataset == PRESETS[name]["dataset"]


def test_explicit_parameters_override_preset_and_none_is_ignored():
    cfg = make_config("smoke", epochs=7, image_size=None)
    assert cfg.epochs == 7
    assert cfg.image_size == PRESETS["smoke"]["image_size"]


def test_env_preset_and_auto(monkeypatch):
    monkeypatch.setenv("FOCUSMIM_PRESET", "smoke")
    assert resolve_preset(None) == "smoke"
    assert resolve_preset("auto") == "smoke"
    monkeypatch.delenv("FOCUSMIM_PRESET")
    assert resolve_preset(None) in ("smoke", "paper")


@pytest.mark.parametrize(
    "override, words",
    [
        (dict(dataset="imagenet"), ["dataset='imagenet'", "synthetic", "cifar10", "stl10"]),
        (dict(masker="gaze"), ["masker='gaze'", "random_patches"]),
        (dict(model="vit"), ["model='vit'", "autoencoder"]),
        (dict(ratio=0.0), ["ratio=0.0", "between 0 and 1"]),
        (dict(ratio=1.2), ["ratio=1.2"]),
        (dict(image_size=30), ["image_size=30", "multiple of 8"]),
        (dict(epochs=0), ["epochs=0", ">= 1"]),
        (dict(foreground="gt", dataset="cifar10", data_root="/nonexistent/x", download=True),
         ["foreground='gt'", "'none', 'rembg'"]),
        (dict(dataset="cifar10", data_root="/nonexistent/cifar"), ["data_root='/nonexistent/cifar'", "download=True"]),
        (dict(device="tpu"), ["device='tpu'", "'cpu'"]),
        (dict(snapshot_epochs=(5,), epochs=2), ["snapshot_epochs", "epochs=2"]),
        (dict(objective="dino"), ["objective='dino'", "'mim'"]),
        (dict(cpu_amp="yes"), ["cpu_amp='yes'", "True, False"]),
        (dict(foreground_loss=1), ["foreground_loss=1", "True, False"]),
    ],
)
def test_bad_values_name_the_parameter_and_the_allowed_values(override, words):
    with pytest.raises(ConfigError) as e:
        make_config("smoke", **override)
    for w in words:
        assert w in str(e.value)


def test_unknown_parameter_and_preset():
    with pytest.raises(ConfigError, match="unknown parameter 'epoch'"):
        make_config("smoke", epoch=3)
    with pytest.raises(ConfigError, match="preset='huge'"):
        make_config("huge")


def test_key_is_stable_and_sensitive():
    a = make_config("smoke")
    b = make_config("smoke")
    assert a.key() == b.key()
    assert a.key() != a.replace(seed=1).key()
    assert a.key() != a.replace(masker="masked_periphery").key()
    # where the files live does not change the run
    assert a.key() == Config.from_dict({**a.to_dict(), "data_root": "/somewhere"}).key()
    # fields added later change the key only away from their defaults (stored runs keep theirs)
    assert a.key() == a.replace(cpu_amp=False, foreground_loss=True).key()
    assert a.key() != a.replace(cpu_amp=True).key()
    assert a.key() != a.replace(foreground_loss=False).key()


def test_roundtrip_and_paper_lrs():
    cfg = make_config("smoke", masker="masked_periphery", snapshot_epochs=(1, 2))
    assert Config.from_dict(cfg.to_dict()) == cfg
    assert cfg.resolved_lr() == 1e-4
    assert cfg.replace(masker="random_patches").resolved_lr() == 5e-4
    assert cfg.replace(lr=3e-3).resolved_lr() == 3e-3


def test_synthetic_runs_are_keyed_by_the_generator_version(monkeypatch):
    """A run trained on one version of the synthetic images is never reused for another."""
    from focusmim.data import synthetic

    cfg = make_config("smoke")
    cifar = cfg.replace(dataset="cifar10", data_root=None)
    now, cifar_now = cfg.key(), cifar.key()
    monkeypatch.setattr(synthetic, "VERSION", synthetic.VERSION + 1)
    assert cfg.key() != now
    assert cifar.key() == cifar_now  # real data sets do not depend on the generator
