"""Numeric checks of the loss terms against independent computations.

- Reduction: with β = 1 the ``vae`` objective equals −ELBO per example (Kingma & Welling 2014, eq. 3), computed by
  hand from the same z: the Bernoulli (or Gaussian) log-likelihood summed over pixels, minus the closed-form KL
  ½ Σ_j (σ_j² + μ_j² − 1 − log σ_j²) (ibid., appendix B), averaged over the batch.
- KL term: closed form and a Monte Carlo estimate E_q[log q(z|x) − log p(z)] within its standard error.
- Capacity term: |KL − C(t)| with C rising linearly to C_max (Burgess et al. 2018, eq. 8); KL warm-up weights
  (Bowman et al. 2016) at the start, middle and end of the ramp.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from shadowplay.model import ModelSpec, build_model
from shadowplay.objectives import LinearRamp, Objective, PresetParams, StepContext, Term, TermOutput, build_preset
from shadowplay.objectives.terms.kl import KL, CapacityKL, kl_per_latent
from shadowplay.objectives.terms.recon import Reconstruction


def _model(shape=(1, 6, 6), likelihood="bernoulli", scale=None, latent=3, seed=0):
    torch.manual_seed(seed)
    spec = ModelSpec(data_shape=shape, latent_dim=latent, hidden=(16,), likelihood=likelihood, scale=scale)
    return build_model(spec).double()


def _closed_form_kl(model, x):
    mu, logvar = model.encoder(x).chunk(2, dim=-1)
    return 0.5 * (logvar.exp() + mu**2 - 1 - logvar).sum(-1)           # (B,)


def test_vae_loss_is_minus_elbo_bernoulli():
    model = _model()
    x = torch.rand(9, 1, 6, 6, dtype=torch.float64)
    out = model(x)
    lo = build_preset("vae", PresetParams(beta=1.0)).objective(out, StepContext(step=0))
    logits = model.decoder(out.z)                                      # the same z the objective saw
    loglik = (x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)).sum(dim=(1, 2, 3))
    neg_elbo = (-loglik + _closed_form_kl(model, x)).mean()
    torch.testing.assert_close(lo.loss, neg_elbo, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(lo.parts["recon"], -loglik.mean(), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(lo.diagnostics["elbo"], -neg_elbo.detach(), rtol=1e-10, atol=1e-10)  # logged ELBO
    assert lo.weights == {"recon": 1.0, "kl": 1.0}



@pytest.mark.parametrize("preset", ["vae", "beta_tcvae", "annealed_vae"])
def test_kl_is_computed_once_per_forward_and_gradients_match(preset, monkeypatch):
    """The terms of one objective share one KL per forward pass (``ModelOutput.kl_cache``): the reconstruction's
    ELBO diagnostic and the KL (or β-TCVAE's dimension-wise KL) part do not each build their own. The gradient is the
    one of an objective that recomputes the KL for every term."""
    import shadowplay.objectives.terms.kl as kl_module
    calls = []
    real = kl_module.kl_divergence
    closed_form = kl_module.normal_kl
    monkeypatch.setattr(kl_module, "normal_kl", lambda q, p: calls.append(1) or closed_form(q, p))
    model = _model()
    x = torch.rand(9, 1, 6, 6, dtype=torch.float64)
    objective = build_preset(preset, PresetParams()).objective
    torch.manual_seed(1)
    out = model(x)
    objective(out, StepContext(step=0, dataset_size=100)).loss.backward()
    assert len(calls) == 1
    cached = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    monkeypatch.setattr(kl_module, "kl_per_latent", lambda o: real(o.posterior, o.prior))  # no sharing
    import shadowplay.objectives.terms.recon as recon_module
    monkeypatch.setattr(recon_module, "kl_per_latent", lambda o: real(o.posterior, o.prior))
    import shadowplay.objectives.terms.tc as tc_module
    monkeypatch.setattr(tc_module, "kl_per_latent", lambda o: real(o.posterior, o.prior))
    torch.manual_seed(1)
    objective(model(x), StepContext(step=0, dataset_size=100)).loss.backward()
    for a, p in zip(cached, model.parameters()):
        torch.testing.assert_close(a, p.grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_normal_kl_is_torchs_registered_normal_rule_to_the_bit(dtype):
    """``normal_kl`` (called directly, so a compiled step has no dispatch to break on) gives exactly what
    ``torch.distributions.kl_divergence`` gives for two Normals: against N(0, I), as the model's prior, and against
    another Normal; and it is the closed form ½(σ² + μ² − 1 − log σ²) of Kingma & Welling (2014, appendix B)."""
    from torch.distributions import Normal, kl_divergence

    from shadowplay.objectives.terms.kl import normal_kl
    g = torch.Generator().manual_seed(0)
    mu, sigma = torch.randn(64, 5, generator=g, dtype=dtype) * 3, torch.rand(64, 5, generator=g, dtype=dtype) * 4 + 1e-3
    q = Normal(mu, sigma)
    for p in (Normal(torch.zeros_like(mu), torch.ones_like(mu)), Normal(mu.flip(0), sigma.flip(1))):
        assert torch.equal(normal_kl(q, p), kl_divergence(q, p))
    closed = 0.5 * (sigma.double() ** 2 + mu.double() ** 2 - 1 - torch.log(sigma.double() ** 2))
    torch.testing.assert_close(normal_kl(q, Normal(torch.zeros_like(mu), torch.ones_like(mu))).double(), closed,
                               rtol=1e-5 if dtype == torch.float32 else 1e-12, atol=1e-5)

@pytest.mark.parametrize("scale", [0.5, None])
def test_vae_loss_is_minus_elbo_gaussian(scale):
    model = _model(shape=(7,), likelihood="gaussian", scale=scale)
    if scale is None:
        with torch.no_grad():
            model.likelihood.log_scale.copy_(torch.linspace(-0.5, 0.5, 7, dtype=torch.float64))
    x = torch.randn(11, 7, dtype=torch.float64)
    out = model(x)
    lo = build_preset("vae", PresetParams()).objective(out, StepContext(step=0))
    m, sigma = model.decoder(out.z), model.likelihood.log_scale.exp()
    loglik = (-0.5 * torch.log(2 * math.pi * sigma**2) - (x - m) ** 2 / (2 * sigma**2)).sum(-1)
    torch.testing.assert_close(lo.loss, (-loglik + _closed_form_kl(model, x)).mean(), rtol=1e-10, atol=1e-10)


def test_beta_weights_only_the_kl_and_ae_has_no_kl():
    model = _model()
    x = torch.rand(5, 1, 6, 6, dtype=torch.float64)
    out = model(x)
    lo = build_preset("beta_vae", PresetParams(beta=4.0)).objective(out, StepContext())
    torch.testing.assert_close(lo.loss, lo.parts["recon"] + 4.0 * lo.parts["kl"])
    assert build_preset("beta_vae", PresetParams()).objective.weights(0)["kl"] == 4.0  # Higgins et al.'s default
    ae = build_preset("ae", PresetParams())
    assert ae.posterior == "point" and set(ae.objective.terms) == {"recon"}


def test_recon_is_summed_over_pixels_and_averaged_over_the_batch():
    model = _model()
    x = torch.rand(4, 1, 6, 6, dtype=torch.float64)
    out = model(x)
    r = Reconstruction()(out, StepContext()).parts["recon"]
    twice = type(out)(x=torch.cat([x, x]), posterior=out.posterior, z=out.z,
                      likelihood=model.likelihood(model.decoder(torch.cat([out.z, out.z]))), prior=out.prior)
    torch.testing.assert_close(Reconstruction()(twice, StepContext()).parts["recon"], r)   # batch size does not change it
    per_example = -out.likelihood.log_prob(x)
    torch.testing.assert_close(r, per_example.mean())
    assert float(r.detach()) > 36 * 0.1  # a sum over 36 pixels, not a per-pixel mean (each pixel costs > 0.1 nats here)


def test_kl_term_closed_form_and_monte_carlo():
    model = _model(latent=4, seed=3)
    x = torch.rand(6, 1, 6, 6, dtype=torch.float64)
    out = model(x)
    res = KL()(out, StepContext())
    kl = res.parts["kl"]
    closed = _closed_form_kl(model, x)
    torch.testing.assert_close(kl, closed.mean(), rtol=1e-12, atol=1e-12)
    mu, logvar = model.encoder(x).chunk(2, dim=-1)                      # diagnostic: per-latent batch mean
    torch.testing.assert_close(res.diagnostics["kl_per_latent"], (0.5 * (logvar.exp() + mu**2 - 1 - logvar)).mean(0),
                               rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(kl_per_latent(out).sum(-1), closed, rtol=1e-12, atol=1e-12)
    # Monte Carlo: per-example mean of log q(z|x) − log p(z) over K draws; standard error from the draws.
    torch.manual_seed(4)
    k = 20_000
    z = out.posterior.sample((k,))                                       # (K, B, L)
    log_ratio = (out.posterior.log_prob(z) - out.prior.log_prob(z)).sum(-1)   # (K, B)
    est, se = log_ratio.mean(0), log_ratio.std(0) / math.sqrt(k)
    assert (se > 0).all()
    assert ((est - closed).abs() < 5 * se).all(), (est, closed, se)


def test_kl_is_undefined_for_a_point_mass():
    torch.manual_seed(0)
    model = build_model(ModelSpec(data_shape=(4,), latent_dim=2, hidden=(8,), posterior="point"))
    with pytest.raises(ValueError, match="point-mass"):
        KL()(model(torch.rand(3, 4)), StepContext())
    res = Reconstruction()(model(torch.rand(3, 4)), StepContext())
    assert set(res.parts) == {"recon"} and not res.diagnostics  # an autoencoder has no ELBO to report


def test_capacity_term_tracks_a_linear_target():
    model = _model()
    out = model(torch.rand(8, 1, 6, 6, dtype=torch.float64))
    kl = float(KL()(out, StepContext()).parts["kl"].detach())
    term = CapacityKL(c_max=20.0, steps=1000)
    for step, c in [(0, 0.0), (250, 5.0), (500, 10.0), (1000, 20.0), (5000, 20.0)]:
        res = term(out, StepContext(step=step))
        assert float(res.parts["capacity"].detach()) == pytest.approx(abs(kl - c), rel=1e-12)
        assert float(res.diagnostics["capacity_target"]) == c and float(res.diagnostics["kl"].detach()) == pytest.approx(kl)
    preset = build_preset("annealed_vae", PresetParams(capacity_weight=100.0, capacity_max=20.0, capacity_steps=1000))
    lo = preset.objective(out, StepContext(step=500))
    assert lo.weights == {"recon": 1.0, "capacity": 100.0}                    # no weight-0 KL term
    assert float(lo.diagnostics["kl"]) == pytest.approx(kl, rel=1e-12)       # KL is logged, not optimized
    assert not lo.diagnostics["kl"].requires_grad
    torch.testing.assert_close(lo.loss, lo.parts["recon"] + 100.0 * lo.parts["capacity"])
    assert float(lo.parts["capacity"].detach()) == pytest.approx(abs(kl - 10.0), rel=1e-12)


def test_kl_warmup_schedule():
    obj = build_preset("vae", PresetParams(beta=2.0, warmup_steps=100)).objective
    assert [obj.weights(s)["kl"] for s in (0, 25, 50, 100, 10_000)] == [0.0, 0.5, 1.0, 2.0, 2.0]
    assert obj.weights(50)["recon"] == 1.0
    model = _model()
    out = model(torch.rand(3, 1, 6, 6, dtype=torch.float64))
    lo = obj(out, StepContext(step=0))
    torch.testing.assert_close(lo.loss, lo.parts["recon"])                     # KL off at step 0
    assert build_preset("vae", PresetParams()).objective.weights(0)["kl"] == 1.0  # no warm-up by default
    assert LinearRamp(3.0, 1.0, 4)(2) == 2.0
    with pytest.raises(ValueError, match="steps >= 0"):
        LinearRamp(0.0, 1.0, -1)


def test_objective_rejects_bad_term_lists():
    with pytest.raises(ValueError, match="at least one"):
        Objective([])
    with pytest.raises(ValueError, match="unique"):
        Objective([(KL(), 1.0), (KL(), 2.0)])


class _TwoParts(Term):
    """A test term with parts ``a`` = mean z and ``b`` = mean z², and a diagnostic ``c``."""

    name = "two"
    parts = ("a", "b")

    def forward(self, out, ctx):
        return TermOutput({"a": out.z.mean(), "b": (out.z ** 2).mean()}, {"c": out.z.abs().mean(), "recon": out.z[0, 0]})


def test_parts_are_weighted_by_name_and_diagnostics_stay_out_of_the_loss():
    model = _model()
    out = model(torch.rand(5, 1, 6, 6, dtype=torch.float64))
    with pytest.raises(ValueError, match="one weight per part"):
        Objective([(_TwoParts(), {"a": 1.0})])
    with pytest.raises(ValueError, match="dict of weights"):
        Objective([(_TwoParts(), 2.0)])
    obj = Objective([(KL(), 1.0), (_TwoParts(), {"a": 2.0, "b": LinearRamp(0.0, 4.0, 10)})])
    assert obj.parts == ["kl", "a", "b"] and obj.weights(5) == {"kl": 1.0, "a": 2.0, "b": 2.0}
    lo = obj(out, StepContext(step=5))
    z = out.z
    torch.testing.assert_close(lo.loss, lo.parts["kl"] + 2.0 * z.mean() + 2.0 * (z ** 2).mean())
    assert set(lo.diagnostics) == {"kl_per_latent", "c", "recon"} and not lo.diagnostics["c"].requires_grad
    assert set(lo.logged()) == {"loss", "kl", "a", "b", "kl_per_latent", "c", "recon"}
    with pytest.raises(RuntimeError, match="reported twice"):  # diagnostic "recon" collides with a part
        Objective([(Reconstruction(), 1.0), (_TwoParts(), {"a": 1.0, "b": 1.0})])(out, StepContext())
    # the same check when a compiled step evaluates the step-free terms first and the step-reading ones after
    clash = Objective([(Reconstruction(), 1.0), (_TwoParts(), {"a": 1.0, "b": 1.0})])
    first = clash.evaluate(out, StepContext(), ("recon",))
    with pytest.raises(RuntimeError, match="reported twice"):
        clash.evaluate(out, StepContext(), ("two",), before=first)
