import sys, json, numpy as np, femopt
from femopt.stress import Stress, CentreStress, included_elements
out = sys.argv[1]; cfg = sys.argv[2]
d = np.load(out + "/result.npz")
model = femopt.prepare(cfg)
p = model.problem
st = [c.response for c in model.constraints if isinstance(c.response, Stress)]
st = st[0] if st else Stress(CentreStress(p.mesh, p.E, p.nu, p.dofmap.element_dofs), 8, 0.5, included_elements(p, p.mesh.select_nodes([("x", 100, 100), ("y", 30, 40)])))
print("max", st.maximum(d["rho"], d["u"]), "volume", femopt.topopt.Evaluator.volume if False else None)
import csv
rows = list(csv.DictReader(open(out + "/history.csv")))
print(rows[-1], len(rows))
print([ (r["iteration"], r["objective"][:6], r["change"][:5]) for r in rows[::25]])
