"""User files: .npy, .npz, .csv and image folders, and every bad input raising a DataError that says why."""

import numpy as np
import pytest
import torch
from PIL import Image

from shadowplay.data import SourceOptions, load_data
from shadowplay.data.files import apply_standardization, load_path
from shadowplay.errors import DataError

OPT = SourceOptions()


def save(tmp_path, arr, name="a.npy"):
    np.save(tmp_path / name, arr)
    return tmp_path / name


def test_npy_uint8_images_scaled_and_channels_first(tmp_path):
    gray = np.random.default_rng(0).integers(0, 256, (5, 6, 7), dtype=np.uint8)
    ds = load_path(save(tmp_path, gray), OPT)
    assert ds.x.shape == (5, 1, 6, 7) and ds.value_range == "unit" and ds.name == "a"
    np.testing.assert_allclose(ds.x[:, 0].numpy(), gray / 255.0, rtol=1e-6)
    hwc = np.zeros((2, 6, 7, 3), np.uint8)
    hwc[..., 2] = 255  # blue
    x = load_path(save(tmp_path, hwc), OPT).x
    assert x.shape == (2, 3, 6, 7) and x[:, 2].eq(1).all() and x[:, :2].eq(0).all()
    assert load_path(save(tmp_path, np.zeros((2, 3, 6, 7), np.uint8)), OPT).x.shape == (2, 3, 6, 7)


def test_npy_floats_kept_and_tabular(tmp_path):
    f = np.random.default_rng(0).normal(size=(8, 3, 4, 4)).astype(np.float64)
    ds = load_path(save(tmp_path, f), OPT)
    assert ds.value_range == "real" and ds.x.dtype == torch.float32
    np.testing.assert_allclose(ds.x.numpy(), f, rtol=1e-6)
    tab = load_path(save(tmp_path, np.arange(12, dtype=np.int64).reshape(4, 3)), OPT)
    assert tab.x.shape == (4, 3) and tab.x.max() == 11 and tab.value_range == "real"
    binary = load_path(save(tmp_path, np.eye(4, dtype=np.uint8)[None].repeat(2, 0)), OPT)
    assert binary.x.max() == 1 and binary.value_range == "unit"  # 0/1 uint8 masks stay 0/1


def test_npz_with_labels_factors_groups(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, images=np.zeros((4, 5, 5), np.uint8), y=np.array([0, 1, 1, 0]),
             factors=np.array([[0, 2], [1, 0], [1, 1], [0, 0]]), groups=np.array([3, 3, 1, 1]),
             factor_names=np.array(["size", "angle"]))
    ds = load_path(path, OPT)
    assert ds.x.shape == (4, 1, 5, 5) and ds.labels.tolist() == [0, 1, 1, 0] and ds.groups.tolist() == [3, 3, 1, 1]
    assert ds.factors.dtype == torch.int64 and ds.factor_sizes == (2, 3) and ds.factor_names == ("size", "angle")
    np.savez(path, x=np.ones((3, 2)), labels=np.array([1.0, 2.0, 0.0]))
    assert load_path(path, OPT).labels.tolist() == [1, 2, 0]


@pytest.mark.parametrize("content,word", [
    (dict(pictures=np.zeros((2, 2))), "x, images, data"),
    (dict(x=np.zeros((3, 2)), labels=np.array([0.5, 1, 2])), "integers"),
    (dict(x=np.zeros((3, 2)), labels=np.array([0, 1])), "N=3"),
    (dict(x=np.zeros((3, 2)), labels=np.array([0, -1, 1])), "non-negative"),
    (dict(x=np.zeros((3, 2)), factors=np.array([0, 1, 2])), "(N, F)"),
    (dict(x=np.zeros((3, 2)), factor_names=np.array(["a"])), "factor_names"),
    (dict(x=np.array([[{}], [{}]], dtype=object)), "never unpickles"),
])
def test_npz_errors(tmp_path, content, word):
    np.savez(tmp_path / "bad.npz", **content)
    with pytest.raises(DataError) as e:
        load_path(tmp_path / "bad.npz", OPT)
    assert word in str(e.value)


