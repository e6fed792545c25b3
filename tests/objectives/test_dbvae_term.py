"""DB-VAE's joint loss: the indicator masks the right class, the parts match a per-example computation."""

import pytest
import torch

from shadowplay.model import ModelSpec, build_model
from shadowplay.objectives import PresetParams, StepContext, build_preset
from shadowplay.objectives.terms.dbvae import classification_loss
from shadowplay.objectives.terms.kl import kl_per_latent


def model(head: int):
    torch.manual_seed(0)
    return build_model(ModelSpec((6,), latent_dim=3, hidden=(8,), likelihood="gaussian", scale=1.0, head_dim=head))


@pytest.mark.parametrize("head", [1, 3])
def test_parts_equal_the_per_example_formula(head):
    m = model(head)
    objective = build_preset("dbvae", PresetParams(debias_class=1)).objective
    x, y = torch.randn(10, 6), torch.tensor([0, 1, 1, 0, 2, 1, 0, 0, 1, 1]) % (2 if head == 1 else 3)
    out = m(x)
    lo = objective(out, StepContext(labels=y))
    mask = (y == 1).float()
    recon_i = -out.likelihood.log_prob(x)
    kl_i = kl_per_latent(out).sum(-1)
    ce_i = classification_loss(out.logits, y)
    # L = mean_i [ L_y + 1[y_i = 1] (recon_i + kl_i) ]  (Amini et al. 2019, eq. 4)
    assert torch.allclose(lo.loss, (ce_i + mask * (recon_i + kl_i)).mean())
    assert set(lo.parts) == {"classification", "recon", "kl"}
    assert torch.allclose(lo.parts["recon"], (mask * recon_i).mean())
    if head == 1:
        assert torch.allclose(ce_i, torch.nn.functional.binary_cross_entropy_with_logits(
            out.logits[:, 0], y.float(), reduction="none"))


def test_only_the_other_class_gives_zero_vae_loss_and_no_gradient():
    m = model(1)
    objective = build_preset("dbvae", PresetParams(debias_class=1)).objective
    out = m(torch.randn(8, 6))
    lo = objective(out, StepContext(labels=torch.zeros(8, dtype=torch.long)))  # no input of the debiased class
    assert float(lo.parts["recon"].detach()) == 0.0 and float(lo.parts["kl"].detach()) == 0.0
    (lo.parts["recon"] + lo.parts["kl"]).backward(retain_graph=True)
    assert all(p.grad is None or float(p.grad.abs().max()) == 0.0 for p in m.parameters())
    m.zero_grad()
    lo.loss.backward()
    assert all(p.grad is None or float(p.grad.abs().max()) == 0.0 for p in m.decoder.parameters())
    assert any(p.grad is not None and float(p.grad.abs().max()) > 0 for p in m.encoder.parameters())


def test_only_the_debiased_class_trains_the_decoder():
    m = model(1)
    objective = build_preset("dbvae", PresetParams(debias_class=0)).objective  # the mask follows debias_class
    out = m(torch.randn(8, 6))
    objective(out, StepContext(labels=torch.zeros(8, dtype=torch.long))).loss.backward()
    assert any(float(p.grad.abs().max()) > 0 for p in m.decoder.parameters())


def test_classifier_head_shares_the_encoder_and_errors_without_labels_or_head():
    m = model(2)
    x = torch.randn(4, 6)
    h = m.encoder(x)
    assert torch.equal(m.classify(x), h[:, -2:]) and torch.equal(m.encode(x).mean, h[:, :3])
    objective = build_preset("classifier", PresetParams()).objective
    with pytest.raises(ValueError, match="labels"):
        objective(m(x), StepContext())
    with pytest.raises(ValueError, match="classifier head"):
        objective(model(0)(x), StepContext(labels=torch.zeros(4, dtype=torch.long)))
    with pytest.raises(ValueError, match="no classifier head"):
        model(0).classify(x)
