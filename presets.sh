export PYTHONPATH=/tmp/hdsprites/src OMP_NUM_THREADS=1
for m in vae beta_vae annealed_vae beta_tcvae factor_vae dip_vae_i dip_vae_ii; do
  /work/main/.venv/bin/python -m shadowplay train --data dsprites --model $m --runs-dir /tmp/hdsprites/runs/presets --name $m --overwrite --no-progress data.n_samples=2000 trainer.max_steps=40 trainer.log_every=5 --batch-size 64 > /tmp/hdsprites/runs/presets-$m.log 2>&1
  echo "$m rc=$?"
done
