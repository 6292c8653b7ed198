"""``femopt schema``: the reference page and the JSON Schema are generated from the
declarations the parser reads (femopt/config/keys.py) and the registries; the committed
copies match them, every shipped config validates, and parser and schema agree on every
declared bound."""

import copy
import json

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from femopt.cli import main
from femopt.config import describe, keys, load_config
from femopt.config.reader import read_yaml
from femopt.design import FILTERS, INTERPOLATIONS, PASSIVE_SHAPES
from femopt.errors import ConfigError
from femopt.optimizers import OPTIMIZERS
from femopt.responses import RESPONSES
from femopt.solvers import SOLVERS

from helpers import CONFIGS, ROOT, mbb_data

REGISTRIES = (FILTERS, INTERPOLATIONS, PASSIVE_SHAPES, OPTIMIZERS, RESPONSES, SOLVERS)


@pytest.fixture(scope="module")
def validator():
    schema = describe.json_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


@pytest.mark.parametrize("name, generate, flag", [("docs/problem-file.md", describe.markdown, "--markdown"),
                                                  (describe.SCHEMA_FILE, describe.json_text, "--json")])
def test_committed_files_match_the_generated_ones(name, generate, flag):
    committed = (ROOT / name).read_text(encoding="utf-8")
    assert committed == generate(), (
        f"{name} is out of date with femopt/config/keys.py or the registries; regenerate it with\n"
        f"    PYTHONPATH=. python -m femopt.cli schema {flag} > {name}")


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_config_validates_against_the_json_schema(path, validator):
    errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(read_yaml(path))]
    assert not errors, errors


def test_a_config_may_start_with_the_modeline(tmp_path, validator):
    """The modeline is a YAML comment; from configs/ it names the committed schema."""
    text = describe.MODELINE + "\n" + yaml.safe_dump(mbb_data(nx=12, ny=4))
    (tmp_path / "problem.yaml").write_text(text)
    assert load_config(tmp_path / "problem.yaml").mesh.grid == (12, 4)
    assert validator.is_valid(read_yaml(tmp_path / "problem.yaml"))
    target = describe.MODELINE.split("$schema=")[1]
    assert (CONFIGS / target).resolve() == (ROOT / describe.SCHEMA_FILE).resolve()


def test_every_registered_name_and_option_is_listed():
    text, page = describe.text(), describe.markdown()
    for registry in REGISTRIES:
        for entry in registry:
            assert entry.name in text and entry.doc and entry.doc in page, (registry.kind, entry.name)
            for option in entry.options:
                assert option in text, (registry.kind, entry.name, option)
    for section in (keys.PROBLEM, keys.MESH, keys.MATERIAL, keys.DESIGN, keys.PROJECTION, keys.ROBUST,
                    keys.OPTIMIZER, keys.CHECKPOINT, keys.SCHEDULE):
        for name in section.keys:
            assert f".{name}`" in page or f"`{name}`" in page, name


def test_a_new_registration_appears_in_the_schema(validator):
    RESPONSES.register("mean_density", lambda context: None, doc="the mean density")
    try:
        assert "type: mean_density" in describe.markdown()
        schema = jsonschema.Draft7Validator(describe.json_schema())
        assert schema.is_valid({**mbb_data(), "objective": "mean_density"})
    finally:
        RESPONSES.unregister("mean_density")
    assert not validator.is_valid({**mbb_data(), "objective": "mean_density"})


@pytest.mark.parametrize("change", [
    lambda c: c["material"].update(k=1.0),                  # a key of physics: heat
    lambda c: c.update(physics="heat"),                     # its material and loads are elasticity's
    lambda c: c["optimizer"].update(mvoe=0.1),              # a misspelt option
    lambda c: c.update(load_cases=[{"loads": c["loads"]}]),  # loads and load_cases
    lambda c: c["loads"][0].update(nodal_force=[0, 1]),     # two kinds of load
    lambda c: c["design"].update(penalty={"start": 1, "end": 3}),  # a schedule without factor or step
    lambda c: c["design"].update(filter={"type": "gaussian"}),
    lambda c: c["mesh"].update(scale=2.0),                  # scale belongs to a mesh file
    lambda c: c.update(objective={"type": "displacement", "component": "y"}),  # at is required
])
def test_parser_and_schema_both_reject(change, validator):
    data = mbb_data(nx=12, ny=4)
    data["material"] = {"E": 1.0}
    change(data)
    with pytest.raises(ConfigError):
        load_config(data)
    assert not validator.is_valid(data)


