"""Tests of focusmim.config.validation: one line per bad value, naming the field and what is allowed."""
import pytest

from focusmim.config import ConfigError, make_config
from focusmim.config.validation import _check_device, check_data_root, resolve_device


@pytest.mark.parametrize("device", ["tpu", "gpu", "mps"])
def test_a_bad_device_names_the_allowed_ones(device):
    with pytest.raises(ConfigError, match=r"allowed: 'auto', 'cpu'"):
        _check_device(device)


def test_auto_resolves_to_a_device_this_machine_has():
    import torch

    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == "cpu"


def test_a_missing_data_root_is_named_before_any_work(tmp_path):
    cfg = make_config("smoke")
    for dataset in ("cifar10", "imagenette", "imagefolder"):
        bad = cfg.replace(dataset=dataset, data_root=str(tmp_path / "nope"))
        with pytest.raises(ConfigError, match=r"^data_root='.*nope'"):
            check_data_root(bad)
    assert check_data_root(cfg.replace(dataset="cifar10", data_root=str(tmp_path))).data_root == str(tmp_path)


def test_a_config_error_is_a_value_error_named_where_users_import_it():
    assert issubclass(ConfigError, ValueError) and ConfigError.__module__ == "focusmim.config"
    with pytest.raises(ConfigError, match="epochs=-1 is not allowed"):
        make_config("smoke", epochs=-1)
