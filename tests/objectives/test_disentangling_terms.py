"""Numeric tests of the disentangling terms against brute-force or independent computations.

- β-TCVAE: both estimators of log q(z) against exact expectations over every possible minibatch of a tiny
  dataset (N = 9 and N = 4 posteriors), and the telescoping identity MI + TC + dim-wise KL = log q(z|x) − log p(z).
- DIP-VAE: the covariance and both penalties against numpy.
- FactorVAE: the TC estimate against the log-odds formula with a fixed discriminator, the permutation keeps each
  column's values, and the two players' gradients stay apart.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from scipy.stats import norm
from torch.distributions import Normal

from shadowplay.errors import ConfigError
from shadowplay.model import ModelOutput
from shadowplay.objectives import PresetParams, StepContext, build_preset
from shadowplay.objectives.terms.dip import DIPPenalty, dip_covariance
from shadowplay.objectives.terms.factor_tc import DiscriminatorTC, permute_dims
from shadowplay.objectives.terms.tc import BetaTCVAE, estimate_log_qz, mss_log_weights, pairwise_log_density

L = 2


@pytest.fixture(autouse=True)
def _float64():
    """Exact comparisons in double precision; the default dtype is restored for the rest of the suite."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _posteriors(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, L, generator=g), 0.3 + torch.rand(n, L, generator=g)


def _q(z: np.ndarray, mu: torch.Tensor, sd: torch.Tensor) -> np.ndarray:
    """``(N, L)`` q(z_l | n) for one point z, with scipy (independent of torch's Normal)."""
    return norm.pdf(z[None, :], mu.numpy(), sd.numpy())


def _estimate(rows: list[int], z: torch.Tensor, mu, sd, n: int, estimator: str) -> tuple[float, np.ndarray]:
    """Row 0's estimate of q(z) and of q(z_l) for the batch ``rows`` whose first sample is ``z``."""
    zb = torch.cat([z[None], mu[rows[1:]]])  # other rows' samples are irrelevant to row 0
    log_q = pairwise_log_density(zb, Normal(mu[rows], sd[rows]))
    joint, marg = estimate_log_qz(log_q, n, estimator)
    return math.exp(joint[0]), np.exp(marg[0].numpy())


def test_mss_weights_put_one_over_n_on_the_diagonal():
    w = mss_log_weights(5, 100).exp()
    assert torch.allclose(torch.diagonal(w), torch.full((5,), 0.01))
    assert torch.allclose(w.sum(1), torch.ones(5))
    m = 4
    for i in range(5):
        assert math.isclose(float(w[i, (i + 1) % 5]), (100 - m) / (100 * m))


def test_mss_is_unbiased_over_every_stratified_minibatch():
    """N = 9, B = 4 (M = 3): the 8 other examples fall in strata of 3, 3 and 2; averaging the estimate over all
    3·3·2 stratified draws gives q(z) = (1/N) Σ_n q(z|n) exactly (Chen et al. 2018, appendix C.2)."""
    n = 9
    mu, sd = _posteriors(n, 0)
    star = 4
    z = mu[star] + sd[star] * torch.tensor([0.7, -1.2])
    q_all = _q(z.numpy(), mu, sd)                       # (N, L)
    exact_joint, exact_marg = q_all.prod(1).mean(), q_all.mean(0)
    others = [i for i in range(n) if i != star]
    big1, big2, small = others[:3], others[3:6], others[6:]
    joint, marg = [], []
    for a, b, c in itertools.product(big1, big2, small):
        j, m = _estimate([star, c, a, b], z, mu, sd, n, "mss")  # column 1 = (0 + 1) mod B holds the small stratum
        joint.append(j)
        marg.append(m)
    assert np.isclose(np.mean(joint), exact_joint, rtol=1e-10)
    assert np.allclose(np.mean(marg, 0), exact_marg, rtol=1e-10)


