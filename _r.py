import sys, time, numpy as np, femopt
sys.path.insert(0, "/tmp/st")
from g import lbracket
n = int(sys.argv[1]); limit = float(sys.argv[2])
d = lbracket(n)
d["constraints"][0]["limit"] = limit
d["design"]["filter"]["radius"] = float(sys.argv[3])
d["optimizer"] = {"type": "mma", "move": float(sys.argv[5]) if len(sys.argv) > 5 else 0.1, "max_iterations": int(sys.argv[4]), "tolerance": 0.002}
t = time.time()
model = femopt.prepare(d)
ev = model.evaluator()
st = model.constraints[0].response
def cb(rec):
    e = ev._last[1]
    if rec.iteration % 10 == 0 or rec.iteration < 6:
        print(rec.iteration, round(rec.objective,4), e.constraints, round(rec.change,3), st.maximum(e.rho, e.u), round(st.normalization, 3))
r = femopt.optimize(ev, model.optimizer, model.x0, max_iterations=model.config.optimizer.max_iterations, tolerance=0.002, callback=cb)
print("time", time.time()-t, r.iterations, r.status, "volume", r.volume, "max", st.maximum(r.rho, r.u), "c", st.normalization, r.responses)
np.save("/tmp/st/rho.npy", r.rho)
