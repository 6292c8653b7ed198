"""femopt.build: selections become nodes, mistakes found on the mesh name their key,
registry names become objects, and a Model holds one run's objects."""

import numpy as np
import pytest

import femopt
from femopt.build import Model, build, build_problem, build_responses
from femopt.design import DensityFilter, HeavisideProjection, IdentityProjection, RAMP, SensitivityFilter, Schedule
from femopt.errors import ConfigError, SingularStiffnessError
from femopt.responses import Compliance, DisplacementTarget, Volume
from femopt.optimizers import LBFGSB, MMA, OC
from femopt.loop.evaluator import Evaluator
from femopt.fem.dofs import DofMap

from helpers import CONFIGS, mbb_data, write_yaml


def config_of(data):
    return femopt.load_config(data)


def build_error(data, error=ConfigError) -> str:
    with pytest.raises(error) as info:
        build(config_of(data))
    return str(info.value)


# ---------------------------------------------------------------- selections and loads


def test_selections_become_supports_and_loads():
    problem = build_problem(config_of(mbb_data(6, 2)))
    mesh = problem.mesh
    dofmap = DofMap(mesh, mesh.dim)
    left = mesh.select_nodes([("x", 0, 0)])
    corner = mesh.select_nodes([("x", 6, 6), ("y", 0, 0)])
    np.testing.assert_array_equal(problem.fixed_dofs, np.union1d(2 * left, 2 * corner + 1))
    load = mesh.select_nodes([("x", 0, 0), ("y", 2, 2)])[0]
    assert problem.forces.shape == (dofmap.n_dofs, 1) and problem.forces[2 * load + 1, 0] == -1.0
    assert np.count_nonzero(problem.forces) == 1


def test_force_is_split_over_the_nodes_and_nodal_force_is_per_node():
    data = mbb_data(6, 2)
    data["loads"] = [{"at": {"y": 2}, "force": [0.0, -7.0]}, {"at": {"y": 0, "x": [2, 3]}, "nodal_force": [1.0, 0.0]}]
    forces = build_problem(config_of(data)).forces[:, 0]
    np.testing.assert_allclose(forces[1::2][forces[1::2] != 0], np.full(7, -1.0))  # 7 top nodes share −7
    assert forces[0::2].sum() == 2.0 and np.count_nonzero(forces[0::2]) == 2        # 1 on each of 2 nodes


def test_load_cases_and_weights():
    problem = build_problem(femopt.load_config(CONFIGS / "multiload.yaml"))
    assert problem.forces.shape == (problem.dofmap.n_dofs, 2)
    np.testing.assert_array_equal(problem.case_weights, [1.0, 0.5])


@pytest.mark.parametrize("change, message, error", [
    (lambda d: d["loads"][0].update(at={"x": 61}),
     "<string>: loads[0].at: selects no node (x=61; the mesh spans x in [0, 60], y in [0, 20])", ConfigError),
    (lambda d: d["supports"][1].update(at={"x": [70, 80]}),
     "<string>: supports[1].at: selects no node (x in [70, 80]; the mesh spans x in [0, 60], y in [0, 20])",
     ConfigError),
    (lambda d: d["loads"][0].update(at={"x": 60, "y": 0}, force=[0.0, 1.0]),
     "<string>: loads: every load acts on fixed DOFs or is zero; nothing to optimize", ConfigError),
    (lambda d: d.update(springs=[{"at": {"x": 0}, "component": "x", "stiffness": 0.1}]),
     "<string>: springs[0].at: every selected DOF is fixed; a spring there does nothing", ConfigError),
    (lambda d: d["design"].update(passive=[{"type": "void", "circle": {"center": [100, 100], "radius": 1}}]),
     "<string>: design.passive[0]: the circle contains no element center", ConfigError),
    (lambda d: d["design"].update(passive=[{"type": "solid", "box": {"x": [0, 60]}}]),
     "<string>: design.passive: every element is passive; nothing is left to design", ConfigError),
    (lambda d: d["supports"][1].update(fix=["x"]),
     "supports: the structure can still move as a rigid body (translation y is free); "
     "the stiffness matrix is singular — fix more components", SingularStiffnessError),
])
def test_mistakes_found_on_the_mesh_name_their_key(change, message, error):
    data = mbb_data()
    change(data)
    assert build_error(data, error) == message


# ---------------------------------------------------------------- registries → objects


