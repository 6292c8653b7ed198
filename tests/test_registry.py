"""femopt.registry: Registry, Option and Entry — and that adding a response type is one
registration, which the YAML reader, the build layer and the run pick up."""

import numpy as np
import pytest

import femopt
from femopt.errors import FemoptError
from femopt.responses import RESPONSES
from femopt.registry import Entry, Option, Registry

from helpers import mbb_data


def test_register_create_and_defaults():
    shapes = Registry("shape")

    @shapes.register("square", side=Option(1.0, bounds={"gt": 0}), label=Option(kind="string"))
    def square(scale, side, label):
        return (label, scale * side)

    shapes.register("dot", lambda scale: ("dot", 0.0), dims=(2,))
    assert shapes.names == ("square", "dot") and "dot" in shapes and "cube" not in shapes
    assert shapes.names_for(3) == ("square",)
    entry = shapes["square"]
    assert isinstance(entry, Entry) and entry.factory is square  # the decorator returns it unchanged
    assert entry.defaults == {"side": 1.0} and entry.options["label"].required
    assert shapes.create("square", 2.0, label="a") == ("a", 2.0)       # defaults filled in
    assert shapes.create("square", 2.0, label="a", side=3.0) == ("a", 6.0)
    assert [e.name for e in shapes] == ["square", "dot"]


def test_mistakes_are_reported():
    shapes = Registry("shape")
    shapes.register("dot", lambda: "dot")
    with pytest.raises(ValueError, match="shape 'dot' is registered twice"):
        shapes.register("dot", lambda: "other")
    with pytest.raises(FemoptError, match="unknown shape 'dto'; choose one of dot"):
        shapes["dto"]
    with pytest.raises(TypeError, match="dot takes no option size"):
        shapes.create("dot", size=2)
    with pytest.raises(ValueError, match="unknown option kind 'colour'"):
        Option(kind="colour")
    shapes.unregister("dot")
    assert shapes.names == ()


class MeanDensity:
    """V = mean(ρ), a trivial response to register."""

    def evaluate(self, state):
        return float(state.rho.mean()), None, np.full(len(state.rho), 1 / len(state.rho))


@pytest.fixture
def mean_density():
    RESPONSES.register("mean_density", lambda context: MeanDensity())  # the whole registration: 1 line
    try:
        yield
    finally:
        RESPONSES.unregister("mean_density")


def test_a_registered_response_is_usable_as_a_constraint(mean_density):
    data = mbb_data(12, 5, filter_type="density", type="mma", max_iterations=3)
    data["constraints"] = [{"type": "mean_density", "limit": 0.5}]
    config = femopt.load_config(data)                      # validated from the registry
    assert [(c.type, c.limit) for c in config.constraint_list] == [("mean_density", 0.5)]
    result = femopt.run(config)
    assert result.iterations == 3
    assert result.responses["constraints[0]"] == pytest.approx(result.volume, rel=1e-12)
    data["constraints"][0]["size"] = 2                     # and its options are checked like others'
    with pytest.raises(femopt.ConfigError, match=r"constraints\[0\].size: unknown key"):
        femopt.load_config(data)


def test_an_unregistered_response_is_unknown():
    data = mbb_data(12, 5, type="mma")
    data["constraints"] = [{"type": "mean_density", "limit": 0.5}]
    with pytest.raises(femopt.ConfigError, match="must be one of compliance, volume, displacement"):
        femopt.load_config(data)
