import os

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
    assert a.key() == a.replace(crop_fit="clamp").key() != a.replace(crop_fit="redraw").key()
    # watching a run: TensorBoard never changes its key, the kNN monitor only when on (its metrics hold the curve)
    assert a.key() == a.replace(tensorboard=True).key() == a.replace(knn_every=0).key() != a.replace(knn_every=5).key()
    # how the compiled model runs (CUDA graphs or not) is not which run it is
    assert a.replace(compile=True).key() == a.replace(compile=True, compile_mode="reduce-overhead").key()
    with pytest.raises(ConfigError, match=r"compile_mode='reduce-overhead' needs compile=True"):
        a.replace(compile_mode="reduce-overhead")
    with pytest.raises(ConfigError, match=r"compile_mode='fast'.*allowed.*'reduce-overhead'"):
        a.replace(compile=True, compile_mode="fast")
    with pytest.raises(ConfigError, match=r"objective='adios_mim' is not allowed; allowed: compile_mode='default'"):
        a.replace(compile=True, compile_mode="reduce-overhead", objective="adios_mim", model="autoencoder")
    from focusmim.training.augment import FITS
    from focusmim.config import CROP_FITS

    assert CROP_FITS == FITS  # every choice of the config reaches the crops


def test_roundtrip_and_paper_lrs():
    cfg = make_config("smoke", masker="masked_periphery", snapshot_epochs=(1, 2))
    assert Config.from_dict(cfg.to_dict()) == cfg
    assert cfg.resolved_lr() == 1e-4
    assert cfg.replace(masker="random_patches").resolved_lr() == 5e-4
    assert cfg.replace(lr=3e-3).resolved_lr() == 3e-3


def test_synthetic_runs_are_keyed_by_the_generator_version(monkeypatch):
    """A run trained on one version of the synthetic images is never reused for another."""
    import focusmim.config.core as config_module
    from focusmim.data import synthetic

    assert synthetic.VERSION == config_module.SYNTHETIC_VERSION  # the generator's version is the key's
    cfg = make_config("smoke")
    cifar = cfg.replace(dataset="cifar10", data_root=None)
    now, cifar_now = cfg.key(), cifar.key()
    monkeypatch.setattr(config_module, "SYNTHETIC_VERSION", synthetic.VERSION + 1)
    assert cfg.key() != now
    assert cifar.key() == cifar_now  # real data sets do not depend on the generator


def test_foveal_filter_version_is_in_the_key_of_foveal_runs_only(monkeypatch):
    """The default foveal filter changed (the reference's foveation): its runs get new keys,
    runs stored with the earlier filter are not reused as the new one, and no other masker's key moves."""
    from focusmim.config import schemas

    cifar = dict(dataset="cifar10", data_root=None, image_size=32)
    # keys computed before the foveal filter's version joined the key
    before = {
        "44660447b92002aa": make_config("smoke"),
        "ae760f2712b694e4": make_config("smoke", masker="masked_periphery"),
        "e24fe24f8051f277": make_config("smoke", masker="random_patches", ratio=0.6),
        "90e88e87145a1dad": make_config("smoke", masker="blurry_periphery", lr=1e-4, **cifar),  # explicit lr
    }
    for key, cfg in before.items():
        assert cfg.key() == key, cfg.masker
    old_foveal = {"e74b6b0533bcdd48": make_config("smoke", masker="foveal"),
                  "3520f2f65f609964": make_config("smoke", masker="foveal", **cifar)}
    for key, cfg in old_foveal.items():
        assert cfg.key() != key  # the default (reference) filter is a new experiment
        consistent = cfg.replace(masker_params={"blend": "consistent"})
        assert len({cfg.key(), consistent.key(), key}) == 3
    monkeypatch.setattr(schemas, "FOVEAL_VERSION", 1)  # as keyed before the change
    for key, cfg in {**before, **old_foveal}.items():
        assert cfg.key() == key, cfg.masker


def test_blurry_periphery_at_the_papers_rate_gets_a_key_of_its_own(monkeypatch):
    """The paper kept the periphery's learning rate (1e-4) for the blurry periphery; runs stored at
    5e-4 under lr=None (the earlier rule) are never reused as runs at the paper's rate."""
    import focusmim.config.core as config_module

    cfg = make_config("smoke", masker="blurry_periphery", dataset="cifar10", data_root=None, image_size=32)
    assert cfg.resolved_lr() == 1e-4 == make_config("smoke", masker="masked_periphery").resolved_lr()
    assert make_config("smoke", masker="blurry_patches").resolved_lr() == 5e-4  # like random patches
    new = cfg.key()
    assert new != cfg.replace(lr=1e-4).key()  # lr=None and an explicit rate key apart, as always
    monkeypatch.setattr(config_module, "LR_RULE_VERSION", {})
    assert cfg.key() != new  # lr=None keyed like this when it meant 5e-4


