"""Heat conduction (physics: heat): conduction matrices, heat inputs, the 99-line code's
heat example, gradients, solvers, outputs and bad input."""

import json

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

import femopt
from femopt.build import build_problem
from femopt.cli import main
from femopt.errors import SingularStiffnessError
from femopt.fem.heat import conduction_matrices, source_integrals
from femopt.fem.loads import facet_flux, facet_measure, source_heat
from femopt.mesh import StructuredMesh
from femopt.fem.problem import Problem, check_fixed_temperature
from femopt.solvers import make_solver
from femopt.solvers.iterative import near_null_space
from femopt.loop.evaluator import Evaluator

from helpers import CONFIGS, config_error, write_yaml
import mesh_helpers
from mesh_helpers import as_general, boundary_facets, dense_global

CASES = {"Q4": (4, 3), "T3": (4, 3), "H8": (3, 2, 2), "T4": (2, 2, 2), "T6": (3, 2), "T10": (2, 1, 1)}


def general_mesh(name, amount=0.25, seed=0):
    return mesh_helpers.general_mesh(name, CASES[name], amount, seed)


def global_matrix(mesh, ke):
    return dense_global(mesh, ke, 1)


def heat_data(grid=(20, 20), **design):
    """A small plate: heat on every node, temperature 0 on a piece of the left edge."""
    nx, ny = grid[:2]
    return {"physics": "heat", "mesh": {"grid": list(grid)}, "material": {"k": 1.0, "kmin": 0.001},
            "supports": [{"at": {"x": 0, "y": [0.4 * ny, 0.6 * ny]}, "fix": ["t"]}],
            "loads": [{"at": {"x": [0, nx]}, "nodal_heat": 0.01}],
            "design": {"volume_fraction": 0.4, "filter": {"type": "density", "radius": 1.5}, **design}}


# ---------------------------------------------------------------- element matrices


def test_unit_square_conduction_is_the_99_line_codes_KE():
    KE = np.array([[2 / 3, -1 / 6, -1 / 3, -1 / 6], [-1 / 6, 2 / 3, -1 / 6, -1 / 3],
                   [-1 / 3, -1 / 6, 2 / 3, -1 / 6], [-1 / 6, -1 / 3, -1 / 6, 2 / 3]])
    np.testing.assert_allclose(conduction_matrices(StructuredMesh((2, 2), (2.0, 2.0))), KE, atol=1e-15)
    # a box: conduction scales as h_y/h_x along x; the thickness multiplies it
    box = conduction_matrices(StructuredMesh((1, 1), (2.0, 1.0)), thickness=3.0)
    np.testing.assert_allclose(box, 3 * conduction_matrices(as_general(StructuredMesh((1, 1), (2.0, 1.0))))[0])


@pytest.mark.parametrize("name", list(CASES))
def test_conduction_matches_scikit_fem(name):
    skfem = pytest.importorskip("skfem")
    from skfem.models.poisson import laplace, unit_load
    mesh = general_mesh(name)
    element, mesh_type = {
        "Q4": (skfem.ElementQuad1, skfem.MeshQuad), "T3": (skfem.ElementTriP1, skfem.MeshTri),
        "H8": (skfem.ElementHex1, skfem.MeshHex), "T4": (skfem.ElementTetP1, skfem.MeshTet),
        "T6": (skfem.ElementTriP2, skfem.MeshTri), "T10": (skfem.ElementTetP2, skfem.MeshTet)}[name]
    corners = mesh.cell_type.n_corners
    reference = mesh.cell_type.reference_nodes[:corners]
    reference = (reference + 1) / 2 if name in ("Q4", "H8") else reference
    order = [int(np.flatnonzero(np.all(reference == p, axis=1))[0]) for p in element.doflocs[:len(reference)]]
    used = np.unique(mesh.cells[:, :corners])   # scikit-fem's mesh: the corner nodes only
    renumber = np.full(mesh.n_nodes, -1)
    renumber[used] = np.arange(len(used))
    sk_mesh = mesh_type(mesh.node_coords[used].T, renumber[mesh.cells[:, :corners]][:, order].T)
    # Q4, H8: 2-point Gauss per axis, as femopt (distorted cells make the integrand rational)
    basis = skfem.Basis(sk_mesh, element(), intorder=3 if name in ("Q4", "H8") else 4)
    K_sk = skfem.asm(laplace, basis).toarray()
    f_sk = skfem.asm(unit_load, basis)
    # femopt's node of each scikit-fem DOF: by position (straight-sided cells: midpoints are where both put them)
    sk_points = basis.doflocs.T
    node = [int(np.argmin(np.linalg.norm(mesh.node_coords - p, axis=1))) for p in sk_points]
    assert np.allclose(mesh.node_coords[node], sk_points, atol=1e-12)
    K = global_matrix(mesh, conduction_matrices(mesh))
    np.testing.assert_allclose(K[np.ix_(node, node)], K_sk, atol=1e-12 * np.abs(K).max())
    f = np.bincount(mesh.cells.ravel(), source_integrals(mesh).ravel(), minlength=mesh.n_nodes)
    np.testing.assert_allclose(f[node], f_sk, atol=1e-13)


