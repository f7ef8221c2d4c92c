"""The identity check's embedding cache: a large reference set is embedded a chunk at a time and a stopped run
continues where it was (dlib's ResNet costs ~0.1 CPU-s a face; CelebA's training split is CPU-hours)."""

from __future__ import annotations

import numpy as np
import pytest

from fakevision.evaluate import identity


def test_embed_cached_resumes_chunk_by_chunk(tmp_path, monkeypatch) -> None:
    calls: list[int] = []

    def fake_embed(images: np.ndarray) -> np.ndarray:
        calls.append(len(images))
        return np.repeat(images.reshape(len(images), -1)[:, :1].astype(np.float64), 128, 1)

    imgs = np.arange(10, dtype=np.uint8)[:, None, None, None] * np.ones((1, 4, 4, 3), np.uint8)
    monkeypatch.setattr(identity, "embed_faces", fake_embed)
    seen: list[tuple[int, int]] = []

    def stop_after_two(done: int, total: int) -> None:
        seen.append((done, total))
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        identity.embed_cached(imgs, tmp_path, chunk=3, progress=stop_after_two)
    assert calls == [3, 3] and seen == [(3, 10), (6, 10)]
    e = identity.embed_cached(imgs, tmp_path, chunk=3)  # resumes: only the last two chunks are embedded
    assert calls == [3, 3, 3, 1]
    assert e.shape == (10, 128) and e[:, 0].tolist() == list(range(10))
    assert len(list(tmp_path.iterdir())) == 1  # the parts were joined into one file and removed
    assert np.array_equal(identity.embed_cached(imgs, tmp_path, chunk=3), e) and len(calls) == 4


def test_calibration_leave_one_out_is_chunked_and_exact() -> None:
    rng = np.random.default_rng(0)
    train = rng.normal(size=(300, 8))
    ids = np.repeat(np.arange(100), 3)
    held, held_ids = rng.normal(size=(60, 8)), np.repeat(np.arange(30), 2)
    a = identity.calibrate(train, held, held_ids, train[:10] + 0.01, train_ids=ids)
    b = identity.calibrate(train, held, held_ids, train[:10] + 0.01, train_ids=ids, chunk=7)
    assert a == b and a["training_people_new_photos_flagged"] == 1.0