@pytest.mark.parametrize("arr,word", [
    (np.array([["a", "b"], ["c", "d"]]), "not real numbers"),
    (np.ones((3, 2), np.complex64), "not real numbers"),
    (np.array([[1.0, np.nan], [1.0, 2.0]]), "NaN"),
    (np.array([[1.0, np.inf]]), "NaN or Inf"),
    (np.zeros(5), "1-D"),
    (np.zeros((2, 2, 2, 2, 2)), "not supported"),
    (np.zeros((2, 5, 6, 7)), "channel"),
    (np.zeros((0, 3)), "empty"),
])
def test_npy_errors(tmp_path, arr, word):
    with pytest.raises(DataError, match=word):
        load_path(save(tmp_path, arr), OPT)


def test_file_level_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_path(tmp_path / "nope.npy", OPT)
    (tmp_path / "a.txt").write_text("1,2")
    with pytest.raises(DataError, match="unknown file type"):
        load_path(tmp_path / "a.txt", OPT)
    (tmp_path / "e.npy").write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        load_path(tmp_path / "e.npy", OPT)
    (tmp_path / "junk.npy").write_bytes(b"not numpy at all")
    with pytest.raises(DataError, match="unpickles"):
        load_path(tmp_path / "junk.npy", OPT)
    np.save(tmp_path / "obj.npy", np.array([{}, {}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="object array"):
        load_path(tmp_path / "obj.npy", OPT)
    np.savez(tmp_path / "z.npz", x=np.zeros((2, 2)))
    (tmp_path / "z.npy").write_bytes((tmp_path / "z.npz").read_bytes())
    with pytest.raises(DataError, match="rename"):
        load_path(tmp_path / "z.npy", OPT)
    (tmp_path / "t.npz").write_bytes((tmp_path / "z.npz").read_bytes()[:40])
    with pytest.raises(DataError, match="cannot read"):
        load_path(tmp_path / "t.npz", OPT)


def write_csv(tmp_path, text, name="t.csv"):
    (tmp_path / name).write_text(text)
    return tmp_path / name


def test_csv_standardized_with_labels(tmp_path):
    path = write_csv(tmp_path, "a,b,kind,c\n1,10,cat,5\n2,20,dog,5\n3,30,cat,5\n4,40,cat,5\n")
    ds = load_path(path, SourceOptions(label_column="kind"))
    assert ds.x.shape == (4, 3) and ds.value_range == "real" and ds.name == "t"
    assert ds.labels.tolist() == [0, 1, 0, 0] and ds.meta["classes"] == ["cat", "dog"]
    st = ds.meta["standardize"]
    assert st["columns"] == ["a", "b", "c"] and st["mean"] == [2.5, 25.0, 5.0] and st["std"][2] == 1.0
    np.testing.assert_allclose(ds.x[:, :2].mean(0).numpy(), 0, atol=1e-6)
    np.testing.assert_allclose(ds.x[:, :2].std(0, unbiased=False).numpy(), 1, rtol=1e-5)
    assert ds.x[:, 2].eq(0).all()  # a constant column: std taken as 1
    new = apply_standardization(np.array([[2.5, 45.0, 6.0]]), ds.meta)
    np.testing.assert_allclose(new, [[0, 20 / st["std"][1], 1.0]], rtol=1e-6)
    assert np.array_equal(apply_standardization(np.array([[1, 10, 5]]), st), ds.x[:1].numpy())
    with pytest.raises(DataError, match="3 features"):
        apply_standardization(np.zeros((2, 2)), ds.meta)
    numeric = load_path(write_csv(tmp_path, "f,y\n0.5,1\n1.5,0\n", "n.csv"), SourceOptions(label_column="y"))
    assert numeric.labels.tolist() == [1, 0] and "classes" not in numeric.meta
    splits = load_data(str(path), val_fraction=0.25, test_fraction=0.25, options=SourceOptions(label_column="kind"))
    assert len(splits.train) == 2


def test_csv_group_column_is_groups_not_a_feature(tmp_path):
    # a practitioner's table with a sensitive column: it was standardized into the inputs (the model saw the
    # attribute it should be audited on) and the audit found no groups
    path = write_csv(tmp_path, "a,b,y,sex\n1,10,1,f\n2,20,0,m\n3,30,1,m\n4,40,0,f\n")
    ds = load_path(path, SourceOptions(label_column="y", group_column="sex"))
    assert ds.x.shape == (4, 2) and ds.meta["standardize"]["columns"] == ["a", "b"]
    assert ds.groups.tolist() == [0, 1, 1, 0] and ds.meta["group_names"] == ["f", "m"]
    numeric = load_path(write_csv(tmp_path, "a,g\n1,2\n2,0\n", "n.csv"), SourceOptions(group_column="g"))
    assert numeric.groups.tolist() == [2, 0] and "group_names" not in numeric.meta
    splits = load_data(str(path), val_fraction=0.25, test_fraction=0.25,
                       options=SourceOptions(label_column="y", group_column="sex"))
    assert len(splits.test.groups) == 1
    for text, group, word in (("a,y\n1,2\n", "g", "group column 'g' not found"),
                              ("a,y,g\n1,0,\n2,1,x\n", "g", "group column 'g' has empty cells"),
                              ("a,y\n1,2\n", "y", "both the label and the group column")):
        with pytest.raises(DataError, match=word):
            load_path(write_csv(tmp_path, text), SourceOptions(label_column="y", group_column=group))


@pytest.mark.parametrize("text,label,word", [
    ("a,b\n1,2\n", "y", "a, b"),
    ("a,b\n1,x\n", None, "'b'"),
    ("a,b\n1,\n", None, "empty"),
    ("a,b\n1,nan\n", None, "NaN"),
    ("a,b\n", None, "header"),
    ("a,a\n1,2\n", None, "once"),
    ("a,b\n1,2,3\n", None, "fields"),
    ("a,y\n1,0.5\n", "y", "non-negative integers"),
    ("y\n1\n", "y", "no feature"),
])
def test_csv_errors(tmp_path, text, label, word):
    with pytest.raises(DataError, match=word):
        load_path(write_csv(tmp_path, text), SourceOptions(label_column=label))


def png(path, value, size=(6, 5), mode="L"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value).save(path)


def test_image_folder_flat_gray(tmp_path):
    png(tmp_path / "b.png", 255)
    png(tmp_path / "a.png", 0)
    png(tmp_path / "c.bmp", (51, 51, 51), mode="RGB")  # RGB with equal channels counts as gray
    ds = load_path(tmp_path, OPT)
    assert ds.x.shape == (3, 1, 5, 6) and ds.labels is None and ds.value_range == "unit"
    assert ds.x[:, 0, 0, 0].tolist() == pytest.approx([0.0, 1.0, 0.2])  # sorted names: a, b, c


def test_image_folder_with_classes_and_colour(tmp_path):
    png(tmp_path / "dog" / "1.png", (255, 0, 0), mode="RGB")
    png(tmp_path / "cat" / "x" / "2.jpg", 128)
    png(tmp_path / "cat" / "1.gif", 10)
    ds = load_path(tmp_path, OPT)
    assert ds.x.shape == (3, 3, 5, 6) and ds.meta["classes"] == ["cat", "dog"] and ds.labels.tolist() == [0, 0, 1]
    assert ds.x[2, :, 0, 0].tolist() == [1.0, 0.0, 0.0]
    gray = load_path(tmp_path, SourceOptions(color="grayscale", image_size=4))
    assert gray.x.shape == (3, 1, 4, 4)
    assert load_path(tmp_path / "dog", SourceOptions(color="rgb")).x.shape == (1, 3, 5, 6)


def test_image_folder_errors(tmp_path):
    with pytest.raises(DataError, match="no images"):
        load_path(tmp_path, OPT)
    png(tmp_path / "a.png", 0, size=(4, 4))
    png(tmp_path / "b.png", 0, size=(5, 4))
    with pytest.raises(DataError, match="data.image_size=N"):  # the override; there is no --image-size option
        load_path(tmp_path, OPT)
    assert load_path(tmp_path, SourceOptions(image_size=3)).x.shape == (2, 1, 3, 3)
    with pytest.raises(DataError, match="color"):
        load_path(tmp_path, SourceOptions(color="sepia"))
    png(tmp_path / "sub" / "c.png", 0, size=(4, 4))
    with pytest.raises(DataError, match="sub-folder"):
        load_path(tmp_path, SourceOptions(image_size=4))
    broken = tmp_path / "sub" / "d.png"
    (tmp_path / "sub" / "c.png").rename(broken)
    broken.write_bytes(broken.read_bytes()[:30])
    for p in (tmp_path / "a.png", tmp_path / "b.png"):
        p.unlink()
    with pytest.raises(DataError, match="d.png"):
        load_path(tmp_path, OPT)


def test_restandardize_puts_new_rows_on_the_training_scale(tmp_path):
    from shadowplay.data.files import restandardize
    from shadowplay.data.registry import SourceOptions
    rng = np.random.default_rng(0)
    a, b = rng.normal(3.0, 2.0, (50, 3)), rng.normal(-1.0, 0.5, (40, 3))
    for name, arr in (("a.csv", a), ("b.csv", b)):
        (tmp_path / name).write_text("u,v,w\n" + "\n".join(",".join(f"{v:.6f}" for v in r) for r in arr))
    train = load_path(tmp_path / "a.csv", SourceOptions())
    new = restandardize(load_path(tmp_path / "b.csv", SourceOptions()), train.meta)
    b_read = np.round(b, 6)
    expected = (b_read - np.round(a, 6).mean(0)) / np.round(a, 6).std(0)
    np.testing.assert_allclose(new.x.numpy(), expected, rtol=1e-4, atol=1e-4)
    (tmp_path / "c.csv").write_text("u,v,z\n1,2,3\n4,5,6\n")
    with pytest.raises(DataError, match="columns"):
        restandardize(load_path(tmp_path / "c.csv", SourceOptions()), train.meta)


def _csv_error(tmp_path, text, label=None) -> str:
    with pytest.raises(DataError) as info:
        load_path(write_csv(tmp_path, text), SourceOptions(label_column=label))
    return str(info.value)


def test_csv_nan_and_inf_name_lines_and_columns(tmp_path):
    # issue 9 item 4: NaN/Inf must name the rows (file lines) and the columns
    msg = _csv_error(tmp_path, "a,b,c\n1,2,3\n4,nan,6\n7,8,inf\n")
    assert "lines 3, 4" in msg and "'b', 'c'" in msg and "2 cell(s)" in msg


def test_csv_lines_are_file_lines(tmp_path):
    # the first data row is line 2 of the file; blank lines still count as file lines
    msg = _csv_error(tmp_path, "a,b\n1,2\n\n3,x\n")
    assert "line 4" in msg and "'x'" in msg
    assert "data row" not in msg
    assert "line 3 has 3 fields" in _csv_error(tmp_path, "a,b\n1,2\n1,2,3\n")


def test_csv_text_column_suggests_an_option_that_exists(tmp_path):
    msg = _csv_error(tmp_path, "a,kind\n1,cat\n2,dog\n")
    assert "--label-column" not in msg and "data.label_column=kind" in msg


def test_csv_empty_cell_is_a_missing_value_not_a_text_column(tmp_path):
    msg = _csv_error(tmp_path, "a,b\n1,2\n3,\n5,6\n")
    assert "empty cell" in msg and "line 3" in msg and "missing" in msg
    assert "drop the column" not in msg and "not numeric" not in msg
    assert "line 2" in _csv_error(tmp_path, "a,y\n1,\n2,cat\n", label="y")


def test_unknown_source_sentence_and_missing_folder(tmp_path, monkeypatch):
    # issue 9 item 7: "unknown data source 'x' Built-in sources" lacked punctuation; a missing folder is not a source
    with pytest.raises(DataError) as info:
        load_data("digitz")
    assert "unknown data source 'digitz' (did you mean 'digits'?). Built-in sources: " in str(info.value)
    monkeypatch.chdir(tmp_path)
    for missing in ("my_images/", "./my_images", str(tmp_path / "nope"), "data/images"):
        with pytest.raises(DataError, match="does not exist") as info:
            load_data(missing)
        assert "unknown data source" not in str(info.value)


def test_npy_values_are_scanned_for_nan_once_from_file_to_splits(tmp_path, monkeypatch):
    """The NaN/Inf pass over the values runs once: the loader's. The Dataset built from it and the three splits
    (rows of checked values) skip it; a Dataset whose ``x`` is replaced scans the new values again."""
    from dataclasses import replace

    import shadowplay.data.base as base
    import shadowplay.data.files as files
    from shadowplay.data import Dataset, split_dataset
    scans = []
    real = base.validate_tensor

    def counting(x, name, allow_empty=False, scan=True):
        scans.append(scan)
        return real(x, name, allow_empty=allow_empty, scan=scan)

    monkeypatch.setattr(base, "validate_tensor", counting)
    monkeypatch.setattr(files, "validate_tensor", counting)
    ds = load_path(save(tmp_path, np.random.default_rng(0).random((40, 3, 4)).astype(np.float32)), OPT)
    splits = split_dataset(ds, 0.1, 0.1, seed=0)
    assert len(scans) == 5 and scans.count(True) == 1  # file, Dataset, train/val/test
    assert sum(map(len, (splits.train, splits.val, splits.test))) == 40
    bad = torch.full((2, 3, 4), float("nan"))
    with pytest.raises(DataError, match="NaN or Inf"):
        replace(ds, x=bad)
    with pytest.raises(DataError, match="NaN or Inf"):
        Dataset(name="b", x=bad)


def test_finite_values_whose_sum_overflows_float32_are_accepted():
    """The NaN/Inf scan sums the values in float32 and looks closer only when the sum is not finite: huge but finite
    values (sum beyond 3.4e38) pass, a single NaN or Inf among them is named."""
    from shadowplay.data import Dataset
    huge = torch.full((4, 3), 3e38)
    assert len(Dataset(name="huge", x=huge)) == 4
    for bad in (float("nan"), float("inf")):
        x = huge.clone()
        x[2, 1] = bad
        with pytest.raises(DataError, match="1 example"):
            Dataset(name="huge", x=x)


def test_the_nan_error_names_the_rows():
    from shadowplay.data import Dataset
    x = torch.zeros(30, 3)
    x[[4, 17], 1] = float("nan")
    with pytest.raises(DataError, match=r"2 example\(s\) contain NaN or Inf \(rows 4, 17\)"):
        Dataset(name="d", x=x)
    x[:15, 0] = float("inf")
    with pytest.raises(DataError, match=r"rows 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, … \(16 in all\)"):
        Dataset(name="d", x=x)


def test_split_rows_are_the_rows_of_split_dataset():
    from shadowplay.data import Dataset, split_dataset, split_rows
    ds = Dataset(name="d", x=torch.arange(50.0)[:, None])
    rows, parts = split_rows(50, 0.2, 0.1, 3), split_dataset(ds, 0.2, 0.1, 3)
    for name in ("train", "val", "test"):
        assert getattr(parts, name).x[:, 0].long().tolist() == rows[name].tolist()
    assert sorted(torch.cat(list(rows.values())).tolist()) == list(range(50))


def test_image_size_is_refused_for_arrays_it_cannot_resize(tmp_path):
    """Only image folders are resized; an array of another size used to be loaded as it was, silently."""
    images = save(tmp_path, np.zeros((4, 8, 8), np.uint8), "img.npy")
    with pytest.raises(DataError, match=r"img.npy: images are 8x8 and data.image_size=32 cannot change that"):
        load_path(images, SourceOptions(image_size=32))
    assert load_path(images, SourceOptions(image_size=8)).shape == (1, 8, 8)  # already that size: nothing to do
    table = save(tmp_path, np.zeros((4, 5), np.float32), "tab.npy")
    with pytest.raises(DataError, match=r"rows have shape \(5,\).*drop data.image_size"):
        load_path(table, SourceOptions(image_size=32))