@pytest.mark.parametrize("name", list(CASES))
def test_linear_temperature_patch_test(name):
    """A linear temperature T = g·x conducts no net heat out of interior nodes and stores
    |g|² V exactly, on distorted cells; the constant is the matrices' only null vector."""
    mesh = general_mesh(name, amount=0.3, seed=2)
    ke = conduction_matrices(mesh)
    eigenvalues = np.linalg.eigvalsh(ke)
    assert np.all(np.abs(eigenvalues[:, 0]) < 1e-12) and np.all(eigenvalues[:, 1:] > 1e-3)
    g = np.random.default_rng(3).standard_normal(mesh.dim)
    T = mesh.node_coords @ g
    K = global_matrix(mesh, ke)
    lower, upper = mesh.bounds
    interior = np.all((mesh.node_coords > lower + 1e-9) & (mesh.node_coords < upper - 1e-9), axis=1)
    assert interior.any()
    np.testing.assert_allclose((K @ T)[interior], 0, atol=1e-12)
    assert T @ K @ T == pytest.approx(g @ g * mesh.element_volumes.sum(), rel=1e-12)


# ---------------------------------------------------------------- heat inputs


@pytest.mark.parametrize("name", ["Q4", "T6", "H8", "T10"])
def test_flux_and_source_are_consistent(name):
    mesh = general_mesh(name)
    right = boundary_facets(mesh, lambda c: c[:, 0] > mesh.bounds[1][0] - 1e-9)
    heat = facet_flux(mesh, right, 2.5)
    assert heat.sum() == pytest.approx(2.5 * facet_measure(mesh, right))
    assert np.all(heat[np.setdiff1d(np.arange(mesh.n_nodes), right)] == 0)
    # the consistent shares of a flux are those of a traction along x
    from femopt.fem.loads import facet_forces
    traction = np.eye(mesh.dim)[0] * 2.5
    np.testing.assert_allclose(heat, facet_forces(mesh, right, traction=traction)[:, 0], atol=1e-14)
    cells = np.arange(0, mesh.n_elements, 2)
    source = source_heat(mesh, cells, 3.0)
    assert source.sum() == pytest.approx(3.0 * mesh.element_volumes[cells].sum())
    if name == "T6":  # a quadratic triangle's corners get nothing of a uniform source
        lone = source_heat(mesh, [0], 1.0)
        np.testing.assert_allclose(lone[mesh.cells[0, :3]], 0, atol=1e-15)
        np.testing.assert_allclose(lone[mesh.cells[0, 3:]], mesh.element_volumes[0] / 3)


def test_heat_source_on_a_grid_and_on_the_same_mesh_as_cells():
    data = heat_data((6, 4))
    data["loads"] = [{"heat_source": 2.0}, {"at": {"x": [0, 3]}, "heat_source": 1.0}]
    problem = build_problem(femopt.load_config(data))
    # 2 per unit area everywhere, 1 more in the left half (x ≤ 3): 2·24 + 1·12
    assert problem.forces.shape == (35, 1) and problem.forces.sum() == pytest.approx(60.0)
    nodes = problem.mesh.select_nodes([("x", 6.0, 6.0), ("y", 1.0, 3.0)])
    np.testing.assert_allclose(problem.forces[nodes, 0], 1.0)   # a quarter of 2 from each of 2 cells
    general = as_general(problem.mesh)
    np.testing.assert_allclose(source_heat(general, np.arange(24), 2.0) + source_heat(general, np.arange(12), 1.0),
                               problem.forces[:, 0])


