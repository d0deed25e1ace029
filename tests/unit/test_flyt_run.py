"""FLYT from files to files: batch streams over webdataset shards, a short run, pool scoring."""

import csv
import io as _io
import json
import math

import numpy as np
import pyarrow as pa
import pytest
import torch
import webdataset as wds
from PIL import Image

from clipcurate.core import fileio, poolindex, scorefiles
from clipcurate.mix import aggregate as mixing
from clipcurate.train.flyt import GLUHead, LinearMixer
from clipcurate.train.flyt.data import downstream_batches, downstream_set, pool_score_features, upstream_batches
from clipcurate.train.flyt.run import head_scores, load_head, mixer_mix, read_mixer, train_run, write_mixer
from clipcurate.scores import get
from tests.conftest import hex_uid

torch.set_num_threads(1)
TINY = {"arch": "tiny-clip", "pretrained": None}


def _jpg(rng, size=32):
    buf = _io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


def write_pool_shards(directory, n, per_shard=10, seed=0, reverse_members=False):
    """Pool shards as img2dataset writes them (jpg, txt, json with the uid); returns (paths, uids).

    ``reverse_members`` writes each shard's samples in reverse key order, as a download whose
    requests completed in another order would.
    """
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    paths, uids = [], [hex_uid(i) for i in range(n)]
    images = [_jpg(rng) for _ in range(n)]
    for s in range(0, n, per_shard):
        path = directory / f"{s // per_shard:08d}.tar"
        members = range(s, min(n, s + per_shard))
        with wds.TarWriter(str(path)) as w:
            for i in reversed(members) if reverse_members else members:
                w.write({"__key__": f"{i:09d}", "jpg": images[i], "txt": f"caption {i}",
                         "json": json.dumps({"uid": uids[i]}).encode()})
        paths.append(path)
    return paths, uids


def write_downstream(directory, n=24, classes=("circle", "square", "star"), seed=1):
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    with wds.TarWriter(str(directory / "00000000.tar")) as w:
        for i in range(n):
            w.write({"__key__": f"{i:09d}", "jpg": _jpg(rng), "cls": str(i % len(classes)).encode(),
                     "txt": f"a {classes[i % len(classes)]}"})
    (directory / "classnames.txt").write_text("\n".join(classes) + "\n")
    (directory / "templates.txt").write_text("a photo of a {c}.\na drawing of a {c}.\n")
    return directory


def write_score(path, uids, values, index_path):
    scorefiles.write_scores(path, pa.array(uids, pa.string()), {"score": np.asarray(values, np.float32)},
                            fingerprint=poolindex.index_fingerprint(index_path))


def ident(x):
    return torch.tensor(np.asarray(x, np.float32).mean(axis=(0, 1)))  # (3,) per image, cheap


def tokens(texts):
    return torch.tensor([[int(t.split()[-1])] for t in texts])


def test_upstream_features_follow_the_uid_of_each_sample(tmp_path):
    shards, uids = write_pool_shards(tmp_path / "shards", 35)
    feats = np.arange(35 * 2, dtype=np.float32).reshape(35, 2)
    it = upstream_batches(shards, ident, tokens, 8, seed=3, shuffle_buffer=16, uids=uids, features=feats)
    seen = []
    for _ in range(6):  # 48 samples: crosses an epoch boundary (resampled, endless)
        b = next(it)
        assert b["images"].shape == (8, 3) and b["features"].shape == (8, 2)
        for uid, f, t in zip(b["uids"], b["features"].numpy(), b["texts"][:, 0].tolist()):
            i = uids.index(uid)
            np.testing.assert_array_equal(f, feats[i])
            assert t == i  # the caption belongs to the same sample
            seen.append(i)
    assert len(set(seen[:35])) == 35  # the first pass visits every sample once
    assert seen[:35] != sorted(seen[:35])  # and shuffles them


def test_upstream_order_is_reproducible_from_the_seed(tmp_path):
    shards, uids = write_pool_shards(tmp_path / "shards", 30)
    feats = np.zeros((30, 1), np.float32)

    def first(seed):
        it = upstream_batches(shards, ident, tokens, 10, seed=seed, shuffle_buffer=8, uids=uids, features=feats)
        return [u for _ in range(3) for u in next(it)["uids"]]

    assert first(0) == first(0)
    assert first(0) != first(1)


