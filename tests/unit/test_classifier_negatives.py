"""The classifier trainer's pool negatives: a seeded uniform sample, chunk by chunk, never the pool."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clipcurate.scores.helpers.classifier import ClassifierError, classifier_features, pool_negatives


def _write_chunk(path, start, n, d=4):
    # row r of the pool has image = [r, r, ...] and text = -image: every row is recognisable
    img = np.repeat(np.arange(start, start + n, dtype=np.float32)[:, None], d, axis=1)
    t = pa.table({
        "uid": pa.array([f"{i:032x}" for i in range(start, start + n)]),
        "image": pa.FixedSizeListArray.from_arrays(pa.array(img.reshape(-1)), d),
        "text": pa.FixedSizeListArray.from_arrays(pa.array((-img).reshape(-1)), d),
    })
    pq.write_table(t, path)
    return {"image": img, "text": -img}


@pytest.fixture()
def chunks(tmp_path):
    sizes = [100, 300, 600]
    paths, embs, start = [], [], 0
    for i, n in enumerate(sizes):
        p = tmp_path / f"{i:05d}.parquet"
        embs.append(_write_chunk(p, start, n))
        paths.append(str(p))
        start += n
    return paths, embs, sizes


def test_no_limit_is_the_pool_in_order(chunks):
    paths, embs, _ = chunks
    full = np.concatenate([classifier_features(e, "image_text") for e in embs])
    np.testing.assert_array_equal(pool_negatives(paths, "image_text", None, seed=0), full)
    np.testing.assert_array_equal(pool_negatives(paths, "image", 5000, seed=0), full[:, :4])  # larger than the pool


def test_sample_is_distinct_pool_rows_and_seeded(chunks):
    paths, _, _ = chunks
    a = pool_negatives(paths, "image_text", 150, seed=3)
    assert a.shape == (150, 8)
    rows = a[:, 0].astype(int)
    assert len(set(rows)) == 150 and rows.min() >= 0 and rows.max() < 1000
    np.testing.assert_array_equal(a[:, 4], -a[:, 0])  # image and text of the same row stay together
    np.testing.assert_array_equal(pool_negatives(paths, "image_text", 150, seed=3), a)
    assert not np.array_equal(pool_negatives(paths, "image_text", 150, seed=4), a)


def test_chunks_contribute_in_proportion(chunks):
    # hypergeometric: chunk 3 (600 of 1,000 rows) gives 60 of 100 draws on average, SD 4.65 per
    # draw, so the mean of 200 seeds has SE 0.33; 2.0 is six of them
    paths, _, _ = chunks
    from_last = [np.sum(pool_negatives(paths, "image", 100, seed=s)[:, 0] >= 400) for s in range(200)]
    assert abs(np.mean(from_last) - 60) < 2.0


def test_errors(chunks):
    paths, _, _ = chunks
    with pytest.raises(ClassifierError, match="no pool embedding files"):
        pool_negatives([], "image", 10, seed=0)
    with pytest.raises(ClassifierError, match="max negatives must be positive"):
        pool_negatives(paths, "image", 0, seed=0)