# ---------------------------------------------------------------- the reference


def test_the_99_line_codes_heat_example():
    """top(40, 40, 0.4, 3, 1.2) of the 99-line code's heat extension, under GNU Octave:
    3875.2977687 at the uniform start, 447.9944 after 80 iterations (its convergence).
    With the 99-line code's OC (variant top99) femopt follows the same iterates; the
    88-line code's bisection ends within 0.05 % of it."""
    objectives = []
    result = femopt.run(CONFIGS / "heat_plate.yaml", callback=lambda record: objectives.append(record.objective))
    assert objectives[0] == pytest.approx(3875.2977687, rel=1e-9, abs=0)
    assert result.iterations == 80 and result.status == "converged"
    assert result.objective == pytest.approx(447.9944, abs=1e-4)
    data = yaml.safe_load((CONFIGS / "heat_plate.yaml").read_text())
    data["optimizer"]["variant"] = "top88"
    top88 = femopt.run(data)
    assert top88.objective == pytest.approx(447.9944, rel=1e-2)
    assert top88.objective != pytest.approx(447.9944, abs=1e-3)   # the variant does change the path


def test_thermal_compliance_is_the_heat_times_the_temperature():
    model = femopt.prepare(heat_data((10, 10)))
    evaluation = model.evaluator()(model.x0)
    problem = model.problem
    assert evaluation.u.shape == (121, 1)
    assert np.all(evaluation.u[problem.fixed_dofs] == 0) and np.all(evaluation.u >= 0)
    assert evaluation.objective == pytest.approx(float(problem.forces[:, 0] @ evaluation.u[:, 0]), rel=1e-14)


@pytest.mark.parametrize("solver", ["amg", "superlu"])
def test_solvers_agree_and_amg_uses_the_constant(solver):
    model = femopt.prepare(heat_data((16, 12)))
    direct = model.evaluator()(model.x0)
    other = femopt.prepare(heat_data((16, 12)), solver=solver)
    if solver == "amg":
        assert other.solver.near_null_space.shape == (len(model.problem.free_dofs), 1)
        assert np.all(other.solver.near_null_space == 1)
    evaluation = other.evaluator()(other.x0)
    assert evaluation.objective == pytest.approx(direct.objective, rel=1e-7)
    np.testing.assert_allclose(evaluation.gradient, direct.gradient, rtol=1e-5, atol=1e-8 * np.abs(direct.gradient).max())


def test_near_null_space_by_components():
    coords = StructuredMesh((2, 1), (2.0, 1.0)).node_coords
    assert near_null_space(coords, np.arange(4)).shape == (4, 3)            # 2D elasticity on 4 DOFs
    np.testing.assert_array_equal(near_null_space(coords, np.arange(5), components=1), np.ones((5, 1)))


def test_general_mesh_gives_the_grids_result():
    """The same plate as a general Q4 mesh: element matrices per cell, neighbour filters."""
    grid_model = femopt.prepare(heat_data((10, 8)))
    problem = grid_model.problem
    mesh = as_general(problem.mesh)
    general = Problem(mesh, conduction_matrices(mesh), problem.fixed_dofs, problem.forces, 1.0, 0.001,
                      components=1)
    from femopt.design import DensityFilter, SIMP
    evaluator = Evaluator(general, make_solver(), filter=DensityFilter(mesh, 1.5), material=SIMP(1.0, 0.001, 3.0))
    x = np.random.default_rng(0).uniform(0.2, 0.9, mesh.n_elements)
    a, b = grid_model.evaluator()(x), evaluator(x)
    assert b.objective == pytest.approx(a.objective, rel=1e-12)
    np.testing.assert_allclose(b.gradient, a.gradient, rtol=1e-10)


def test_no_fixed_temperature_is_singular():
    with pytest.raises(SingularStiffnessError, match="no temperature is fixed"):
        check_fixed_temperature(np.zeros(0, int))
    check_fixed_temperature(np.array([3]))   # one node is enough


