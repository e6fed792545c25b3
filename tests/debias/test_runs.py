"""Run-level debiasing functions (``shadowplay.debias.runs``) on tiny digits runs."""

import pytest

import shadowplay as sp
from shadowplay.errors import DebiasError


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("debias")
    opts = dict(data="digits", epochs=1, latent_dim=2, runs_dir=root, progress=False,
                overrides=["model.hidden=[16]", "trainer.max_steps=3"])
    return root, sp.debias.train(name="db", **opts), sp.debias.train(name="plain", model="classifier", **opts)


def test_compare_refuses_latent_clusters_of_several_runs(two_runs):
    # each run's k-means clusters come from its own encoder: the chart put unrelated "cluster 4"s side by side
    root, db, plain = two_runs
    with pytest.raises(DebiasError, match="cluster k of one run is not cluster k of another"):
        sp.debias.compare([plain, db], groups="latent", out=root / "cmp")
    assert not (root / "cmp").exists()
    one = sp.debias.compare([db], groups="latent", out=root / "one")  # one run: its own clusters
    assert set(one) == {"db"} and (root / "one" / "compare.png").is_file()