def test_responses_are_built_on_the_mesh():
    data = mbb_data(nx=12, ny=5, type="mma")
    data["objective"] = {"type": "displacement_target", "at": {"x": [0, 3], "y": 5}, "component": "y",
                         "target": -0.2}
    data["constraints"] = [{"type": "volume", "limit": 0.4}, {"type": "compliance", "limit": 100}]
    config = config_of(data)
    objective, constraints = build_responses(config, build_problem(config))
    assert isinstance(objective, DisplacementTarget) and len(objective.dofs) == 4
    assert np.all(objective.dofs % 2 == 1) and np.all(objective.target == -0.2)
    assert [(type(c.response), c.limit, c.label) for c in constraints] == [
        (Volume, 0.4, "constraints[0]"), (Compliance, 100.0, "constraints[1]")]


def test_model_holds_the_registered_objects():
    model = build(config_of(mbb_data(12, 5)))
    assert isinstance(model, Model) and model.mesh is model.problem.mesh
    assert isinstance(model.filter, SensitivityFilter) and isinstance(model.projection, IdentityProjection)
    assert isinstance(model.optimizer, OC) and model.optimizer.move == 0.2
    assert isinstance(model.objective, Compliance)
    assert [(type(c.response), c.limit) for c in model.constraints] == [(Volume, 0.5)]  # the default
    np.testing.assert_array_equal(model.x0, np.full(60, 0.5))
    assert model.schedules == {"penalty": 3.0} and model.material.penalty == 3.0
    evaluator = model.evaluator()
    assert isinstance(evaluator, Evaluator) and evaluator.solver is model.solver


def test_design_options_reach_their_objects():
    data = mbb_data(12, 5, filter_type="density", radius=2.0, type="mma", move=0.1)
    data["design"].update(interpolation="ramp", penalty={"start": 1, "end": 4, "step": 1, "every": 5},
                          projection={"beta": {"start": 2, "end": 8, "factor": 2}, "eta": 0.4})
    model = build(config_of(data))
    assert isinstance(model.filter, DensityFilter)
    assert isinstance(model.material, RAMP) and model.material.penalty == 1.0  # the schedule's start
    assert isinstance(model.projection, HeavisideProjection)
    assert (model.projection.beta, model.projection.eta) == (2.0, 0.4)
    assert model.schedules["penalty"] == Schedule(1.0, 4.0, 5, step=1.0)
    assert model.continuation().values == {"penalty": 1.0, "beta": 2.0}
    assert isinstance(model.optimizer, MMA) and model.optimizer.move == 0.1


def test_lbfgs_options_reach_the_optimizer():
    data = mbb_data(12, 4, filter_type="density", type="lbfgs", inner_iterations=2, constraint_penalty=100.0)
    optimizer = build(config_of(data)).optimizer
    assert isinstance(optimizer, LBFGSB) and (optimizer.inner_iterations, optimizer.penalty) == (2, 100.0)


def test_solver_options_reach_the_solver_and_rtol_overrides_them():
    data = {**mbb_data(12, 4), "solver": {"type": "amg", "rtol": 1e-6, "max_iterations": 50}}
    solver = build(config_of(data)).solver
    assert (solver.name, solver.rtol, solver.maxiter) == ("amg", 1e-6, 50)
    assert build(config_of(data), rtol=1e-12).solver.rtol == 1e-12  # check-grad's round-off solves


def test_python_loss_is_loaded_next_to_the_config(tmp_path):
    (tmp_path / "myloss.py").write_text("def loss(u):\n    return float((u**2).sum()), 2 * u\n")
    data = mbb_data(nx=12, ny=5, filter_type="density", type="mma")
    data["objective"] = {"type": "python", "function": "myloss.py:loss"}
    path = write_yaml(tmp_path, data)
    evaluate = femopt.prepare(path).evaluator()
    ev = evaluate(np.full(evaluate.n_variables, 0.5))
    assert ev.objective == pytest.approx(float((ev.u**2).sum()), rel=1e-14)
    for function, reason in [("myloss.py:nothere", "cannot load 'myloss.py:nothere': AttributeError"),
                             ("nocolon", "expected 'module:name' or 'file.py:name', got 'nocolon'")]:
        data["objective"]["function"] = function
        write_yaml(tmp_path, data)
        with pytest.raises(ConfigError, match=f"^{path}: objective.function: {reason}"):
            femopt.prepare(path)


# ---------------------------------------------------------------- warnings and impossible designs