# ---------------------------------------------------------------- gradients, outputs, command line


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_check_grad_on_a_heat_problem_with_projection_and_passive_regions(tmp_path):
    """Every design stage works unchanged on a scalar field: a density filter, projection,
    passive solid and void, MMA with a compliance constraint and a heat source."""
    data = heat_data((14, 10), projection={"beta": 4.0, "eta": 0.5},
                     passive=[{"type": "solid", "box": {"x": [0, 2], "y": [4, 6]}},
                              {"type": "void", "circle": {"center": [10, 5], "radius": 1.5}}])
    data["loads"].append({"heat_source": 0.02})
    data["objective"] = "volume"
    data["constraints"] = [{"type": "compliance", "limit": 50.0}]
    data["optimizer"] = {"type": "mma"}
    result = invoke("check-grad", write_yaml(tmp_path, data), "--samples", "3")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].startswith("Taylor test ok")


def test_run_writes_the_temperature(tmp_path):
    out = tmp_path / "out"
    result = invoke("run", write_yaml(tmp_path, heat_data((12, 8))), "-o", out, "--max-iterations", "3", "-q")
    assert result.exit_code == 0, result.output
    assert {"density.png", "temperature.png", "result.npz", "summary.json"} <= {p.name for p in out.iterdir()}
    arrays = np.load(out / "result.npz")
    assert "u" not in arrays and arrays["temperature"].shape == (13 * 9, 1)
    assert json.loads((out / "summary.json").read_text())["physics"] == "heat"
    # a second run replaces the first: temperature.png is femopt's own file
    assert invoke("run", write_yaml(tmp_path, heat_data((12, 8))), "-o", out, "--max-iterations", "2", "-q").exit_code == 0


def test_a_3d_result_holds_the_temperature_in_its_vtu(tmp_path):
    meshio = pytest.importorskip("meshio")
    data = heat_data((6, 4, 3))
    data["supports"] = [{"at": {"x": 0}, "fix": "all"}]
    data["loads"] = [{"heat_source": 1.0}]
    out = tmp_path / "out"
    femopt.run(data, out, max_iterations=2)
    vtu = meshio.read(out / "density.vtu")
    assert set(vtu.point_data) == {"temperature"} and "von_mises" not in vtu.cell_data
    np.testing.assert_allclose(vtu.point_data["temperature"], np.load(out / "result.npz")["temperature"][:, 0])


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("change, key, words", [
    (lambda d: d["supports"][0].update(fix=["x"]), "supports[0].fix[0]", "one component, the temperature t"),
    (lambda d: d["supports"][0].update(fix="y"), "supports[0].fix", "one component, the temperature t"),
    (lambda d: d["loads"].append({"at": {"x": 0}, "nodal_force": [0, 1]}), "loads[1].nodal_force",
     "no meaning with physics: heat"),
    (lambda d: d["loads"].append({"at": {"x": 0}, "force": [0, 1]}), "loads[1].force", "no meaning"),
    (lambda d: d["material"].update(E=2.0), "material.E", "applies to physics: elasticity only"),
    (lambda d: d["material"].update(kmin=1.0), "material.kmin", "must be smaller than k"),
    (lambda d: d["loads"].append({"at": {"x": 0}, "flux": 1.0}), "loads[1].at", "give a facet group"),
    (lambda d: d["loads"].append({"at": {"x": 0}, "heat": 1.0, "nodal_heat": 1.0}), "loads[1]", "exactly one"),
    (lambda d: d["loads"].append({"heat": 1.0}), "loads[1]", "missing required key 'at'"),
    (lambda d: d.update(springs=[{"at": {"x": 0}, "component": "x", "stiffness": 1.0}]), "springs", "has none"),
    (lambda d: d.update(objective={"type": "displacement", "at": {"x": 0}, "component": "x"}),
     "objective.type", "needs displacements"),
    (lambda d: d.update(physics="thermal"), "physics", "must be one of elasticity, heat"),
])
def test_bad_heat_input_is_one_line_naming_the_key(change, key, words):
    data = heat_data()
    change(data)
    message = config_error(data)
    assert f"p.yaml: {key}: " in message and words in message, message


@pytest.mark.parametrize("change, key, words", [
    (lambda d: d["supports"][0].update(fix=["t"]), "supports[0].fix[0]", "temperature of physics: heat"),
    (lambda d: d["loads"][0].update(nodal_heat=1.0), "loads[0].nodal_heat", "applies to physics: heat only"),
    (lambda d: d.update(material={"k": 1.0}), "material.k", "applies to physics: heat only"),
])
def test_heat_keys_in_an_elasticity_problem(change, key, words):
    data = {"mesh": {"grid": [4, 2]}, "supports": [{"at": {"x": 0}, "fix": "all"}],
            "loads": [{"at": {"x": 4}, "force": [0, -1]}], "design": {"volume_fraction": 0.5}}
    change(data)
    message = config_error(data)
    assert f"p.yaml: {key}: " in message and words in message, message