# Every declared bound of a number or integer, checked on these files (together they hold
# every such key): the parser and the schema both reject a value just outside it.
ELASTIC = {
    "mesh": {"grid": [12, 4], "size": [12.0, 4.0]},
    "material": {"E": 1.0, "nu": 0.3, "Emin": 1e-9, "thickness": 1.0},
    "supports": [{"at": {"x": 0}, "fix": "all"}],
    "load_cases": [{"weight": 1.0, "loads": [{"at": {"x": 12, "y": 0}, "force": [0, -1]}]}],
    "springs": [{"at": {"x": 12, "y": 4}, "component": "y", "stiffness": 1.0}],
    "design": {"volume_fraction": 0.5, "penalty": {"start": 1, "end": 3, "step": 0.5, "every": 10},
               "filter": {"type": "density", "radius": 1.5},
               "projection": {"beta": {"start": 1, "end": 8, "factor": 2}, "eta": 0.5,
                              "robust": {"delta_eta": 0.2, "update_every": 20}}},
    "optimizer": {"type": "mma", "max_iterations": 10, "tolerance": 0.01},
    "checkpoint": {"every": 10, "seconds": 60.0},
}
CONSTRAINED = {**mbb_data(nx=12, ny=4), "constraints": [{"type": "volume", "limit": 0.5}],
               "optimizer": {"type": "mma"}, "material": {"density": 2.0},
               "point_masses": [{"at": {"x": 12, "y": 4}, "mass": 0.5}]}
MESH_FILE = {**mbb_data(), "mesh": {"file": str(ROOT / "meshes" / "lbracket.msh"), "scale": 1.0},
             "supports": [{"at": {"group": "clamp"}, "fix": "all"}], "loads": [{"at": {"x": 0}, "force": [0, -1]}]}
OVERHANG = {**mbb_data(nx=12, ny=4), "design": {"volume_fraction": 0.5, "filter": "density", "overhang": {
    "build_direction": "+y", "p": 40.0, "epsilon": 1e-4}}}
CAD = {**mbb_data(), "material": {"E": 1.0, "nu": 0.3}, "mesh": {"file": str(ROOT / "meshes" / "plate_hole.step"), "size": 8.0, "min_size": 0.0,
                               "order": 1},
       "supports": [{"at": {"group": "face-1"}, "fix": "all"}], "loads": [{"at": {"group": "face-7"}, "force": [0, -1, 0]}]}
HEAT = {"physics": "heat", "mesh": {"grid": [8, 8]}, "material": {"k": 1.0, "kmin": 0.001},
        "supports": [{"at": {"x": 0}, "fix": ["t"]}], "loads": [{"heat_source": 1.0}],
        "design": {"volume_fraction": 0.4}}


BOUNDED = ("number", "integer", "magnitude")


def _bounded(section, data, path, found):
    """(path, Key) of every bounded number or integer of ``data`` read as ``section``."""
    for name, key in section.keys.items():
        if name not in data:
            continue
        here = f"{path}.{name}" if path else name
        if key.kind in BOUNDED and key.bounds:
            found.append((here, key, section))
        elif key.kind == "section" and key.of.keys:
            _bounded(key.of, data[name], here, found)
        elif key.kind == "list":
            for i, item in enumerate(data[name]):
                _bounded(key.of, item, f"{here}[{i}]", found)
        elif key.kind == "parameter" and isinstance(data[name], dict):
            _bounded(keys.SCHEDULE, data[name], here, found)
    return found


def _outside(bound: str, value: float, integer: bool) -> float:
    step = 1 if integer else 0.5
    return {"gt": value, "ge": value - step, "lt": value, "le": value + step}[bound]


def _set(data, path, value):
    parts = path.replace("[", ".[").split(".")
    node = data
    for part in parts[:-1]:
        node = node[int(part[1:-1])] if part.startswith("[") else node[part]
    node[parts[-1]] = value


def test_parser_and_schema_agree_on_every_declared_bound(validator):
    cases = [(base, *found) for base in (ELASTIC, CONSTRAINED, MESH_FILE, OVERHANG, HEAT, CAD)
             for found in _bounded(keys.PROBLEM, base, "", [])]
    declared = {(id(s), name) for s in vars(keys).values() if isinstance(s, keys.Section)
                for name, k in s.keys.items() if k.kind in BOUNDED and k.bounds}
    assert {(id(section), path.rsplit(".", 1)[-1]) for _, path, _, section in cases} == declared
    for base, path, key, _ in cases:
        load_config(base)
        assert validator.is_valid(base)
        outside = [_outside(bound, value, key.kind == "integer") for bound, value in key.bounds.items()]
        for value in outside + ([1e31] if key.kind == "magnitude" else []):   # beyond femopt.config.MAGNITUDES
            data = copy.deepcopy(base)
            _set(data, path, value)
            with pytest.raises(ConfigError) as error:
                load_config(data)
            assert error.value.path == path, (path, value, str(error.value))
            assert not validator.is_valid(data), (path, value)


def test_cli_schema_prints_text_json_and_markdown():
    runner = CliRunner()
    text = runner.invoke(main, ["schema"])
    assert text.exit_code == 0 and "design.projection.beta: number > 0 or schedule; default 1" in text.output
    assert json.loads(runner.invoke(main, ["schema", "--json"]).output) == describe.json_schema()
    assert runner.invoke(main, ["schema", "--markdown"]).output == describe.markdown()
    both = runner.invoke(main, ["schema", "--json", "--markdown"])
    assert both.exit_code == 2 and both.output == "error: --json and --markdown: give at most one\n"