def test_passive_solids_beyond_the_volume_fraction_are_refused():
    data = mbb_data(20, 10)
    data["design"]["passive"] = [{"type": "solid", "box": {"x": [0, 14]}}]  # 70 % solid, limit 50 %
    assert build_error(data) == ("<string>: design.passive: the passive solids alone fill 0.7 of the "
                                 "volume, more than design.volume_fraction (0.5); no design can satisfy it")


def test_load_shares_on_fixed_nodes_are_a_warning_with_the_share():
    data = mbb_data(20, 10)
    data["supports"][0] = {"at": {"x": 0}, "fix": "all"}
    data["loads"] = [{"at": {"y": 10}, "force": [0.0, -1.0]}]  # 21 nodes, one of them clamped
    model = build(config_of(data))
    assert model.warnings == ["loads[0]: 4.8% of the load acts on fixed DOFs (supported nodes) "
                              "and is dropped"]


def test_filter_wider_than_the_domain_is_a_warning():
    model = build(config_of(mbb_data(20, 10, "density", radius=25.0)))
    assert [w.split(":")[0] for w in model.warnings] == ["design.filter.radius"]
    assert "uniform grey" in model.warnings[0]


def test_void_that_cuts_the_load_off_is_a_warning():
    data = mbb_data(20, 10)  # as a cantilever: clamped at x = 0, loaded at the far end
    data["supports"] = [{"at": {"x": 0}, "fix": "all"}]
    data["loads"] = [{"at": {"x": 20, "y": 0}, "force": [0.0, -1.0]}]
    data["design"]["passive"] = [{"type": "void", "box": {"x": [5, 6]}}]  # a slit from top to bottom
    model = build(config_of(data))
    assert model.warnings == ["design.passive: void regions cut 1 loaded node off from every "
                              "support; no material can carry those loads"]
    data["design"]["passive"] = [{"type": "void", "box": {"x": [5, 6], "y": [0, 5]}}]  # a notch only
    assert build(config_of(data)).warnings == []


def test_a_3d_result_without_solid_is_a_warning():
    data = {"mesh": {"grid": [6, 2, 2]}, "supports": [{"at": {"x": 0}, "fix": "all"}],
            "loads": [{"at": {"x": 6, "y": 0}, "force": [0, -1, 0]}],
            "design": {"volume_fraction": 0.2}, "optimizer": {"max_iterations": 1}}
    result = femopt.run(data)
    assert result.warnings and "no element with density above 0.5" in result.warnings[0]


# ---------------------------------------------------------------- mesh files: groups and facet loads


def plate_data(tmp_path, **kwargs):
    from test_meshfile import plate_msh, plate_problem

    return plate_problem(plate_msh(tmp_path / "plate.msh", **kwargs))


def test_loads_on_facet_groups_are_consistent_nodal_forces(tmp_path):
    data = plate_data(tmp_path)
    data["material"] = {"thickness": 2.0}
    data["loads"] = [{"at": {"group": "tip"}, "traction": [0.0, -1.0]}]
    selections = []
    problem = build_problem(config_of(data), selections=selections)
    mesh = problem.mesh
    forces = problem.forces[:, 0].reshape(-1, 2)
    tip = mesh.node_groups["tip"]
    assert forces[:, 1].sum() == pytest.approx(-1.0 * 1.0 * 2.0)  # traction × length × thickness
    ends = np.isin(tip, mesh.select_nodes([("y", 0, 0)])) | np.isin(tip, mesh.select_nodes([("y", 1, 1)]))
    np.testing.assert_allclose(forces[tip[ends], 1], -0.25)   # half a segment each
    np.testing.assert_allclose(forces[tip[~ends], 1], -0.5)
    assert selections[-1] == ("loads[0]", "4 facets, 5 nodes, traction [0, -1]")

    # a total force on the facet group: the same uniform traction, scaled to the total
    data["loads"] = [{"at": {"group": "tip"}, "force": [0.0, -6.0]}]
    selections = []
    np.testing.assert_allclose(build_problem(config_of(data), selections=selections).forces,
                               problem.forces * 3.0)
    assert selections[-1] == ("loads[0]", "4 facets, 5 nodes, force [0, -6] as the traction [0, -3]")

    # pressure pushes into the body: down on the top edge, its resultant p × length × thickness
    data["loads"] = [{"at": {"group": "top", "x": [0, 2]}, "pressure": 0.5}]
    forces = build_problem(config_of(data)).forces[:, 0].reshape(-1, 2)
    assert forces[:, 1].sum() == pytest.approx(-0.5 * 2.0 * 2.0) and abs(forces[:, 0]).max() < 1e-15
    assert np.all(mesh.node_coords[np.flatnonzero(forces[:, 1]), 0] <= 2.0)


