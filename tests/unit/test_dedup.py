"""The dedup stage (clipcurate.pool.dedup and the score methods exact_dup, near_dup, phash_dup, semdedup,
decontam) against independent references:

* SemDeDup against an O(n^2) loop written from the reference's description (order by distance to
  the centroid, Python's stable sort; remove j when its largest cosine to an earlier item, kept or
  removed, exceeds 1 - eps), including a chain A~B~C with A!~C and the hard/easy order;
* the staged fit / apply / group jobs (as the workflow runs them, over chunk and shard files)
  against the in-memory computation over all rows at once;
* near-duplicate groups against brute-force cosine matrices and a Python union-find;
* perceptual hashes of crafted images (re-encoded as JPEG, resized, slightly cropped) and the
  multi-index Hamming search against all pairs;
* exact duplicates on byte-identical images against hashlib;
* every threshold just inside and just outside.
"""

from __future__ import annotations

import hashlib
from io import BytesIO

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clipcurate.pool import dedup as D
from clipcurate.core import fileio, poolindex
from clipcurate.scores.plan import PlanError, plan_score
from tests.unit.test_stages import CONFIG, N, N_CHUNKS, PER_SHARD, pool, run_staged, unit  # noqa: F401 (fixture)


# --------------------------------------------------------------------------------------------
# references


def brute_semdedup(x, sim, eps, which="hard"):
    """The reference's rule as plain loops: sorted() by 1 - sim (stable), all earlier items count."""
    n = len(x)
    order = sorted(range(n), key=lambda i: 1.0 - float(sim[i]), reverse=(which == "hard"))
    keep = [True] * n
    for pos, j in enumerate(order):
        best = 0.0
        for i in order[:pos]:
            best = max(best, float(np.dot(x[i].astype(np.float64), x[j].astype(np.float64))))
        keep[j] = not best > 1.0 - eps
    return np.array(keep)


def union_find_first(n, pairs):
    parent = list(range(n))

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    roots = [find(i) for i in range(n)]
    seen, keep = set(), []
    for r in roots:
        keep.append(r not in seen)
        seen.add(r)
    sizes = {r: roots.count(r) for r in set(roots)}
    return np.array(keep), np.array([sizes[r] for r in roots])


def brute_near(x, t):
    s = x.astype(np.float64) @ x.astype(np.float64).T
    return union_find_first(len(x), [(i, j) for i in range(len(x)) for j in range(i + 1, len(x)) if s[i, j] >= t - 1e-6])


# --------------------------------------------------------------------------------------------
# SemDeDup


def test_semdedup_matches_the_brute_force_rule_on_random_clusters():
    rng = np.random.default_rng(1)
    for trial in range(20):
        n = int(rng.integers(2, 60))
        base = unit(rng.normal(size=(4, 6)))
        x = unit(base[rng.integers(0, 4, n)] + rng.uniform(0.02, 0.4) * rng.normal(size=(n, 6)))
        c = unit(x.mean(0, keepdims=True))[0]
        sim = x @ c
        for eps in (0.01, 0.05, 0.2):
            for which in ("hard", "easy"):
                keep, m = D.semdedup_keep(x, sim, eps, which)
                np.testing.assert_array_equal(keep, brute_semdedup(x, sim, eps, which), err_msg=f"{trial} {eps} {which}")
    # the blocked computation of M equals the full matrix one
    x = unit(rng.normal(size=(300, 5)))
    s = x @ x.T
    full = np.array([0.0] + [max(0.0, s[:j, j].max()) for j in range(1, 300)])
    np.testing.assert_allclose(D.semdedup_max_earlier(x, block=7), full, atol=1e-5)


def test_semdedup_removed_items_still_count_and_the_hard_order_keeps_the_farthest():
    # A, B, C on a circle 0.3 rad apart: cos(A,B) = cos(B,C) = 0.955 > 1 - eps = 0.95, cos(A,C) = 0.825
    ang = np.array([0.0, 0.3, 0.6])
    x = np.stack([np.cos(ang), np.sin(ang)], 1).astype(np.float32)
    # centroid at angle 0.6: C nearest, A farthest -> hard order A, B, C
    c = np.array([np.cos(0.6), np.sin(0.6)], np.float32)
    keep, m = D.semdedup_keep(x, x @ c, 0.05, "hard")
    # B is removed (similar to A); C is removed too, because removed B still counts as earlier,
    # although C is not similar to A, the only kept item
    np.testing.assert_array_equal(keep, [True, False, False])
    assert m[2] == pytest.approx(np.cos(0.3), abs=1e-6)
    # easy order C, B, A: C kept (nearest the centroid), B and A removed
    keep, _ = D.semdedup_keep(x, x @ c, 0.05, "easy")
    np.testing.assert_array_equal(keep, [False, False, True])
    # a greedy "compare with kept items only" rule would keep C: the chain rule is the reference's
    kept_only = [True, False, float(x[2] @ x[0]) <= 0.95]
    assert kept_only == [True, False, True]