def test_upstream_order_does_not_depend_on_the_member_order_within_a_shard(tmp_path):
    feats = np.zeros((30, 1), np.float32)

    def first(reverse):
        shards, uids = write_pool_shards(tmp_path / f"shards{reverse}", 30, reverse_members=reverse)
        it = upstream_batches(shards, ident, tokens, 10, seed=0, shuffle_buffer=8, uids=uids, features=feats)
        return [u for _ in range(4) for u in next(it)["uids"]]

    assert first(False) == first(True)


def test_upstream_sample_without_score_row_names_the_shard(tmp_path):
    shards, uids = write_pool_shards(tmp_path / "shards", 12)
    it = upstream_batches(shards, ident, tokens, 4, seed=0, uids=uids[:-1], features=np.zeros((11, 1), np.float32))
    with pytest.raises(fileio.ContractError, match=r"00000001\.tar.*no row"):
        for _ in range(4):
            next(it)


def test_downstream_batches_carry_the_class_labels(tmp_path):
    d = write_downstream(tmp_path / "down")
    ds = downstream_set(d)
    assert ds["classnames"] == ["circle", "square", "star"] and len(ds["templates"]) == 2
    # labels are written as i % 3 and images are random: check the label multiset per pass
    it = downstream_batches(ds["shards"], ident, 12, seed=0, shuffle_buffer=4)
    labels = torch.cat([next(it)["labels"], next(it)["labels"]]).tolist()
    assert sorted(labels) == sorted([i % 3 for i in range(24)])