def test_groups_and_coordinates_intersect(tmp_path):
    data = plate_data(tmp_path)
    data["supports"] = [{"at": {"group": "clamp", "y": [0, 0.5]}, "fix": "all"},
                        {"at": {"group": "corner"}, "fix": ["x"]}]
    data["loads"] = [{"at": {"group": "tip", "y": 1}, "nodal_force": [0.0, -1.0]}]
    problem = build_problem(config_of(data))
    mesh = problem.mesh
    clamped = np.unique(problem.fixed_dofs // 2)
    np.testing.assert_allclose(mesh.node_coords[clamped], [[0, 0], [0, 0.25], [0, 0.5]])
    loaded = np.flatnonzero(problem.forces[:, 0])
    np.testing.assert_array_equal(mesh.node_coords[loaded // 2], [[4.0, 1.0]])


@pytest.mark.parametrize("change, message", [
    (lambda d: d["loads"][0]["at"].update(group="tipp"),
     "loads[0].at.group: unknown group 'tipp' (did you mean 'tip'? the mesh has: clamp, corner, pad, tip, top)"),
    (lambda d: d["supports"][0]["at"].update(group="nothing"),
     "supports[0].at.group: unknown group 'nothing' (the mesh has: clamp, corner, pad, tip, top)"),
    (lambda d: d["loads"][0]["at"].update(group="corner"),
     "loads[0].at.group: group 'corner' holds nodes only; this needs a group of facets (lines in 2D, faces in 3D)"),
    (lambda d: d["loads"][1]["at"].update(group="pad"),
     "loads[1].at.group: group 'pad' holds cells; this needs a group of facets (lines in 2D, faces in 3D)"),
    (lambda d: d["design"]["passive"][0].update(group="tip"),
     "design.passive[0].group: group 'tip' holds facets; this needs a group of cells"),
    (lambda d: d["loads"][0]["at"].update(x=1),
     "loads[0].at: selects no facet (group 'tip', x=1; the mesh spans x in [0, 4], y in [0, 1])"),
    (lambda d: d["supports"][0]["at"].update(x=1),
     "supports[0].at: selects no node (group 'clamp', x=1; the mesh spans x in [0, 4], y in [0, 1])"),
])
def test_group_mistakes_name_their_key_and_the_groups(tmp_path, change, message):
    data = plate_data(tmp_path)
    change(data)
    assert build_error(data) == f"<string>: {message}"


def test_a_group_on_a_grid_and_an_interior_facet_group(tmp_path):
    import meshio
    from test_meshfile import plate_mesh

    data = mbb_data(6, 2)
    data["supports"][0]["at"] = {"group": "left"}
    assert build_error(data) == ("<string>: supports[0].at.group: unknown group 'left' (the mesh has no named "
                                 "groups; a generated grid never has any)")
    raw = plate_mesh()
    middle = raw.cells[1].data[:1].copy() + 5  # a vertical segment at x = 0.5, inside the plate
    raw.cells.append(meshio.CellBlock("line", middle))
    raw.cell_data["gmsh:physical"].append(np.array([9]))
    raw.cell_data["gmsh:geometrical"].append(np.array([1]))
    raw.field_data["middle"] = np.array([9, 1])
    meshio.write(tmp_path / "middle.msh", raw, file_format="gmsh22", binary=False)
    data = plate_data(tmp_path)
    data["mesh"]["file"] = str(tmp_path / "middle.msh")
    data["loads"][0]["at"]["group"] = "middle"
    assert build_error(data).startswith("<string>: loads[0].at.group: facet 0 (nodes ")
    assert build_error(data).endswith("is not a boundary facet of the mesh: two cells share it (an interior facet)")


def test_memory_estimate_counts_the_file_mesh(tmp_path):
    from femopt.build import memory_estimate
    from femopt.solvers.memory import estimate_memory

    estimate = memory_estimate(config_of(plate_data(tmp_path)))
    # 2D, 64 triangles, 45 nodes (the orphan dropped), 3 nodes per cell
    assert estimate == estimate_memory(2, 64, 45, 3, estimate.solver, n_cases=1)