def test_semdedup_eps_just_inside_and_just_outside():
    a = 0.2
    x = np.array([[1, 0], [np.cos(a), np.sin(a)]], np.float32)
    cos = float(x[0] @ x[1])
    sim = np.array([0.0, 1.0], np.float32)  # item 0 first (farther from the centroid)
    assert D.semdedup_keep(x, sim, 1 - cos + 1e-4)[0].tolist() == [True, False]  # cos > 1 - eps: removed
    assert D.semdedup_keep(x, sim, 1 - cos - 1e-4)[0].tolist() == [True, True]


def test_semdedup_ties_stay_in_pool_order():
    x = unit(np.array([[1, 0], [1, 0.001], [1, 0.002]], np.float32))
    keep, _ = D.semdedup_keep(x, np.ones(3, np.float32), 0.1, "hard")  # equal distances: pool order
    np.testing.assert_array_equal(keep, [True, False, False])


def test_semdedup_staged_equals_in_memory(pool):
    img = pool["img"]
    params = {"clusters": 6, "niter": 10, "seed": 3, "eps": 0.02, "group_shards": 3}
    got = run_staged("sd", {"method": "semdedup", "model": "m", "params": params})
    c = D.spherical_kmeans(img, 6, 10, 3)
    keep, m = D.semdedup_memory(img, c, 0.02, "hard", seed=3)
    np.testing.assert_array_equal(got["keep"], keep)
    np.testing.assert_allclose(got["score"], 1 - m, atol=1e-6)
    assert 0 < (~keep).sum() < N
    # the per-cluster rule is the brute-force one
    lab, sim = D.nearest_centroid(img, c)
    for k in np.unique(lab):
        rows = np.flatnonzero(lab == k)
        np.testing.assert_array_equal(keep[rows], brute_semdedup(img[rows], sim[rows], 0.02))
    # random order: seeded per cluster, the same in both paths
    got = run_staged("sdr", {"method": "semdedup", "model": "m", "params": {**params, "which_to_keep": "random"}})
    np.testing.assert_array_equal(got["keep"], D.semdedup_memory(img, c, 0.02, "random", seed=3)[0])


def test_semdedup_config_errors():
    cfg = {**CONFIG, "scores": {"s": {"method": "semdedup", "model": "m", "params": {"eps": 1.5}}}}
    with pytest.raises(PlanError, match=r"scores.s.params.eps"):
        plan_score(cfg, "s")
    cfg["scores"]["s"]["params"] = {"which_to_keep": "middle"}
    with pytest.raises(PlanError, match=r"which_to_keep"):
        plan_score(cfg, "s")


# --------------------------------------------------------------------------------------------
# embedding near duplicates


def test_near_pairs_threshold_just_inside_and_just_outside():
    a = 0.3
    x = np.array([[1, 0], [np.cos(a), np.sin(a)], [0, 1]], np.float32)
    cos = float(x[0] @ x[1])
    i, j = D.near_pairs(x, cos - 1e-4)
    assert list(zip(i, j)) == [(0, 1)]
    assert len(D.near_pairs(x, cos + 1e-4)[0]) == 0
    hit, best = D.matches_any(x[1:], x[:1], cos - 1e-4)
    assert hit.tolist() == [True, False] and best[0] == pytest.approx(cos, abs=1e-6)
    assert D.matches_any(x[1:], x[:1], cos + 1e-4)[0].tolist() == [False, False]


def test_near_groups_against_brute_force_components():
    rng = np.random.default_rng(2)
    base = unit(rng.normal(size=(40, 16)))
    # chains and groups: copies of some base vectors with small noise
    x = unit(np.concatenate([base, base[:15] + 0.05 * rng.normal(size=(15, 16)), base[:5] + 0.08 * rng.normal(size=(5, 16))]))
    x = x[rng.permutation(len(x))]
    for t in (0.97, 0.99, 0.995):
        keep, size = D.near_groups(x, t)
        ref_keep, ref_size = brute_near(x, t)
        np.testing.assert_array_equal(keep, ref_keep)
        np.testing.assert_array_equal(size, ref_size)


def test_dup_score_counts_the_groups():
    size = np.array([1, 2, 2, 3, 3, 3, 1, 4, 4, 4, 4])
    assert D.groups_from_score(D.dup_score(size)) == 3