def test_mws_matches_its_brute_force_expectation_and_is_a_lower_bound():
    """N = 4, B = 3: over all N^(B−1) batches holding n* and B−1 uniform draws, the mean of MWS's q̂(z) is
    (1/(N·B)) (q(z|n*) + (B−1) q(z)) (Chen et al. 2018, appendix C.1), which never exceeds q(z)."""
    n, b = 4, 3
    mu, sd = _posteriors(n, 1)
    star = 2
    z = mu[star] + sd[star] * torch.tensor([-0.4, 0.9])
    q_all = _q(z.numpy(), mu, sd)
    qz = q_all.prod(1).mean()
    est = [_estimate([star, *rest], z, mu, sd, n, "mws")[0] for rest in itertools.product(range(n), repeat=b - 1)]
    expected = (q_all[star].prod() + (b - 1) * qz) / (n * b)
    assert np.isclose(np.mean(est), expected, rtol=1e-10)
    assert np.mean(est) <= qz


def _output(mu: torch.Tensor, sd: torch.Tensor, seed: int = 0) -> ModelOutput:
    post = Normal(mu, sd)
    z = mu + sd * torch.randn(mu.shape, generator=torch.Generator().manual_seed(seed))
    prior = Normal(torch.zeros_like(z), torch.ones_like(z))
    return ModelOutput(x=torch.zeros(len(mu), 1), posterior=post, z=z, likelihood=None, prior=prior)


@pytest.mark.parametrize("estimator", ["mws", "mss"])
def test_tc_terms_telescope_to_the_sampled_kl(estimator):
    mu, sd = _posteriors(16, 2)
    out = _output(mu, sd)
    ctx = StepContext(dataset_size=1000)
    res = BetaTCVAE(estimator)(out, ctx)
    assert set(res.parts) == {"mi", "tc", "dwkl"}
    total = sum(float(v) for v in res.parts.values())
    sampled_kl = (out.posterior.log_prob(out.z) - out.prior.log_prob(out.z)).sum(1).mean()
    assert math.isclose(total, float(sampled_kl), rel_tol=1e-9, abs_tol=1e-9)
    closed = torch.distributions.kl_divergence(out.posterior, out.prior)  # (B, L): the logged diagnostics
    assert math.isclose(float(res.diagnostics["kl"]), float(closed.sum(1).mean()), rel_tol=1e-12)
    assert torch.allclose(res.diagnostics["kl_per_latent"], closed.mean(0))


@pytest.mark.parametrize("estimator", ["mws", "mss"])
def test_tc_parts_match_an_independent_computation(estimator):
    """Each part from its definition (Chen et al. 2018, eq. 2) with scipy densities and numpy log-sum-exp."""
    n_data, b = 50, 6
    mu, sd = _posteriors(b, 7)
    out = _output(mu, sd, seed=3)
    res = BetaTCVAE(estimator)(out, StepContext(dataset_size=n_data))
    z = out.z.numpy()
    logq = norm.logpdf(z[:, None, :], mu.numpy()[None], sd.numpy()[None])       # (B, B, L): row i sample, col j
    if estimator == "mws":
        logw = np.full((b, b), -math.log(n_data * b))
    else:
        m = b - 1
        w = np.full((b, b), 1.0 / m)
        for i in range(b):
            w[i, (i + 1) % b] = (n_data - m) / (n_data * m)
            w[i, i] = 1.0 / n_data
        logw = np.log(w)
    from scipy.special import logsumexp
    log_qz = logsumexp(logq.sum(2) + logw, axis=1)
    log_prod = logsumexp(logq + logw[:, :, None], axis=1).sum(1)
    log_own = np.array([logq[i, i].sum() for i in range(b)])
    log_pz = norm.logpdf(z).sum(1)
    expected = {"mi": np.mean(log_own - log_qz), "tc": np.mean(log_qz - log_prod), "dwkl": np.mean(log_prod - log_pz)}
    for k, v in expected.items():
        assert math.isclose(float(res.parts[k]), v, rel_tol=1e-9, abs_tol=1e-9), k


