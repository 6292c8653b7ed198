"""Fuzzing the problem-file reader: any YAML tree ends in a valid config or a ConfigError.

Trees start from valid problem files and are mutated at random places: values
replaced by values of every YAML type (wrong types, NaN, huge numbers, empty
containers, the schema's own key names as strings), keys added from the schema's
vocabulary, keys removed. Nothing may escape but a ConfigError, and its message
stays one line.
"""

import copy
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from femopt.config import design as design_module
from femopt.config import options as options_module
from femopt.config import sections as config_module
from femopt.config import parse_config
from femopt.design import FILTERS, INTERPOLATIONS, PASSIVE_SHAPES
from femopt.errors import ConfigError
from femopt.responses import RESPONSES
from femopt.optimizers import OPTIMIZERS
from femopt.solvers import SOLVERS

BASES = [
    {"mesh": {"grid": [6, 3]}, "supports": [{"at": {"x": 0}, "fix": "all"}],
     "loads": [{"at": {"x": 6, "y": 0}, "force": [0, -1]}], "design": {"volume_fraction": 0.5}},
    {"problem": "p", "mesh": {"grid": [4, 2, 2], "size": [4.0, 2.0, 2.0]},
     "material": {"E": 1.0, "nu": 0.3, "Emin": 1e-9},
     "supports": [{"at": {"x": 0}, "fix": ["x", "y", "z"]}],
     "load_cases": [{"weight": 1.0, "loads": [{"at": {"x": 4}, "nodal_force": [0, -1, 0]}]}],
     "springs": [{"at": {"x": 4, "y": 0}, "component": "y", "stiffness": 0.1}],
     "design": {"volume_fraction": 0.3, "interpolation": "ramp",
                "penalty": {"start": 1, "end": 3, "step": 1, "every": 5},
                "filter": {"type": "density", "radius": 1.5},
                "projection": {"beta": {"start": 1, "end": 8, "factor": 2}, "eta": 0.5},
                "passive": [{"type": "solid", "sphere": {"center": [1, 1, 1], "radius": 0.5}},
                            {"type": "void", "box": {"x": [0, 1]}}]},
     "objective": {"type": "displacement", "at": {"x": 4, "y": 0}, "component": "y", "weight": -1},
     "constraints": [{"type": "volume", "limit": 0.3},
                     {"type": "compliance", "limit": 10.0}],
     "optimizer": {"type": "mma", "move": 0.2, "max_iterations": 5, "tolerance": 0.01},
     "solver": {"type": "amg", "rtol": 1e-6}, "checkpoint": {"every": 5, "seconds": 30}},
    {"physics": "heat", "mesh": {"grid": [6, 4]}, "material": {"k": 1.0, "kmin": 0.001},
     "supports": [{"at": {"x": 0, "y": [1, 3]}, "fix": ["t"]}],
     "loads": [{"at": {"x": 6}, "nodal_heat": 0.01}, {"heat_source": 0.1}, {"at": {"y": 4}, "heat": 1.0}],
     "design": {"volume_fraction": 0.4, "filter": {"type": "sensitivity", "radius": 1.2}},
     "optimizer": {"type": "oc", "variant": "top99"}},
]

# Every key and name the schema knows, so that mutations hit meaningful places.
WORDS = sorted({
    *config_module._TOP_KEYS, *config_module._MESH_KEYS, *config_module._MATERIAL_KEYS,
    *config_module._HEAT_MATERIAL_KEYS, *config_module._HEAT_LOAD_KEYS, *config_module.PHYSICS, "t",
    *config_module._SUPPORT_KEYS, *config_module._LOAD_KEYS, *config_module._LOAD_CASE_KEYS,
    *config_module._SPRING_KEYS, *design_module._DESIGN_KEYS, *options_module._SCHEDULE_KEYS,
    *design_module._PROJECTION_KEYS, *design_module._OVERHANG_KEYS, *design_module._SYMMETRY_KEYS, *config_module._CHECKPOINT_KEYS, "type", "limit", "all",
    "x", "y", "z", "solid", "void",
    *(name for registry in (FILTERS, INTERPOLATIONS, PASSIVE_SHAPES, RESPONSES, OPTIMIZERS, SOLVERS)
      for entry in registry for name in (entry.name, *entry.options)),
})

def _hashable(v) -> bool:
    try:
        hash(v)
    except TypeError:
        return False
    return not (isinstance(v, float) and math.isnan(v))  # NaN keys never match themselves


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10, max_value=10),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(WORDS), st.text(max_size=5),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.one_of(st.sampled_from(WORDS), scalars.filter(_hashable)),
                                            inner, max_size=4)),
    max_leaves=8,
)


def _places(tree, path=()):
    """Every (container, key) in the tree."""
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, list) else ()
    for key, child in items:
        yield tree, key
        yield from _places(child, path + (key,))


@st.composite
def mutated_configs(draw):
    tree = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(1, 4))):
        places = list(_places(tree))
        container, key = draw(st.sampled_from(places))
        action = draw(st.sampled_from(["replace", "add", "remove"]))
        if action == "replace":
            container[key] = draw(values)
        elif action == "add":
            target = container[key] if isinstance(container[key], (dict, list)) else container
            if isinstance(target, dict):
                target[draw(st.sampled_from(WORDS))] = draw(values)
            else:
                target.append(draw(values))
        else:
            del container[key]
    return tree


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_configs())
def test_any_mutation_ends_in_a_config_or_a_one_line_config_error(data):
    try:
        parse_config(data, source="fuzz.yaml")
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith("fuzz.yaml") and "\n" not in message


@settings(max_examples=100, deadline=None)
@given(values)
def test_any_yaml_value_at_the_top_ends_in_a_config_error(data):
    try:
        parse_config(data, source="fuzz.yaml")
    except ConfigError as exc:
        assert "\n" not in str(exc)


def test_the_bases_are_valid():
    for base in BASES:
        parse_config(base, source="base.yaml")
