import shadowplay as sp
run = sp.train(data="dsprites", model="factor_vae", tc_weight=20, runs_dir="/tmp/hdsprites/runs", name="snip", overrides=["data.n_samples=600", "trainer.max_steps=5"], progress=False)
print(type(run), run.path)
ev = sp.evaluate(run, metrics="all", iw_samples=1, metric_options={"beta_vae": {"n_train": 40, "n_eval": 20}, "factor_vae": {"n_train": 40, "n_eval": 20}, "dci": {"n_estimators": 3}}, progress=False)
print(sorted(ev.document["metrics"]))
t = sp.traverse(run, dims="all", range_=3, steps=11, mode="prior"); print(t.path)
t = sp.traverse(run, mode="posterior-quantile", inputs=[17]); print(t.path)
i = sp.interpolate(run, start=3, end=42, steps=10, path="slerp"); print(i.path)
print(sp.report(run))
model = sp.load(run)
import torch
x = torch.rand(4, 1, 64, 64).round()
z = model.encode(x).mean; print(z.shape, model.decode(z).mean.shape, model.sample(8).shape)
