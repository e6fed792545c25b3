"""``LatentVariableModel``: shapes of encode/decode/sample/reconstruct for MLP and conv nets, input checks, the
``ModelSpec`` round trip that rebuilds a model from a checkpoint, and the net/likelihood choice rules."""

from __future__ import annotations

import pytest
import torch

from shadowplay.errors import DataError
from shadowplay.model import ModelOutput, ModelSpec, build_model, resolve_likelihood
from shadowplay.nets import ConvEncoder, MLPEncoder, pick_net


@pytest.mark.parametrize("shape, net, kind", [((1, 8, 8), "auto", MLPEncoder), ((1, 28, 28), "auto", ConvEncoder),
                                              ((3, 32, 32), "auto", ConvEncoder), ((3, 64, 64), "conv", ConvEncoder),
                                              ((1, 28, 28), "mlp", MLPEncoder), ((12,), "auto", MLPEncoder)])
def test_shapes(shape, net, kind):
    torch.manual_seed(0)
    spec = ModelSpec(data_shape=shape, latent_dim=5, net=net, hidden=(16,), channels=(4, 8))
    model = build_model(spec)
    assert isinstance(model.encoder, kind)
    x = torch.rand(3, *shape)
    q = model.encode(x)
    assert q.mean.shape == (3, 5) and q.batch_shape == (3, 5)
    z = torch.randn(7, 5)
    p = model.decode(z)
    assert p.mean.shape == (7, *shape) and p.batch_shape == (7,) and p.event_shape == shape
    assert model.sample(64).shape == (64, *shape)
    assert model.reconstruct(x).shape == (3, *shape)
    out = model(x)
    assert isinstance(out, ModelOutput) and out.z.shape == (3, 5)
    assert out.likelihood.log_prob(x).shape == (3,)
    assert torch.equal(out.prior.mean, torch.zeros(3, 5)) and torch.equal(out.prior.stddev, torch.ones(3, 5))


def test_point_posterior_model_is_deterministic():
    model = build_model(ModelSpec(data_shape=(6,), latent_dim=2, hidden=(8,), posterior="point"))
    x = torch.rand(4, 6)
    assert torch.equal(model(x).z, model(x).z)
    assert torch.equal(model(x).z, model.encode(x).mean)


def test_sample_is_reproducible_with_a_generator():
    model = build_model(ModelSpec(data_shape=(1, 8, 8), latent_dim=3, hidden=(8,)))
    a = model.sample(5, torch.Generator().manual_seed(3))
    b = model.sample(5, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and ((a >= 0) & (a <= 1)).all()  # Bernoulli means
    with pytest.raises(ValueError, match=">= 1"):
        model.sample(0)


def test_input_checks_say_what_is_wrong():
    model = build_model(ModelSpec(data_shape=(1, 8, 8), latent_dim=3, hidden=(8,)))
    with pytest.raises(DataError, match="floating point"):
        model.encode(torch.ones(2, 1, 8, 8, dtype=torch.int64))
    with pytest.raises(DataError, match=r"\(N, 1, 8, 8\)"):
        model.encode(torch.rand(2, 64))
    with pytest.raises(DataError, match=r"\(N, 3\)"):
        model.decode(torch.randn(2, 4))
    assert model.encode(torch.rand(2, 1, 8, 8, dtype=torch.float64)).mean.dtype == torch.float32


def test_spec_round_trip_rebuilds_the_same_architecture():
    spec = ModelSpec(data_shape=(1, 28, 28), latent_dim=4, net="conv", channels=(4, 8), posterior="gaussian",
                     likelihood="gaussian", scale=0.2)
    d = spec.to_dict()
    assert d["data_shape"] == [1, 28, 28]  # JSON-able
    assert ModelSpec.from_dict(d) == spec
    a, b = build_model(spec), build_model(ModelSpec.from_dict(d))
    b.load_state_dict(a.state_dict())
    z = torch.randn(2, 4)
    assert torch.equal(a.decode(z).mean, b.decode(z).mean)


def test_conv_net_refuses_sizes_it_cannot_take():
    with pytest.raises(ValueError, match="--net mlp"):
        build_model(ModelSpec(data_shape=(1, 8, 8), latent_dim=2, net="conv"))
    assert pick_net((1, 8, 8)) == "mlp" and pick_net((1, 28, 28)) == "conv" and pick_net((1, 30, 30)) == "mlp"
    with pytest.raises(ValueError, match="unknown net"):
        pick_net((4,), "rnn")


def test_build_model_rejects_unknown_parts():
    with pytest.raises(ValueError, match="posterior"):
        build_model(ModelSpec(data_shape=(4,), latent_dim=2, posterior="flow"))
    with pytest.raises(ValueError, match="likelihood"):
        build_model(ModelSpec(data_shape=(4,), latent_dim=2, likelihood="poisson"))


def test_likelihood_choice():
    assert resolve_likelihood("auto", "unit") == "bernoulli"
    assert resolve_likelihood("auto", "real") == "gaussian"
    assert resolve_likelihood("laplace", "real") == "laplace"
    with pytest.raises(DataError, match="gaussian"):
        resolve_likelihood("bernoulli", "real")


@pytest.mark.parametrize("posterior", ["gaussian", "point"])
def test_reconstruction_gradient_reaches_the_encoder_through_z(posterior):
    torch.manual_seed(0)
    model = build_model(ModelSpec(data_shape=(6,), latent_dim=2, hidden=(8,), posterior=posterior))
    x = torch.rand(5, 6)
    out = model(x)
    (-out.likelihood.log_prob(x).mean()).backward()   # the reconstruction alone, no KL
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.parameters())