def test_near_dup_staged_equals_brute_force_within_its_clusters(pool):
    img = pool["img"]
    t = 0.97
    got = run_staged("nd", {"method": "near_dup", "model": "m",
                            "params": {"clusters": 4, "niter": 10, "seed": 1, "threshold": t, "group_shards": 2}})
    c = D.spherical_kmeans(img, 4, 10, 1)
    lab, _ = D.nearest_centroid(img, c)
    keep = np.ones(N, bool)
    size = np.ones(N, np.int64)
    for k in np.unique(lab):
        rows = np.flatnonzero(lab == k)
        keep[rows], size[rows] = brute_near(img[rows], t)
    np.testing.assert_array_equal(got["keep"], keep)
    np.testing.assert_allclose(got["score"], 1.0 / size)
    assert 0 < (~keep).sum() < N
    # the coarse clusters miss only pairs across clusters: against all pairs of the pool
    gk, _ = brute_near(img, t)
    assert (got["keep"] | ~gk).sum() >= N - 2  # at most a couple of cross-cluster misses on this pool


# --------------------------------------------------------------------------------------------
# perceptual hashes


def crafted_image(seed, size=96):
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    im = Image.new("RGB", (size, size), tuple(int(v) for v in rng.integers(0, 255, 3)))
    d = ImageDraw.Draw(im)
    for _ in range(6):
        x0, y0 = rng.integers(0, size - 20, 2)
        w, h = rng.integers(10, 50, 2)
        box = [int(x0), int(y0), int(min(size - 1, x0 + w)), int(min(size - 1, y0 + h))]
        colour = tuple(int(v) for v in rng.integers(0, 255, 3))
        (d.ellipse if rng.random() < 0.5 else d.rectangle)(box, fill=colour)
    return im


def variants_of(im):
    from PIL import Image

    buf = BytesIO()
    im.save(buf, "JPEG", quality=60)
    jpeg = Image.open(BytesIO(buf.getvalue())).convert("RGB")
    resized = im.resize((64, 64), Image.BICUBIC)
    w, h = im.size
    cropped = im.crop((2, 2, w - 2, h - 2)).resize((w, h), Image.BICUBIC)
    return {"jpeg": jpeg, "resized": resized, "cropped": cropped}


def test_phash_groups_crafted_near_duplicates():
    originals = [crafted_image(s) for s in range(12)]
    hashes, owner = [], []
    for k, im in enumerate(originals):
        hashes.append(D.phash_int(im))
        owner.append(k)
    for k, im in enumerate(originals[:6]):
        for v in variants_of(im).values():
            hashes.append(D.phash_int(v))
            owner.append(k)
    h = np.array(hashes, np.uint64)
    owner = np.array(owner)
    dist = np.array([[bin(int(a) ^ int(b)).count("1") for b in h] for a in h])
    same = owner[:, None] == owner[None, :]
    # the variants stay within a few bits of their original, different images far apart
    t = 10
    assert dist[same].max() <= t < dist[~same].min(), (dist[same].max(), dist[~same].min())
    keep, size = D.phash_groups(h, np.ones(len(h), bool), t)
    # one kept per original: the original itself (first in pool order)
    np.testing.assert_array_equal(np.flatnonzero(keep), np.arange(12))
    np.testing.assert_array_equal(size, np.where(owner < 6, 4, 1))
    # an undecodable image (valid false) is never a duplicate
    keep, _ = D.phash_groups(h, np.r_[np.ones(12, bool), np.zeros(len(h) - 12, bool)], t)
    assert keep.all()


def test_hamming_pairs_against_all_pairs_and_the_distance_boundary():
    rng = np.random.default_rng(4)
    h = rng.integers(0, 2**63 - 1, size=300, dtype=np.int64).astype(np.uint64)
    flips = [1 << int(b) for b in rng.choice(64, size=5, replace=False)]
    near = []
    for k in range(60):  # planted: distance 1..5 from an earlier hash
        v = int(h[k])
        for b in flips[: 1 + k % 5]:
            v ^= b
        near.append(v)
    h = np.unique(np.r_[h, np.array(near, np.uint64)])
    for t in (0, 2, 3, 5):
        i, j = D.hamming_pairs(h, t)
        got = set(zip(i.tolist(), j.tolist()))
        ref = {(a, b) for a in range(len(h)) for b in range(a + 1, len(h)) if bin(int(h[a]) ^ int(h[b])).count("1") <= t}
        assert got == ref, t
    a, b = np.uint64(0b1011), np.uint64(0)  # distance exactly 3
    assert len(D.hamming_pairs(np.array([a, b]), 3)[0]) == 1
    assert len(D.hamming_pairs(np.array([a, b]), 2)[0]) == 0
    np.testing.assert_array_equal(D.popcount64(np.array([0, 1, 2**64 - 1], np.uint64)), [0, 1, 64])


def test_phash_int_is_imagehash():
    import imagehash

    im = crafted_image(7)
    assert format(D.phash_int(im), "016x") == str(imagehash.phash(im))


