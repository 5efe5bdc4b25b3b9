"""Every registered name declares exactly its factory's parameters; the schemas check values without building."""
import inspect

import pytest

import focusmim.masking  # noqa: F401  (registers the maskers)
import focusmim.models  # noqa: F401
import focusmim.training.train  # noqa: F401  (registers every objective)
from focusmim.config import schemas


@pytest.mark.parametrize("registry", [schemas.MASKERS, schemas.MODELS])
def test_declared_parameters_match_every_factory(registry):
    for name in registry.names():
        factory = registry.get(name)
        params = {p for p in inspect.signature(factory).parameters if p != "self"}
        assert params == set(registry.params(name)), name


def test_every_declared_objective_is_registered_and_defaults_pass():
    for registry in (schemas.MASKERS, schemas.MODELS, schemas.OBJECTIVES):
        for name in registry.names():
            registry.get(name)  # implemented
            for p, param in registry.params(name).items():
                if param.default is not None:
                    param.check(p, param.default)


def test_registering_a_factory_that_differs_from_its_declaration_fails():
    from focusmim.config.registry import Param, Registry

    reg = Registry("thing")
    reg.declare("a", {"x": Param("int", 1)})
    with pytest.raises(TypeError, match="declared parameters"):
        reg.register("a")(lambda y=1: y)


def test_backbones_and_mask_networks_are_models():
    assert set(schemas.BACKBONES + schemas.MASK_NETWORKS) == set(schemas.MODELS.names())
