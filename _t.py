import sys, numpy as np, femopt
sys.path.insert(0, "/tmp/st")
from g import lbracket
from femopt.stress import Stress, CentreStress, included_elements
n = int(sys.argv[1]); vol = float(sys.argv[2])
d = lbracket(n)
d["design"]["filter"]["radius"] = float(sys.argv[3])
d["design"]["volume_fraction"] = vol
del d["objective"]; del d["constraints"]
d["optimizer"] = {"type": "oc", "move": 0.2, "max_iterations": 500, "tolerance": 0.002}
model = femopt.prepare(d)
r = femopt.run(model)
p = model.problem
excl = p.mesh.select_nodes([("x", 100, 100), ("y", 30, 40)])
st = Stress(CentreStress(p.mesh, p.E, p.nu, p.dofmap.element_dofs), 8, 0.5, included_elements(p, excl))
print(r.iterations, r.status, r.volume, r.objective, st.maximum(r.rho, r.u))
np.save("/tmp/st/rho_c.npy", r.rho)
