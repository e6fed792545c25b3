"""Figures from metric records and arrays, and the picture writers for traversals (grayscale, RGB, tabular)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from shadowplay.errors import ShadowplayError
from shadowplay.reports.figures import (covariance_figure, figure_png, histogram_figure, kl_per_dim_figure,
                                        training_curves)
from shadowplay.reports.images import (check_examples, example_columns, examples_size, grid_size, label_rows,
                                       label_width, save_examples, save_gif, save_interpolation, save_traversal)


def test_training_curves_panels_per_term():
    recs = [{"step": s, "epoch": 0, "split": "train", "time": 0.0, "loss": 10.0 - s, "recon": 8.0, "kl": "nan",
             "weight/kl": 0.1 * s, "samples_per_s": 1e3} for s in range(1, 5)]
    recs.append({"step": 4, "epoch": 1, "split": "val", "loss": 6.5, "elbo": -6.5})
    fig = training_curves(recs)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["loss", "recon", "kl", "elbo", "weights"]
    assert figure_png(fig)[:4] == b"\x89PNG"
    assert training_curves([]) is None
    recs[0].update({"kl_per_latent/0": 1.0, "kl_per_latent/1": 2.0})  # a vector diagnostic: one panel, two lines
    fig = training_curves(recs)
    assert [ax.get_title() for ax in fig.axes if ax.get_title()] == ["loss", "recon", "kl", "kl_per_latent", "elbo",
                                                                     "weights"]
    panel = next(ax for ax in fig.axes if ax.get_title() == "kl_per_latent")
    assert [line.get_label() for line in panel.get_lines()] == ["0 (train)", "1 (train)"]


def test_training_curves_many_latents_few_points_and_long_legends():
    recs = [{"step": s, "split": "train", "loss": 1.0 / s, **{f"kl_per_latent/{j}": 0.1 * j * s for j in range(16)},
             **{f"weight/{p}": 0.1 * s * i for i, p in enumerate(["kl", "mi", "tc", "dimwise_kl", "capacity", "g"])}}
            for s in range(1, 20)]
    recs.append({"step": 20, "split": "train", "capacity_target": 2.0})  # a quantity logged once
    fig = training_curves(recs)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    panels = {ax.get_title(): ax for ax in fig.axes if ax.get_title()}
    kl = panels["kl_per_latent"]
    assert kl.get_legend() is None  # its 16 entries used to cover the curves
    assert len({line.get_color() for line in kl.get_lines()}) == 16  # the default cycle repeats after 10
    assert any(a.get_ylabel() == "kl_per_latent/j" for a in fig.axes)  # a colorbar names the index instead
    (once,) = panels["capacity_target"].get_lines()
    assert once.get_marker() == "o"  # a one-point line without a marker draws nothing
    assert panels["loss"].get_lines()[0].get_marker() == "None"  # long series stay plain lines
    weights = panels["weights"]
    box = weights.get_legend().get_window_extent(renderer)
    assert not box.overlaps(weights.get_window_extent(renderer))  # six entries: beside the panel, not over it
    assert box.x1 <= fig.bbox.x1


def test_latent_figures_render():
    for fig in (kl_per_dim_figure([0.5, 0.0, 2.0], [1.0, 0.0, 3.0], [True, False, True]),
                kl_per_dim_figure(None, [1.0, 0.2], [True, True]), covariance_figure(np.eye(3)),
                histogram_figure({"log_px": np.array([-3.0, -2.0, np.inf]), "elbo": np.zeros(4)})):
        assert figure_png(fig)[:4] == b"\x89PNG"


def test_save_traversal_grayscale_and_rgb(tmp_path):
    for c in (1, 3):
        images = torch.rand(2, 3, 5, c, 12, 12)  # 2 base codes, 3 dims, 5 steps
        files = save_traversal(tmp_path / f"c{c}", images, [4, 0, 2], ["z4", "z0", "z2"])
        assert set(files) == {"dim-4", "dim-0", "dim-2", "overview", "gif"}
        ov = Image.open(files["overview"])
        per_dim = Image.open(files["dim-4"])
        up = 64 // 12  # small images are enlarged; each row is 12 px + 2 px padding
        assert per_dim.height == (2 * 14 + 2) * up and ov.height == (3 * 14 + 2) * up  # rows: 2 bases, 3 dims
        gif = Image.open(files["gif"])
        assert gif.n_frames == 5 + 3  # forward, then back without repeating the ends


def test_save_traversal_removes_its_own_stale_pictures_only(tmp_path):
    for d in range(5):  # an earlier traversal of 5 dims
        (tmp_path / f"dim-{d:02d}.png").write_bytes(b"old")
    mine = ["dim-7.png", "dim-notes.png", "dim-03.jpg", "other.png"]  # not names save_traversal writes
    for name in mine:
        (tmp_path / name).write_bytes(b"keep")
    files = save_traversal(tmp_path, torch.rand(1, 2, 3, 1, 8, 8), [3, 0], ["z3", "z0"])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["dim-00.png", "dim-03.png", "overview.png", "traversal.gif"] + mine)
    assert files["dim-3"].read_bytes()[:4] == b"\x89PNG"


def test_save_traversal_tabular_and_interpolation(tmp_path):
    files = save_traversal(tmp_path, torch.randn(1, 3, 4, 7), [1, 0, 2], ["z1", "z0", "z2"])  # 3 dims ≠ 3 channels
    assert Image.open(files["gif"]).n_frames == 6 and Image.open(files["dim-1"]).width > 100
    path = save_interpolation(tmp_path / "i.png", torch.zeros(7), torch.randn(5, 7), torch.ones(7))
    assert Image.open(path).format == "PNG"


def test_inputs_above_reconstructions_wrap_into_rows_of_pairs(tmp_path):
    # reconstruct -n 100000 drew every test input in one row: a 14,416 x 176 px strip
    margin = label_width(["input", "out"])
    for n in (1, 16):  # up to 16: one row of inputs above one row of reconstructions, as before
        path = save_examples(tmp_path / f"{n}.png", {"input": torch.zeros(n, 1, 8, 8), "out": torch.ones(n, 1, 8, 8)})
        w, h = grid_size(2 * n, 8, 8, ncol=n)
        assert Image.open(path).size == (w + margin, h) == examples_size(n, ["input", "out"], 8, 8)
    n, ncol = 180, example_columns(180)
    assert ncol == 19  # about sqrt(2n): 10 rows of pairs, 20 rows of images
    x, x_hat = torch.zeros(n, 1, 8, 8), torch.full((n, 1, 8, 8), 0.5)
    img = np.asarray(Image.open(save_examples(tmp_path / "many.png", {"input": x, "reconstruction": x_hat})))
    margin = label_width(["input", "reconstruction"])
    assert 40 < margin < 200  # the row labels' margin, left of the grid
    assert img.shape[::-1] == (grid_size(20 * ncol, 8, 8, ncol=ncol)[0] + margin, 1616) == (1536 + margin, 1616)
    up = 8  # 8-px images enlarged 8x, 2 px padding

    def tile(row: int, col: int) -> np.ndarray:
        top, left = (2 + row * 10) * up, margin + (2 + col * 10) * up
        return img[top:top + 8 * up, left:left + 8 * up]
    for r in range(20):  # even rows hold inputs (black), odd rows their reconstructions (grey), pair by pair
        for c in range(ncol):
            i = (r // 2) * ncol + c
            want = 255 if i >= n else (0 if r % 2 == 0 else 128)  # the last pair of rows ends in blank cells
            assert (tile(r, c) == want).all(), (r, c)


def test_each_row_of_pairs_is_labelled_with_its_group(tmp_path, monkeypatch):
    # with rows of pairs, nothing told a row of inputs from a row of reconstructions: each row now names its group
    import shadowplay.reports.images as images_module
    seen = []
    real = images_module.label_rows
    monkeypatch.setattr(images_module, "label_rows", lambda grid, rows: seen.append(list(rows)) or real(grid, rows))
    x = torch.zeros(40, 1, 8, 8)
    img = np.asarray(Image.open(save_examples(tmp_path / "r.png", {"input": x, "reconstruction": x + 1})))
    assert seen == [["input", "reconstruction"] * 3]  # 40 pairs, 16 a row: three rows of pairs
    margin = label_width(["input", "reconstruction"])
    row = img.shape[0] / 6
    for r in range(6):  # dark text in the margin beside each of the 6 rows, nothing in the grid's left border
        band = img[int(r * row):int((r + 1) * row), :margin]
        assert (band < 128).any(), r
    assert (img[:, margin:margin + 2 * 8] == 255).all()
    seen.clear()  # one group (samples) stays an unlabelled grid
    assert Image.open(save_examples(tmp_path / "s.png", {"samples": x})).size == grid_size(40, 8, 8) and not seen


def test_check_examples_names_the_largest_count_that_fits():
    groups = ("input", "reconstruction")
    with pytest.raises(ShadowplayError, match="more than Pillow opens again") as e:
        check_examples(16000, groups, 8, 8)
    fit = int(str(e.value).split("(-n ")[1].split(")")[0])
    check_examples(fit, groups, 8, 8)
    check_examples(180, groups, 8, 8)


def test_check_examples_counts_the_label_margin(tmp_path, monkeypatch):
    # the check sized the grid alone: with the labels' margin the written picture could pass it and still be
    # larger than Pillow opens again
    groups, x = ("input", "reconstruction"), torch.zeros(16, 1, 8, 8)
    grid = grid_size(32, 8, 8, ncol=16)
    size = examples_size(16, groups, 8, 8)
    assert size == (grid[0] + label_width(groups), grid[1])
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", (grid[0] * grid[1] + size[0] * size[1]) // 2)  # grid fits only
    with pytest.raises(ShadowplayError, match="more than Pillow opens again") as e:
        check_examples(16, groups, 8, 8)
    fit = int(str(e.value).split("(-n ")[1].split(")")[0])
    check_examples(fit, groups, 8, 8)
    path = save_examples(tmp_path / "fit.png", {"input": x[:fit], "reconstruction": x[:fit]})
    with Image.open(path) as img:  # Pillow opens the picture of the advised count again
        assert img.size == examples_size(fit, groups, 8, 8) and img.width * img.height <= Image.MAX_IMAGE_PIXELS


def test_label_rows_and_gif(tmp_path):
    img = Image.new("L", (40, 30), 128)
    out = label_rows(img, ["a", "b", "c"])
    assert out.height == 30 and out.width > 40 and out.getpixel((out.width - 1, 0)) == 128
    frames = [Image.new("RGB", (8, 8), (i * 40, 0, 0)) for i in range(4)]
    assert Image.open(save_gif(frames, tmp_path / "a.gif", pingpong=False)).n_frames == 4


def test_mi_heat_map_cells_print_what_the_title_and_colours_show():
    # issue 9 item 7: the cells printed MI in nats under a title (and colour bar) saying I(z; v) / H(v)
    from shadowplay.reports.disentanglement import mi_matrix_figure
    mi = np.array([[0.5, 0.0], [0.1, 2.0]])
    fig = mi_matrix_figure(mi, [1.0, 4.0], ["a", "b"], "run: I(z_j; v_k) / H(v_k), test split")
    cells = sorted(t.get_text() for t in fig.axes[0].texts)
    assert cells == sorted(["0.50", "0.00", "0.10", "0.50"])  # 0.5/1, 0/4, 0.1/1, 2/4
    assert "H(v_k)" in fig.axes[0].get_title()


def _dark(img: Image.Image, box: tuple[int, int, int, int]) -> bool:
    """Whether the region holds text (dark pixels on the white label margin)."""
    return min(img.convert("L").crop(box).getdata()) < 100


def test_traversal_columns_say_which_value_and_rows_which_latent(tmp_path):
    # the overview's columns carried no value and dim-<d>.png no label at all: a reader could not tell −3 from +3
    images = torch.rand(1, 2, 5, 1, 12, 12) * 0.5 + 0.5  # light tiles, so dark pixels can only be text
    values = np.tile(np.linspace(-3, 3, 5), (2, 1))
    plain = save_traversal(tmp_path / "plain", images, [4, 0], ["z4 KL 1.00", "z0 KL 0.10"])
    files = save_traversal(tmp_path / "vals", images, [4, 0], ["z4 KL 1.00", "z0 KL 0.10"], values)
    ov, old = Image.open(files["overview"]), Image.open(plain["overview"])
    strip = ov.height - old.height
    assert strip > 10 and ov.width == old.width
    margin = ov.width - 5 * (12 + 2) * 5 - 2 * 5  # the row labels' margin: width minus the grid's
    col = (ov.width - margin) / 5
    for i in range(5):  # a value above every column
        assert _dark(ov, (int(margin + i * col), 0, int(margin + (i + 1) * col), strip)), i
    per_dim = Image.open(files["dim-4"])
    assert per_dim.height == (12 + 2 + 2) * 5 + strip  # one base row, headed by its values
    assert _dark(per_dim, (int(margin), 0, per_dim.width, strip))
    assert _dark(per_dim, (0, strip, 40, per_dim.height))  # the row says which latent
    gif = Image.open(files["gif"])
    assert _dark(gif.convert("RGB"), (0, 0, gif.width, strip))  # each frame says which value it shows


def test_traversal_with_a_range_per_dimension_puts_it_in_the_row_label(tmp_path):
    images = torch.rand(1, 2, 4, 1, 12, 12)
    same = save_traversal(tmp_path / "a", images, [0, 1], ["z0", "z1"], np.tile(np.linspace(-1, 1, 4), (2, 1)))
    own = save_traversal(tmp_path / "b", images, [0, 1], ["z0", "z1"],
                         np.array([np.linspace(-1, 1, 4), np.linspace(0.5, 2.5, 4)]))
    a, b = Image.open(same["overview"]), Image.open(own["overview"])
    assert b.width > a.width + 40 and b.height < a.height  # "z1  +0.5 to +2.5" in the row, no shared header


def test_row_ranges_keep_the_same_decimals_at_both_ends(tmp_path, monkeypatch):
    # "-2.61 to +2.7" (format .3g) sat beside "-2.55 to +2.72": the ends now read like the column values
    import shadowplay.reports.images as images_module
    seen: list[list[str]] = []
    real = images_module.label_rows
    monkeypatch.setattr(images_module, "label_rows", lambda grid, rows: seen.append(list(rows)) or real(grid, rows))
    values = np.array([np.linspace(-2.61, 2.70, 3), np.linspace(-12.5, 130.0, 3)])
    save_traversal(tmp_path, torch.rand(1, 2, 3, 1, 8, 8), [0, 1], ["z0", "z1"], values)
    assert seen[-1] == ["z0  -2.61 to +2.70", "z1  -12.50 to +130.00"]