@pytest.mark.parametrize("change", [lambda d: d["supports"][0].update(fix=["x"]),
                                    lambda d: d["loads"][0].update(nodal_force=[0.0, 1.0])])
def test_command_line_rejects_bad_heat_input_with_exit_code_2(tmp_path, change):
    data = heat_data()
    change(data)
    result = invoke("run", write_yaml(tmp_path, data), "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and result.output.count("\n") == 1, result.output
    assert not (tmp_path / "out").exists()


def test_a_mesh_file_with_flux_on_a_facet_group_and_a_source_in_a_cell_group(tmp_path):
    from test_meshfile import plate_msh
    data = {"physics": "heat", "mesh": {"file": str(plate_msh(tmp_path / "plate.msh"))},
            "material": {"k": 2.0, "kmin": 0.002, "thickness": 0.5},
            "supports": [{"at": {"group": "clamp"}, "fix": ["t"]}],
            "loads": [{"at": {"group": "tip"}, "flux": 2.0}, {"at": {"group": "pad"}, "heat_source": 3.0}],
            "design": {"volume_fraction": 0.5, "filter": {"type": "density", "radius": 0.6}},
            "optimizer": {"max_iterations": 3}}
    problem = build_problem(femopt.load_config(data))
    # tip: length 1, pad: area 0.5 (the last column of the 4 × 1 plate), both times the thickness
    assert problem.forces.sum() == pytest.approx(0.5 * (2.0 * 1.0 + 3.0 * 0.5))
    assert (problem.E, problem.Emin) == (2.0, 0.002)
    result = femopt.run(data, tmp_path / "out")
    assert {"density.vtu", "temperature.png"} <= {p.name for p in (tmp_path / "out").iterdir()}
    assert result.objective > 0 and np.all(result.u[problem.fixed_dofs] == 0)


def test_oc_top99_keeps_the_99_line_codes_floor():
    from femopt.optimizers import OC
    x = np.full(10, 0.01)
    gradient = -np.r_[np.full(5, 1e-6), np.full(5, 1.0)]   # half of the elements want to empty
    args = (x, 1.0, gradient, np.array([0.0]), np.full((1, 10), 0.1 / 0.01))
    assert OC(variant="top88").step(*args).min() < 1e-3
    assert OC(variant="top99").step(*args).min() == 1e-3


def test_a_heat_source_where_no_cell_is_names_the_key():
    data = heat_data((6, 4))
    data["loads"] = [{"at": {"x": [5.8, 7]}, "heat_source": 1.0}]
    with pytest.raises(femopt.ConfigError, match=r"loads\[0\]\.at: contains no cell center \(x in \[5.8, 7\]"):
        build_problem(femopt.load_config(data))


def test_auto_sizes_up_a_heat_problem_without_failing():
    """One free DOF per node (18,410 of the heat sink's 55,473 displacement DOFs): the
    factor is then too small to be part of the estimated peak, and auto still decides."""
    from femopt.solvers import memory
    assert memory.choose_solver(3, 16_000, 18_491, 8, available=64e9, n_free=18_410) == "cholmod"
    assert femopt.prepare(CONFIGS / "heat_sink3d.yaml").solver.name in ("cholmod", "superlu")


@pytest.mark.parametrize("filter_type, optimizer", [("helmholtz", "lbfgs"), ("sensitivity", "oc"), ("none", "mma")])
def test_every_filter_and_optimizer_lowers_the_thermal_compliance(filter_type, optimizer):
    data = heat_data((12, 10), filter={"type": filter_type, "radius": 1.5})
    data["optimizer"] = {"type": optimizer, "max_iterations": 4}
    if optimizer == "lbfgs":
        data["optimizer"]["inner_iterations"] = 5
    history = []
    femopt.run(data, callback=lambda record: history.append(record))
    assert history[-1].objective < 0.8 * history[0].objective
    assert history[-1].volume == pytest.approx(0.4, abs=0.02)