# ------------------------------------------------------------------ the invalid-config table
# (overrides of the smoke preset, words the one-line error must contain); shared with
# tests/test_cli.py (``python -m focusmim run --set ...``) and tests/test_notebook.py (setup()).
INVALID = [
    (dict(weight_decay="abc"), ["weight_decay='abc'", "a number >= 0"]),
    (dict(weight_decay=-1), ["weight_decay=-1", "a number >= 0"]),
    (dict(warmup_epochs=10, epochs=3), ["warmup_epochs=10", "epochs=3", "fewer warmup epochs"]),
    (dict(crop_scale=[0.5]), ["crop_scale=", "a pair (a, b) with 0 < a <= b <= 1"]),
    (dict(crop_scale=[0.9, 0.2]), ["crop_scale=", "a <= b"]),
    (dict(crop_scale="big"), ["crop_scale='big'", "a pair"]),
    (dict(model="adios_unet"), ["model='adios_unet'", "'autoencoder', 'convnext_fcmae'"]),
    (dict(objective_params={"n_masks": 4}), ["objective 'mim'", "unknown key(s) n_masks", "allowed: none"]),
    (dict(objective="adios_mim", objective_params={"n_mask": 4}), ["unknown key(s) n_mask", "n_masks"]),
    (dict(objective="adios_mim", objective_params={"temperature": 0.1}),
     ["temperature", "alpha, loss_weight, mask_lr"]),
    (dict(objective="adios_simclr", objective_params={"n_masks": 1}), ["n_masks=1", ">= 2"]),
    (dict(objective="simclr", objective_params={"single": True}), ["unknown key(s) single", "proj_dim"]),
    (dict(objective="adios_mim", objective_params={"single": 1}), ["single=1", "True, False"]),
    (dict(objective_params="n_masks=4"), ["objective_params='n_masks=4'", "a dict"]),
    (dict(masker="foveal", masker_params={"sigma": 2}), ["masker='foveal'", "unknown key(s) sigma", "levels"]),
    (dict(masker="foveal", masker_params={"levels": 11}), ["levels=11", "between 2 and 10"]),
    (dict(masker="masked_periphery", masker_params={"center": [0.5, 2]}), ["center=[0.5, 2]", "a pair"]),
    (dict(masker="covert_attention", masker_params={"placement": "left"}), ["placement='left'", "'object'"]),
    (dict(masker="grid_periphery", masker_params={"keep": 4}), ["keep=4 with grid=7", "even"]),
    (dict(masker="grid_periphery", ratio=0.5), ["ratio=0.5", "masker='grid_periphery'", "no ratio"]),
    (dict(masker="none", ratio=0.5), ["ratio=0.5", "no ratio"]),
    (dict(masker="random_patches", ratio=0.005), ["ratio=0.005", "0.00694"]),
    (dict(masker="learned"), ["masker='learned'", "exactly one of net= (a mask network) or run_key="]),
    (dict(masker="learned", masker_params={"run_key": 7}), ["run_key=7", "a string"]),
    (dict(masker_params=[1, 2]), ["masker_params=[1, 2]", "a dict"]),
    (dict(width=0), ["width=0", "a number > 0 and <= 4"]),
    (dict(width="wide"), ["width='wide'"]),
    (dict(lr=-0.1), ["lr=-0.1", "None or a number > 0"]),
    (dict(lr="fast"), ["lr='fast'"]),
    (dict(batch_size=2.5), ["batch_size=2.5", "whole number >= 1"]),
    (dict(epochs="3"), ["epochs='3'", "whole number >= 1"]),
    (dict(n_unlabeled=0), ["n_unlabeled=0", ">= 1"]),
    (dict(n_labeled=5), ["n_labeled=5", ">= 10"]),
    (dict(seed=-1), ["seed=-1", ">= 0"]),
    (dict(image_size=True), ["image_size=True", "multiple of 8"]),
    (dict(snapshot_epochs=[0]), ["snapshot_epochs=", "whole numbers >= 1"]),
    (dict(flip="no"), ["flip='no'", "True, False"]),
    (dict(crop=0), ["crop=0", "True, False"]),
    (dict(crop_fit="reject"), ["crop_fit='reject'", "'clamp', 'redraw'"]),
    (dict(download="yes"), ["download='yes'", "True, False"]),
    (dict(optimizer="sgd"), ["optimizer='sgd'", "'adam', 'adamw'"]),
    (dict(schedule="linear"), ["schedule='linear'", "'cosine'"]),
    (dict(foreground="sam"), ["foreground='sam'", "'rembg'"]),
    (dict(data_root=3), ["data_root=3", "a string"]),
    (dict(epoch=3), ["unknown parameter 'epoch'", "epochs"]),
]


