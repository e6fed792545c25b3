"""What each metric's numbers mean: its full name and paper, its range, which way is better and where chance lies.

``evaluate --metrics`` prints one such line under each metric, and the HTML report puts it under each metric's
heading, so a reader can tell a good MIG from a bad one without the papers. Chance levels follow the metric
definitions (each module's docstring): the β-VAE and FactorVAE scores are accuracies of guessing which of the F
factors was held fixed, so a code that ignores its input scores about 1/F.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricGuide:
    """``title``: the metric's full name and paper; ``reading``: range, direction and chance, one sentence."""

    title: str
    reading: str


GUIDES: dict[str, MetricGuide] = {
    "mig": MetricGuide(
        "Mutual Information Gap (Chen et al. 2018)",
        "0 to 1, higher is better: the gap between the two latents that know most about each factor, as a share of "
        "the factor's entropy; ≈ 0 when no single latent stands out (also for a collapsed code), 1 when each factor "
        "is carried by one latent alone"),
    "sap": MetricGuide(
        "Separated Attribute Predictability (Kumar et al. 2018)",
        "0 to 1, higher is better: the accuracy gap between the best and second-best single latent at predicting "
        "each factor; 0 when no latent predicts better than another"),
    "dci": MetricGuide(
        "Disentanglement, Completeness, Informativeness (Eastwood & Williams 2018)",
        "disentanglement and completeness 0 to 1, higher is better (each latent about one factor; each factor in "
        "one latent); informativeness is the test accuracy of predicting the factors from the whole code, "
        "higher is better"),
    "modularity_explicitness": MetricGuide(
        "Modularity and explicitness (Ridgeway & Mozer 2018)",
        "modularity 0 to 1, higher is better (each latent depends on one factor); explicitness is a ROC-AUC of "
        "predicting each factor's values from the code, 0.5 is chance and 1 best"),
    "unsupervised": MetricGuide(
        "Unsupervised dependence scores (Locatello et al. 2019), no factors used",
        "lower means more independent latents: Gaussian total correlation in nats (0 = uncorrelated, inf = a latent "
        "is a linear function of others), Wasserstein correlation (…_norm: 0 to 1), mean pairwise mutual "
        "information of the latents in nats"),
    "beta_vae": MetricGuide(
        "β-VAE score (Higgins et al. 2017)",
        "0 to 1, higher is better: accuracy of a linear classifier telling from code differences which factor was "
        "held fixed; chance is 1/F"),
    "factor_vae": MetricGuide(
        "FactorVAE score (Kim & Mnih 2018)",
        "0 to 1, higher is better: accuracy of a majority vote telling from the least-varying latent which factor "
        "was held fixed; chance is 1/F, and 0 means no latent was active enough to vote"),
}


def describe(name: str, n_factors: int | None = None) -> str:
    """``"<title>: <reading>"`` of metric ``name``, with the chance level 1/F worked out when ``n_factors`` is known
    (``"chance is 1/F"`` → ``"chance is 1/5 = 0.20"``); ``""`` for a name without a guide."""
    guide = GUIDES.get(name)
    if guide is None:
        return ""
    reading = guide.reading
    if n_factors:
        reading = reading.replace("chance is 1/F", f"chance is 1/{n_factors} = {1 / n_factors:.2f}")
    return f"{guide.title}: {reading}"