# --------------------------------------------------------------------------------------------
# exact duplicates


def _jpeg(im, q):
    buf = BytesIO()
    im.save(buf, "JPEG", quality=q)
    return buf.getvalue()


def test_exact_dup_staged_on_byte_identical_images(pool):
    rng = np.random.default_rng(5)
    images = [_jpeg(crafted_image(s, 32), 90) for s in range(N)]
    for i in range(N):  # a fifth of the pool copies the bytes of another sample, some across chunks
        if rng.random() < 0.2:
            j = int(rng.integers(0, N))
            images[i] = images[j]
    # one re-encoded copy: the same picture, other bytes: not an exact duplicate
    images[5] = _jpeg(Image_open(images[4]), 70)
    shas = [hashlib.sha256(b).hexdigest() for b in images]
    shas[7] = None  # a sample without a hash is never a duplicate
    index = poolindex.read_index("results/pool/index.parquet", columns=["uid", "shard", "key"])
    keys = index.column("key").to_pylist()
    shard = index.column("shard").to_numpy()
    for s in np.unique(shard):
        path = f"results/pool/shards/{int(s):08d}.parquet"
        t = pq.read_table(path)
        pos = {k: i for i, k in enumerate(keys)}
        t = t.append_column("sha256", pa.array([shas[pos[k]] for k in t.column("key").to_pylist()], pa.string()))
        fileio.write_table(t, path)
    got = run_staged("ex", {"method": "exact_dup"})
    seen, keep, size = set(), [], []
    for i, s in enumerate(shas):
        keep.append(s is None or s not in seen)
        size.append(1 if s is None else shas.count(s))
        if s is not None:
            seen.add(s)
    np.testing.assert_array_equal(got["keep"], keep)
    np.testing.assert_allclose(got["score"], 1.0 / np.array(size))
    assert 0 < (~got["keep"]).sum()


def Image_open(data):
    from PIL import Image

    return Image.open(BytesIO(data)).convert("RGB")


def test_sha256_words_name_a_bad_row():
    with pytest.raises(D.DedupError, match="row 1"):
        D.sha256_words(["ab" * 32, "xyz"])


# --------------------------------------------------------------------------------------------
# decontamination


def test_decontam_removes_planted_eval_copies(pool):
    img = pool["img"]
    rng = np.random.default_rng(6)
    evals = unit(rng.normal(size=(30, img.shape[1])))
    planted = rng.choice(N, size=12, replace=False)  # ground truth kind eval_copy
    evals[:12] = unit(img[planted] + 0.001 * rng.normal(size=(12, img.shape[1])))
    fileio.write_table(pa.table({"key": pa.array([f"t/{i}" for i in range(30)]),
                                 "image": pa.FixedSizeListArray.from_arrays(pa.array(evals.reshape(-1)), evals.shape[1])}),
                       "results/dedup/eval_images/m.parquet")
    from clipcurate.scores import get

    cfg = {**CONFIG, "scores": {"dc": {"method": "decontam", "model": "m", "params": {"threshold": 0.9995}}}}
    plan = plan_score(cfg, "dc")
    assert plan.inputs["evals"]["path"] == "results/dedup/eval_images/m.parquet"
    best = (img @ evals.T).max(1)
    m = get("decontam")
    for c in range(N_CHUNKS):
        rows = np.flatnonzero(pool["chunk"] == c)
        out = m.func(dict(plan.params), emb={"uid": None, "image": img[rows]}, evals="results/dedup/eval_images/m.parquet")
        np.testing.assert_array_equal(out["keep"], best[rows] < 0.9995)
        np.testing.assert_allclose(out["score"], 1 - best[rows], atol=1e-5)
    keep = best < 0.9995
    assert set(np.flatnonzero(~keep)) == set(planted.tolist())


def test_semdedup_score_serves_an_eps_sweep():
    """keep at eps equals score >= eps away from float ties: one score file gives every eps."""
    rng = np.random.default_rng(8)
    base = unit(rng.normal(size=(5, 8)))
    x = unit(base[rng.integers(0, 5, 200)] + 0.1 * rng.normal(size=(200, 8)))
    sim = x @ unit(x.mean(0, keepdims=True))[0]
    _, m = D.semdedup_keep(x, sim, 0.05)
    score = 1 - m
    removed = []
    for eps in (0.005, 0.02, 0.05, 0.1):
        keep, _ = D.semdedup_keep(x, sim, eps)
        far = np.abs(score - eps) > 1e-5
        np.testing.assert_array_equal(keep[far], (score >= eps)[far])
        removed.append(int((~keep).sum()))
    assert removed == sorted(removed) and 0 < removed[1] < removed[-1] < 200