def test_downstream_set_errors_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="downstream set directory"):
        downstream_set(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no .tar shards"):
        downstream_set(tmp_path / "empty")


def test_pool_score_features_are_index_aligned(tmp_path, make_index):
    uids = [hex_uid(i) for i in range(5)]
    index = make_index(uids)
    write_score(tmp_path / "a.parquet", uids, [1, 2, 3, 4, 5], index)
    write_score(tmp_path / "b.parquet", uids, [5, 4, 3, 2, 1], index)
    got_uids, feats = pool_score_features(index, [("a", str(tmp_path / "a.parquet"), "score"),
                                                  ("b", str(tmp_path / "b.parquet"), "score")])
    assert got_uids == uids
    np.testing.assert_array_equal(feats, [[1, 5], [2, 4], [3, 3], [4, 2], [5, 1]])


def test_mflyt_mix_ranks_like_the_trained_mixer(tmp_path):
    """Scoring the pool through mixing's weighted standardized sum equals the mixer's forward pass."""
    rng = np.random.default_rng(0)
    raw = rng.normal([3.0, -1.0, 10.0], [2.0, 0.5, 4.0], size=(500, 3)).astype(np.float32)
    mixer = LinearMixer(3).fit_standardization(torch.from_numpy(raw))
    with torch.no_grad():
        mixer.linear.weight.copy_(torch.tensor([[0.8, -0.3, 0.1]]))
        expected = mixer(torch.from_numpy(raw)).numpy()
    write_mixer(mixer, ["a", "b", "c:x"], tmp_path / "mixer.json", tmp_path / "weights.csv")
    m = read_mixer(tmp_path / "mixer.json")
    assert sorted(m) == ["inputs", "mean", "std", "weights"]  # no bias: the mixer has none
    rows = list(csv.reader(open(tmp_path / "weights.csv")))
    assert rows == [["input", "weight"], ["a", "0.800000"], ["b", "-0.300000"], ["c:x", "0.100000"]]
    method, params = mixer_mix(tmp_path / "mixer.json", ["a", "b", "c:x"])
    got = mixing.mix(method, {n: raw[:, i] for i, n in enumerate(m["inputs"])}, params)["score"]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    with pytest.raises(fileio.ContractError, match=r"mixer\.json: mixer inputs .* differ"):
        mixer_mix(tmp_path / "mixer.json", ["a", "b"])
    # a file written when the mixer still had a bias reads and mixes the same (the bias is ignored)
    (tmp_path / "old.json").write_text(json.dumps({**m, "bias": 0.7}))
    assert mixer_mix(tmp_path / "old.json", ["a", "b", "c:x"]) == (method, params)


def test_read_mixer_rejects_inconsistent_files(tmp_path):
    (tmp_path / "m.json").write_text(json.dumps({"inputs": ["a", "b"], "weights": [1.0], "mean": [0, 0], "std": [1, 1]}))
    with pytest.raises(fileio.ContractError, match=r"m\.json.*'weights' has 1 entries, expected 2"):
        read_mixer(tmp_path / "m.json")


def test_eflyt_score_method_applies_the_saved_head(tmp_path):
    torch.manual_seed(0)
    head = GLUHead(8)
    torch.save({"state_dict": head.state_dict(), "d_in": 8, "hidden_mult": 1.0, "embed_spec": TINY}, tmp_path / "head.pt")
    rng = np.random.default_rng(0)
    img, txt = rng.normal(size=(7, 4)).astype(np.float32), rng.normal(size=(7, 4)).astype(np.float32)
    with torch.no_grad():
        expected = head(torch.from_numpy(np.concatenate([img, txt], 1))).numpy()
    np.testing.assert_allclose(head_scores(load_head(tmp_path / "head.pt"), img, txt), expected, rtol=1e-6)
    out = get("eflyt").func({}, emb={"image": img, "text": txt}, head=str(tmp_path / "head.pt"))
    np.testing.assert_allclose(out["score"], expected, rtol=1e-6)
    with pytest.raises(fileio.ContractError, match="expects 8-d"):
        head_scores(load_head(tmp_path / "head.pt"), img[:, :3], txt)
    # a head saved with an output bias (before it was dropped) loads; its scores shift by a constant
    torch.save({"state_dict": {**head.state_dict(), "w2.bias": torch.tensor([0.5])}, "d_in": 8, "hidden_mult": 1.0,
                "embed_spec": TINY}, tmp_path / "old.pt")
    np.testing.assert_allclose(head_scores(load_head(tmp_path / "old.pt"), img, txt), expected, rtol=1e-6)


TRAIN = {"steps": 3, "upstream_batch": 8, "downstream_batch": 6, "reference_lr": 1e-4, "scorer_lr": 1e-2,
         "warmup": 1, "downstream_loss": "ce", "update_reference": True, "shuffle_buffer": 8}


@pytest.mark.parametrize("scorer", ["mixer", "embedding"])
def test_a_short_run_writes_its_files(tmp_path, make_index, scorer):
    shards, uids = write_pool_shards(tmp_path / "shards", 20)
    index = make_index(uids)
    down = write_downstream(tmp_path / "down")
    specs = []
    if scorer == "mixer":
        rng = np.random.default_rng(0)
        for name in ("s1", "s2"):
            write_score(tmp_path / f"{name}.parquet", uids, rng.normal(size=20), index)
            specs.append((name, str(tmp_path / f"{name}.parquet"), "score"))
    out = tmp_path / "out"
    info = train_run(scorer, TRAIN, shards=shards, index_path=index, reference_spec=TINY, downstream_dir=down,
                     out_dir=out, seed=0, score_specs=specs, embed_spec=TINY if scorer == "embedding" else None)
    assert info["steps_done"] == 3 and len(info["history"]) == 3
    assert all(np.isfinite(h["downstream_loss"]) for h in info["history"])
    saved = json.loads((out / "train_info.json").read_text())
    assert saved["steps_done"] == 3 and saved["scorer"] == scorer
    # three steps are too few to judge the downstream signal; chance is ln(classes) of the downstream set
    sig = saved["downstream_signal"]
    assert sig["chance"] == pytest.approx(math.log(saved["downstream"]["classes"]))
    assert sig["above_chance"] is None and sig["moved"] is None
    if scorer == "mixer":
        m = read_mixer(out / "mixer.json")
        assert m["inputs"] == ["s1", "s2"]
        # the stored standardisation is the pool's (population) mean and std of each input
        _, feats = pool_score_features(index, specs)
        np.testing.assert_allclose(m["mean"], feats.mean(0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(m["std"], feats.std(0), rtol=1e-5)
        assert [r[0] for r in csv.reader(open(out / "weights.csv"))] == ["input", "s1", "s2"]
    else:
        head = load_head(out / "head.pt")
        assert head.d_in == 2 * 64  # tiny-clip's [image, text] embeddings
