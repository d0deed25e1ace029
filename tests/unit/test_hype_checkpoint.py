"""HYPE at real scale (method ``hype_checkpoint``): a small random HYPE-layout checkpoint, saved here and
loaded through the same call as HYPE's released ViT-L/14, scores a crafted pool's shards through the
workflow's planner and stage runners (fit on a reference set's shards, apply per chunk, gather).

The expected values are computed independently: the saved OpenCLIP model's own towers, run here on
the images preprocessed by ``open_clip.create_model_and_transforms`` and the captions tokenised by
``open_clip.get_tokenizer``, then the Lorentz-model definitions in float64 numpy (tests/unit/test_hyperbolic.py's
reference: full Lorentz vectors, the law of cosines for the exterior angle)."""

import copy
import io as _io
import math

import numpy as np
import pyarrow.parquet as pq
import pytest
import webdataset as wds
from PIL import Image

torch = pytest.importorskip("torch")

from clipcurate.core import scorefiles  # noqa: E402
from clipcurate.embed import hyperbolic as H  # noqa: E402
from clipcurate.scores.methods.hype import reference_rows  # noqa: E402
from clipcurate.scores.plan import PlanError, plan_score  # noqa: E402
from clipcurate.scores.stages import read_arrays, run_apply, run_fit, run_gather, stage_files, stage_path  # noqa: E402
from tests.unit.test_hyperbolic import ref_dist, ref_exp0, ref_specificities, save_hype_checkpoint  # noqa: E402
from tests.unit.test_itm_blip_score import jpeg, shards  # noqa: E402, F401 - the crafted pool's shards (sample 4 corrupt)
from tests.unit.test_score_runner import CAPTIONS, CONFIG, UIDS, world  # noqa: E402, F401 - the crafted pool

CURV, A_IMG, A_TXT = 1.4, -0.3, -0.1
REF_CAPTIONS = ["a photo of a goldfish", "a photo of a tench", "a photo of a great white shark", "a cock", "a hen",
                "an ostrich"]
REF_CORRUPT = 2  # this reference row's bytes do not decode


def ref_jpeg(i):
    rng = np.random.default_rng(100 + i)
    buf = _io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (30, 20 + 3 * i, 3), dtype=np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


@pytest.fixture
def pool(shards, tmp_path):  # noqa: F811 - the fixture
    """The crafted pool's shards, a world reference set `downstream` of 6 samples in two shards (row 2
    corrupt; the second shard's tar lists its samples in key order, as the embedding stage reads them)
    and the saved checkpoint."""
    ref_dir = tmp_path / "resources/world/reference/downstream"
    ref_dir.mkdir(parents=True)
    for shard, rows in ((0, range(0, 4)), (1, range(4, 6))):
        with wds.TarWriter(str(ref_dir / f"{shard:06d}.tar")) as w:
            for i in rows:
                w.write({"__key__": f"{i:06d}", "jpg": b"broken" if i == REF_CORRUPT else ref_jpeg(i),
                         "txt": REF_CAPTIONS[i], "cls": str(i % 3)})
    clip, _ = save_hype_checkpoint(tmp_path / "hype_vit.pt", curv=CURV, alpha_img=A_IMG, alpha_txt=A_TXT)
    return {**shards, "clip": clip, "checkpoint": str(tmp_path / "hype_vit.pt")}


CHUNKS = ["00000", "00001"]


def entry(checkpoint, **params):
    return {"method": "hype_checkpoint", "checkpoint": checkpoint, "reference": "downstream",
            "params": {"arch": "tiny-clip", "reference_size": 4, "seed": 3, "batch_size": 2, "block": 2, **params}}


def run_staged(name, e):
    """Every job of the staged score in the workflow's order, on the files the rules pass."""
    config = copy.deepcopy(CONFIG)
    config["scores"] = {name: e}
    plan = plan_score(config, name).to_dict()
    run_fit(plan, stage_files(plan, "fit", chunks=CHUNKS), stage_path(name, "fit"))
    for c in CHUNKS:
        run_apply(plan, stage_files(plan, "apply", chunk=c), stage_path(name, "apply", c), int(c))
    run_gather(plan, stage_files(plan, "gather", chunks=CHUNKS), stage_path(name, "gather"))
    return plan, scorefiles.read_scores(stage_path(name, "gather"), "results/pool/index.parquet")


