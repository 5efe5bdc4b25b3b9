"""The public API: ``import focusmim as fm`` exposes one name per step, resolved lazily."""
import focusmim as fm


def test_public_names_resolve_to_the_modules_functions():
    from focusmim import config, data, experiments
    from focusmim.evaluation import probe
    from focusmim.training import train

    assert fm.Config is config.Config and fm.make_config is config.make_config
    assert fm.pretrain is train.pretrain and fm.evaluate is probe.evaluate
    assert fm.compare is experiments.compare and fm.load_dataset is data.load
    assert set(fm.__all__) <= set(dir(fm))


def test_unknown_attribute_raises_attribute_error():
    try:
        fm.pretrian
    except AttributeError as e:
        assert "pretrian" in str(e)
    else:
        raise AssertionError("no error")


def test_pretrain_and_probe_through_the_api(tiny_cfg):
    run = fm.pretrain(tiny_cfg, progress=False)
    result = fm.evaluate(run, seeds=(0,))
    assert 0 <= result["accuracy_mean"] <= 1