def test_tc_terms_refuse_a_dataset_smaller_than_the_batch():
    out = _output(*_posteriors(8, 3))
    with pytest.raises(ValueError, match="dataset_size"):
        BetaTCVAE("mss")(out, StepContext(dataset_size=1))
    with pytest.raises(ValueError, match="estimator"):
        BetaTCVAE("iwae")


@pytest.mark.parametrize("kind", ["i", "ii"])
def test_dip_covariance_and_penalties_match_numpy(kind):
    mu, sd = _posteriors(32, 4)
    c = np.cov(mu.numpy(), rowvar=False, bias=True)
    if kind == "ii":
        c = c + np.diag((sd.numpy() ** 2).mean(0))
    out = _output(mu, sd)
    assert np.allclose(dip_covariance(out.posterior, kind).numpy(), c, atol=1e-12)
    off = c - np.diag(np.diag(c))
    res = DIPPenalty(kind)(out, StepContext())
    assert set(res.parts) == {"dip_offdiag", "dip_diag"}
    assert math.isclose(float(res.parts["dip_offdiag"]), float((off ** 2).sum()), rel_tol=1e-10)
    assert math.isclose(float(res.parts["dip_diag"]), float(((np.diag(c) - 1) ** 2).sum()), rel_tol=1e-10)


def test_factor_tc_equals_the_log_odds_of_a_fixed_discriminator():
    torch.manual_seed(0)
    term = DiscriminatorTC(latent_dim=L, hidden=8, layers=2)
    out = _output(*_posteriors(20, 5))
    with torch.no_grad():
        p_q = torch.softmax(term.discriminator(out.z), 1)[:, 0].numpy()  # D(z): probability of "from q(z)"
    assert math.isclose(float(term(out, StepContext()).parts["factor_tc"]), float(np.mean(np.log(p_q / (1 - p_q)))),
                        rel_tol=1e-9)


def test_permute_dims_keeps_each_column_and_breaks_the_pairing():
    z = torch.arange(200.0).reshape(50, 4)
    p = permute_dims(z, torch.Generator().manual_seed(0))
    assert torch.equal(p.sort(0).values, z.sort(0).values)
    assert not torch.equal(p, z)
    assert len({tuple(r) for r in (p % 4 == torch.arange(4)).tolist()}) == 1  # still column k's values
    assert (p[:, 0] // 4 != p[:, 1] // 4).any()  # rows now mix different examples


def test_tc_gradient_reaches_the_encoder_but_not_the_discriminator_and_vice_versa():
    torch.manual_seed(1)
    term = DiscriminatorTC(latent_dim=L, hidden=8, layers=2)
    enc = torch.nn.Linear(3, 2 * L)
    h = enc(torch.randn(16, 3))
    post = Normal(h[:, :L], (0.5 * h[:, L:]).exp())
    out = ModelOutput(x=torch.zeros(16, 3), posterior=post, z=post.rsample(), likelihood=None,
                      prior=Normal(torch.zeros(16, L), torch.ones(16, L)))
    term(out, StepContext()).parts["factor_tc"].backward(retain_graph=True)
    assert enc.weight.grad is not None and enc.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in term.parameters())
    enc.weight.grad = None
    term.aux_loss(out, StepContext()).backward()
    assert enc.weight.grad is None
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in term.parameters())