def direct_points(clip, images, captions):
    """Lorentz vectors (float64, time first) of images and captions by the OpenCLIP model's own towers."""
    import open_clip

    _, _, preprocess = open_clip.create_model_and_transforms("tiny-clip", pretrained=None)
    tokenizer = open_clip.get_tokenizer("tiny-clip")
    with torch.no_grad():
        v_img = clip.encode_image(torch.stack([preprocess(im) for im in images])).double().numpy() * math.exp(A_IMG)
        v_txt = clip.encode_text(tokenizer(captions)).double().numpy() * math.exp(A_TXT)
    return ref_exp0(v_img, CURV), ref_exp0(v_txt, CURV)


def decoded(jpg):
    return Image.open(_io.BytesIO(jpg)).convert("RGB")


def test_checkpoint_scores_the_pool_as_the_float64_reference(pool):
    plan, got = run_staged("hype", entry(pool["checkpoint"]))
    # rows follow the index (the shards list their samples in another order): the file's uids are the
    # index's, and row i's values below are those of image i with caption i
    assert pq.read_table(stage_path("hype", "gather"), columns=["uid"]).column("uid").to_pylist() == UIDS
    # the reference artifact: the tiny path's seeded rows of the set, less the undecodable one
    fitted = read_arrays(stage_path("hype", "fit"))
    rows = reference_rows(6, 4, 3)
    kept = [int(r) for r in rows if r != REF_CORRUPT]
    assert REF_CORRUPT in rows  # seed 3 picks it: the drop is exercised
    assert fitted["rows"].tolist() == kept
    assert float(fitted["curvature"]) == pytest.approx(CURV, rel=1e-6)
    ref_i, ref_t = direct_points(pool["clip"], [decoded(ref_jpeg(i)) for i in kept], [REF_CAPTIONS[i] for i in kept])
    np.testing.assert_allclose(fitted["image"], ref_i[:, 1:], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(fitted["text"], ref_t[:, 1:], rtol=1e-4, atol=1e-5)
    # the pool's terms: decodable rows against the float64 reference
    ok = [i for i in range(7) if i != 4]
    x, y = direct_points(pool["clip"], [decoded(jpeg(i)) for i in ok], [CAPTIONS[i] for i in ok])
    want_i, want_t = ref_specificities(x, y, ref_i, ref_t, CURV)
    np.testing.assert_allclose(got["neg_dist"][ok], -ref_dist(x, y, CURV), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got["eps_i"][ok], want_i, atol=2e-3)
    np.testing.assert_allclose(got["eps_t"][ok], want_t, atol=2e-3)
    np.testing.assert_allclose(got["score"], got["neg_dist"].astype(np.float64) + got["eps_i"] + got["eps_t"], rtol=1e-6, atol=1e-5)
    # the undecodable pair: each term's lower bound, below every decodable pair
    floor = -2 * math.asinh(2.0**15) / math.sqrt(CURV)
    assert got["neg_dist"][4] == pytest.approx(floor, rel=1e-6)
    assert got["eps_i"][4] == pytest.approx(-math.pi / 2) and got["eps_t"][4] == pytest.approx(-math.pi / 2)
    for t in ("neg_dist", "eps_i", "eps_t", "score"):
        assert got[t][4] < got[t][ok].min()


def test_stage_inputs_name_the_checkpoint_and_the_reference_set(pool):
    """The fit and apply jobs depend on the checkpoint file (a missing one stops Snakemake's plan, naming
    it); the fit reads the set's shards (the world as its input), the apply the pool's shards."""
    config = {**CONFIG, "scores": {"hype": entry(pool["checkpoint"])}}
    plan = plan_score(config, "hype")
    fit = stage_files(plan, "fit", chunks=CHUNKS)
    assert fit["checkpoint"] == pool["checkpoint"] and fit["ref"] == "resources/world"
    assert plan.inputs["ref"]["dir"] == "resources/world/reference/downstream"
    apply = stage_files(plan, "apply", chunk="00001")
    assert apply["checkpoint"] == pool["checkpoint"] and apply["fitted"] == "results/scores/hype/fit.npz"
    assert apply["images"] == "results/pool/shards" and "ref" not in apply


def test_missing_checkpoint_names_the_key_and_the_path(pool, tmp_path):
    missing = str(tmp_path / "resources/hype_vitl14.pt")
    with pytest.raises(H.HyperbolicError, match=r"hype_vitl14.pt: HYPE checkpoint not found; .*scores\.<name>\.checkpoint"):
        run_staged("hype", entry(missing))


def test_planning_a_switched_entry(pool):
    """A scale file switches `hype` to the checkpoint by nulling the tiny path's keys (model,
    hyperbolic); a key left set is an error naming it, as is an unknown reference set."""
    base = {"method": "hype", "model": "m", "hyperbolic": "hype", "reference": "downstream", "params": {"reference_size": 1000}}
    switched = {**base, **entry(pool["checkpoint"]), "model": None, "hyperbolic": None}
    switched["params"] = {**base["params"], **switched["params"]}
    plan = plan_score({**CONFIG, "scores": {"hype": switched}}, "hype")
    assert plan.method == "hype_checkpoint" and plan.params["reference_size"] == 4
    with pytest.raises(PlanError, match=r"scores\.hype\.hyperbolic: not an input of method 'hype_checkpoint'"):
        plan_score({**CONFIG, "scores": {"hype": {**switched, "hyperbolic": "hype"}}}, "hype")
    with pytest.raises(PlanError, match=r"scores\.hype\.reference: unknown reference set 'imagenet'"):
        plan_score({**CONFIG, "scores": {"hype": {**switched, "reference": "imagenet"}}}, "hype")
    with pytest.raises(PlanError, match=r"scores\.hype\.checkpoint: required by method 'hype_checkpoint'"):
        plan_score({**CONFIG, "scores": {"hype": {k: v for k, v in switched.items() if k != "checkpoint"}}}, "hype")


def test_reference_images_follow_the_embedding_stages_order(pool):
    """ReferenceImages: the set's rows in iter_reference_samples's order (the reference embedding file's),
    counted from the tar headers; only requested rows come back; bad requests and image-less samples
    are errors naming the set or the shard."""
    from clipcurate.core.fileio import ContractError
    from clipcurate.embed.encode import iter_reference_samples
    from clipcurate.scores.images import ReferenceImages

    ref = ReferenceImages("resources/world/reference/downstream")
    order = [caption for _, _, caption, _ in iter_reference_samples("resources/world/reference/downstream")]
    assert len(ref) == 6 and order == REF_CAPTIONS
    got = list(ref.samples([1, 4, 5]))
    assert [r for r, _, _ in got] == [1, 4, 5] and [c for _, _, c in got] == [REF_CAPTIONS[i] for i in (1, 4, 5)]
    assert np.array_equal(np.asarray(got[1][1]), np.asarray(decoded(ref_jpeg(4))))
    assert [rows for rows, _, _ in ref.batches([0, 2, 3, 5], 3)] == [[0, 2, 3], [5]]
    assert list(ref.samples([2]))[0][1] is None  # undecodable: None, as the Images input gives it
    with pytest.raises(ValueError, match=r"downstream: rows must be sorted, distinct and in \[0, 6\)"):
        list(ref.samples([3, 1]))
    with pytest.raises(ValueError, match=r"in \[0, 6\)"):
        list(ref.samples([6]))
    with wds.TarWriter("resources/world/reference/downstream/000002.tar") as w:
        w.write({"__key__": "000006", "txt": "no image"})
    with pytest.raises(ContractError, match=r"000002.tar: sample 000006 has no image"):
        list(ReferenceImages("resources/world/reference/downstream").samples([6]))
