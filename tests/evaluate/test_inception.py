"""The in-project FID Inception-v3: same layout as the standard weights file, same features as torch-fidelity's
network given the same (here random) weights, and clear errors for bad weight files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fakevision.core.errors import InputError
from fakevision.evaluate.features import InceptionExtractor
from fakevision.evaluate.inception import FIDInceptionV3, load_fid_inception, resize_bilinear_tf1


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> str:
    torch.manual_seed(0)
    net = FIDInceptionV3()
    # Non-trivial BN statistics so a wrong pooling/branch order changes the features.
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    path = tmp_path_factory.mktemp("w") / "inception.pth"
    torch.save(net.state_dict(), path)
    return str(path)


def test_same_features_as_torch_fidelity(weights, tf_import):
    mod = tf_import("torch_fidelity.feature_extractor_inceptionv3")
    theirs = mod.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=weights)
    ours = load_fid_inception(weights)
    x = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (2, 3, 75, 90), dtype=np.uint8))
    with torch.no_grad():
        (ref,) = theirs(x)
        got = ours(x)
    assert got.shape == (2, 2048)
    assert torch.allclose(got, ref, rtol=1e-4, atol=1e-5), float((got - ref).abs().max())


def test_tf1_resize_matches_torch_fidelity(tf_import):
    mod = tf_import("torch_fidelity.interpolate_compat_tensorflow")
    x = torch.rand(1, 3, 17, 23) * 255
    ref = mod.interpolate_bilinear_2d_like_tensorflow1x(x, size=(29, 29), align_corners=False)
    assert torch.allclose(resize_bilinear_tf1(x, 29), ref, atol=1e-4)


def test_extractor_records_name_and_accepts_lists(weights):
    ext = InceptionExtractor(weights, batch_size=2)
    imgs = [np.full((40, 40, 1), 200, np.uint8), np.ones((40, 40, 3), np.float32)]
    f = ext(imgs)
    assert f.shape == (2, 2048) and ext.name == "inception-v3-fid-2015-12-05"
    assert np.all(np.isfinite(f))


def test_bad_weight_files_name_the_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_fid_inception(tmp_path / "missing.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="junk.pth: not a PyTorch state dict"):
        load_fid_inception(junk)
    wrong = tmp_path / "wrong.pth"
    torch.save({"fc.weight": torch.zeros(3, 3)}, wrong)
    with pytest.raises(InputError, match="wrong.pth: not the FID Inception-v3 state dict layout"):
        load_fid_inception(wrong)