def test_presets_read_their_options_and_reject_unknown_ones():
    tc = build_preset("beta_tcvae", PresetParams(beta=3.0, dimwise_kl_weight=2.0, extra={"alpha": 0.5, "estimator": "mws"}))
    assert tc.objective.weights(0) == {"recon": 1.0, "mi": 0.5, "tc": 3.0, "dwkl": 2.0}  # no weight-0 KL term
    assert list(tc.objective.terms) == ["recon", "beta_tc"] and tc.objective.terms["beta_tc"].estimator == "mws"
    fv = build_preset("factor_vae", PresetParams(tc_weight=10.0, latent_dim=3, extra={"disc_hidden": 16}))
    disc = fv.objective.terms["factor_tc"]
    assert fv.objective.weights(0)["factor_tc"] == 10.0 and disc.discriminator[0].in_features == 3
    assert disc.aux_lr == 1e-4 and disc.aux_betas == (0.5, 0.9) and len(disc.discriminator) == 13
    assert build_preset("dip_vae_i", PresetParams()).objective.weights(0) == {"recon": 1.0, "kl": 1.0,
                                                                              "dip_offdiag": 10.0, "dip_diag": 100.0}
    assert build_preset("dip_vae_ii", PresetParams(extra={"lambda_od": 5})).objective.weights(0)["dip_diag"] == 5.0
    with pytest.raises(ConfigError, match="not options of dip_vae_i"):
        build_preset("dip_vae_i", PresetParams(extra={"lambda": 1}))
    with pytest.raises(ConfigError, match="mws or mss"):
        build_preset("beta_tcvae", PresetParams(extra={"estimator": "exact"}))


def test_cli_flags_reach_the_disentangling_presets(tiny_flat, runs_dir, capsys):
    from shadowplay.cli import main
    from shadowplay.run import open_run
    from shadowplay.training import read_metrics
    torch.set_default_dtype(torch.float32)  # a real run (the autouse fixture restores the dtype afterwards)
    args = ["train", "--data", str(tiny_flat), "--model", "beta_tcvae", "--beta", "6", "--dimwise-kl-weight", "2",
            "--latent-dim", "3", "--runs-dir", str(runs_dir), "--name", "tc", "--no-progress",
            "model.hidden=[16]", "trainer.max_steps=3", "trainer.log_every=1", "objective.extra={estimator: mws}"]
    assert main(args) == 0
    cfg = open_run(runs_dir / "tc").config
    assert (cfg.model.preset, cfg.objective.beta, cfg.objective.dimwise_kl_weight) == ("beta_tcvae", 6.0, 2.0)
    last = [r for r in read_metrics(runs_dir / "tc") if r["split"] == "train"][-1]
    assert {"mi", "tc", "dwkl", "kl"} <= set(last) and last["weight/tc"] == 6.0 and last["weight/dwkl"] == 2.0
    assert main(["train", "--data", str(tiny_flat), "--model", "dip_vae_ii", "--runs-dir", str(runs_dir),
                 "objective.extra={lambda: 3}"]) == 2
    assert "not options of dip_vae_ii" in capsys.readouterr().err


def test_mws_bias_lies_between_minus_log_n_and_minus_log_b_by_posterior_overlap():
    """The MWS docstring's claim, at its two ends: N = 50 examples, a batch of B = 5.

    Identical posteriors (complete overlap): log q̂(z) − log q(z) = −log N exactly. Posteriors 100 σ apart (no
    overlap): −log B. So the bias is not a constant, only the −log(N·B) shift is."""
    n, b = 50, 5
    z = torch.tensor([[0.3, -0.2]] * b)
    same = Normal(torch.zeros(b, L), torch.ones(b, L))
    log_qz, _ = estimate_log_qz(pairwise_log_density(z, same), n, "mws")
    true = same.log_prob(z).sum(1)  # every example has this posterior, so q(z) = q(z|n)
    torch.testing.assert_close(log_qz - true, torch.full((b,), -math.log(n)))
    mu_all = 100.0 * torch.arange(n, dtype=torch.float64)[:, None].repeat(1, L)  # (N, L), far apart
    batch = mu_all[:b]
    far = Normal(batch, torch.ones(b, L))
    zf = batch + 0.1
    log_qz, _ = estimate_log_qz(pairwise_log_density(zf, far), n, "mws")
    true = torch.logsumexp(Normal(mu_all, torch.ones(n, L)).log_prob(zf[:, None]).sum(-1), 1) - math.log(n)
    torch.testing.assert_close(log_qz - true, torch.full((b,), -math.log(b)))
