import time, numpy as np
from shadowplay.metrics import dci, sap, modularity_explicitness, mig, unsupervised_metrics
rng = np.random.default_rng(0)
n = 2000
f = np.c_[rng.integers(0,3,n), rng.integers(0,6,n), rng.integers(0,40,n), rng.integers(0,32,n), rng.integers(0,32,n)]
c = rng.standard_normal((n, 10)); c[:, 0] += f[:, 3] * 0.1
for name, fn in [("mig", lambda: mig(c, f)), ("sap", lambda: sap(c, f)), ("mod", lambda: modularity_explicitness(c, f)), ("uns", lambda: unsupervised_metrics(c)), ("dci10", lambda: dci(c, f, n_estimators=10))]:
    t = time.time(); fn(); print(name, round(time.time() - t, 1), flush=True)