@pytest.mark.parametrize("override, words", INVALID, ids=[",".join(o) for o, _ in INVALID])
def test_invalid_configs_fail_in_validation_naming_the_parameter(override, words, monkeypatch):
    # validation is pure: it must not build a masker or a model
    import focusmim.masking as masking
    import focusmim.models as models

    def forbidden(*a, **k):
        raise AssertionError("validation built something")

    monkeypatch.setattr(masking.REGISTRY, "build", forbidden)
    monkeypatch.setattr(models.REGISTRY, "build", forbidden)
    with pytest.raises(ConfigError) as e:
        make_config("smoke", **override)
    msg = str(e.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, msg


def test_from_dict_rejects_what_make_config_rejects():
    d = make_config("smoke").to_dict()
    with pytest.raises(ConfigError, match="weight_decay='abc'"):
        Config.from_dict({**d, "weight_decay": "abc"})
    with pytest.raises(ConfigError, match="unknown config field"):
        Config.from_dict({**d, "weight_decays": 0.1})


def test_valid_parameters_of_every_declared_name_pass():
    make_config("smoke", masker="foveal", masker_params={"levels": 4, "center": [0.3, 0.6]})
    make_config("smoke", masker="learned", masker_params={"run_key": "0123456789abcdef"})  # nothing is loaded
    make_config("smoke", objective="adios_simclr", objective_params={"n_masks": 3, "temperature": 0.5})
    make_config("smoke", model="convnext_fcmae", warmup_epochs=1, epochs=2, crop_scale=[0.2, 1])


def test_every_stored_config_keys_to_its_folder(monkeypatch):
    """Stored runs stay reusable: each committed run's config reads back to its own key.

    Eleven synthetic runs were stored under the synthetic generator's version 1 (before
    ``data_version`` joined the key); they key to their folder under that version and are
    no longer reached by a current config (the generator's images changed). Likewise six
    foveal runs were trained with the earlier foveal filter (``FOVEAL_VERSION`` 1), and three
    blurry-periphery runs at a learning rate the paper did not use for that strategy (5e-4)."""
    import json
    from pathlib import Path

    from focusmim.config import schemas

    store = Path(__file__).resolve().parents[2] / "results" / "store"
    stored = {p.name: Config.from_dict(json.loads((p / "config.json").read_text()))
              for p in sorted(store.iterdir()) if (p / "config.json").exists()}
    assert len(stored) > 50, f"expected the committed run store under {store}"
    from focusmim.data.base import find_imagenette

    if find_imagenette(None) is None:  # imagenette runs key with their data's fingerprint: not checkable here
        assert os.environ.get("FOCUSMIM_REQUIRE_SHARED") != "1", "imagenette96 not found (../shared/data)"
        stored = {k: c for k, c in stored.items() if c.dataset != "imagenette"}
    assert sum(c.dataset == "imagenette" for c in stored.values()) in (0, 19)
    current = {k for k, c in stored.items() if c.key() == k}
    import focusmim.config.core as config_module

    with monkeypatch.context() as m:
        m.setattr(schemas, "FOVEAL_VERSION", 1)
        foveal1 = {k for k, c in stored.items() if c.masker == "foveal" and c.key() == k}
    with monkeypatch.context() as m:  # covert attention's object disc before the confident centroid
        m.setattr(schemas, "OBJECT_DISC_VERSION", 1)
        disc1 = {k for k, c in stored.items() if c.masker == "covert_attention" and c.key() == k} - current
    assert len(disc1) == 1 and all(stored[k].masker_params.get("placement") == "object" for k in disc1)
    # blurry periphery runs trained at 5e-4 before the paper's rule (1e-4, the periphery's) was followed:
    # they key to their folder without the rule's version and are no longer reached by a current config
    with monkeypatch.context() as m:
        m.setattr(config_module, "LR_RULE_VERSION", {})
        old_lr = {k for k, c in stored.items() if c.key() == k} - current
    assert {stored[k].masker for k in old_lr} == {"blurry_periphery"} and len(old_lr) == 3
    monkeypatch.setattr(config_module, "SYNTHETIC_VERSION", 1)
    monkeypatch.setattr(schemas, "OBJECT_DISC_VERSION", 1)  # the synthetic version-1 runs predate it too
    version1 = {k for k, c in stored.items() if c.dataset == "synthetic" and c.key() == k}
    changed = set(stored) - current - version1 - foveal1 - old_lr - disc1
    assert not changed, f"keys changed: {sorted(changed)}"
    assert len(version1) == 11
    assert len(foveal1) == 6 and not foveal1 & current  # the earlier foveal filter's runs


def test_the_object_disc_rule_is_in_the_key_of_object_placed_covert_runs_only(monkeypatch):
    """Covert attention's disc on the object moved from the first maximal pixel to the confident centroid:
    runs with placement='object' get new keys; random placement and every other masker keep theirs."""
    from focusmim.config import schemas

    obj = make_config("smoke", masker="covert_attention", masker_params={"placement": "object"}, foreground="gt")
    rnd = make_config("smoke", masker="covert_attention")
    now_obj, now_rnd = obj.key(), rnd.key()
    monkeypatch.setattr(schemas, "OBJECT_DISC_VERSION", 1)
    assert obj.key() != now_obj and rnd.key() == now_rnd
