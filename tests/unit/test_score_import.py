"""Importing published subsets and score files: shuffled, partial and foreign uids, by hand."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clipcurate.core import fileio, scorefiles, uidcodec
from clipcurate.scores.methods.imported import check_file, match, read_uid_pairs, unique_pairs
from clipcurate.scores.plan import PlanError, plan_score, report_path, score_files
from clipcurate.scores.runner import run_score
from tests.unit.test_score_runner import CONFIG, UIDS, world  # noqa: F401 - the crafted pool fixture

FOREIGN = ["%032x" % 99, "%032x" % 100, "ab" * 16]


def run_import(name, entry):
    config = {**CONFIG, "scores": {name: entry}}
    plan = plan_score(config, name)
    assert plan.report and plan.level == "pool"
    out = f"results/scores/{name}.parquet"
    run_score(plan.to_dict(), score_files(plan, chunks=["00000", "00001"]), out, report_path=report_path(name))
    return scorefiles.read_scores(out, "results/pool/index.parquet"), json.loads(open(report_path(name)).read())


def write_npy(path, uids):
    with open(path, "wb") as f:
        np.save(f, uidcodec.uids_to_pairs(uids))


def test_published_npy_subset(world):
    # pool uids are 1..7; the list is shuffled, lists uid 6 twice and has two uids the pool lacks
    listed = [UIDS[2], FOREIGN[0], UIDS[5], UIDS[0], FOREIGN[1], UIDS[5]]
    write_npy("subset.npy", listed)
    got, rep = run_import("pub", {"method": "import_subset", "file": "subset.npy", "params": {"repeats": "count"}})
    assert got["keep"].tolist() == [True, False, True, False, False, True, False]
    assert got["score"].tolist() == [1.0, 0.0, 1.0, 0.0, 0.0, 2.0, 0.0]
    assert {k: rep[k] for k in ("source_rows", "source_distinct_uids", "pool_rows", "pool_matched", "pool_unmatched",
                                "source_not_in_pool")} == {"source_rows": 6, "source_distinct_uids": 5, "pool_rows": 7,
                                                           "pool_matched": 3, "pool_unmatched": 4, "source_not_in_pool": 2}
    assert rep["pool_matched_fraction"] == pytest.approx(3 / 7)
    assert sorted(rep["examples_source_not_in_pool"]) == sorted(FOREIGN[:2])
    assert sorted(rep["examples_pool_unmatched"]) == [UIDS[i] for i in (1, 3, 4, 6)]


def test_parquet_uid_list_and_our_own_subset_round_trip(world, tmp_path):
    # a subset written by this workflow (sorted u8,u8 with repeats) reads back with its counts
    scorefiles.write_subset(tmp_path / "s.parquet", "ours.npy", pa.array(UIDS), np.array([0, 3, 0, 1, 0, 0, 2]))
    got, rep = run_import("ours", {"method": "import_subset", "file": "ours.npy", "params": {"repeats": "count"}})
    assert got["score"].tolist() == [0, 3, 0, 1, 0, 0, 2] and rep["source_rows"] == 6 and rep["source_not_in_pool"] == 0
    pq.write_table(pa.table({"uid": [UIDS[6], FOREIGN[2], UIDS[1]]}), "list.parquet")
    got, rep = run_import("lst", {"method": "import_subset", "file": "list.parquet"})
    assert np.flatnonzero(got["keep"]).tolist() == [1, 6] and rep["source_not_in_pool"] == 1


@pytest.mark.parametrize("fill, filled", [(None, -1.0), (0.25, 0.25)])
def test_parquet_scores(world, fill, filled):
    pq.write_table(pa.table({"uid": [UIDS[4], UIDS[1], FOREIGN[0], UIDS[0]], "clip_l14": [0.5, -1.0, 9.0, 2.0]}), "ext.parquet")
    entry = {"method": "import_scores", "file": "ext.parquet", "params": {"column": "clip_l14", "min_coverage": 0.4}}
    if fill is not None:
        entry["params"]["fill"] = fill
    got, rep = run_import("ext", entry)
    np.testing.assert_array_equal(got["score"], np.float32([2.0, -1.0, filled, filled, 0.5, filled, filled]))
    assert got["keep"].tolist() == [True, True, False, False, True, False, False]
    assert (rep["pool_matched"], rep["pool_unmatched"], rep["source_not_in_pool"], rep["fill"]) == (3, 4, 1, filled)


def test_import_errors_name_the_file(world):
    pq.write_table(pa.table({"uid": [UIDS[0], UIDS[1], UIDS[0]], "score": [1.0, 2.0, 3.0]}), "dup.parquet")
    with pytest.raises(fileio.ContractError, match=rf"dup\.parquet: uid {UIDS[0]} is listed 2 times"):
        run_import("d", {"method": "import_scores", "file": "dup.parquet"})
    pq.write_table(pa.table({"uid": ["xyz"]}), "short.parquet")
    with pytest.raises(fileio.ContractError, match=r"short\.parquet: uid .*xyz.* is not 32 hex characters"):
        run_import("s", {"method": "import_subset", "file": "short.parquet"})


def test_a_files_form_is_refused_when_the_workflow_is_planned(world):
    """Header and schema errors stop planning (PlanError naming the key and the file); the job's own
    reading (read_uid_pairs / check_file) gives the same message if the file changed since."""
    pq.write_table(pa.table({"uid": [UIDS[0]], "s": [1.0]}), "nocol.parquet")
    np.save("bad.npy", np.arange(4, dtype=np.int64))
    cases = [
        ("import_scores", "nocol.parquet", r"nocol\.parquet: no column 'score' \(params\.column\); it has \['uid', 's'\]"),
        ("import_subset", "bad.npy", r"bad\.npy: expected DataComp's subset format, a 1-D \.npy of structured dtype u8,u8 .*found dtype <i8 shape \(4,\)"),
    ]
    for method, path, message in cases:
        with pytest.raises(PlanError, match=rf"^config: scores\.x\.file: {message}"):
            plan_score({**CONFIG, "scores": {"x": {"method": method, "file": path}}}, "x")
        with pytest.raises(fileio.ContractError, match=rf"^{message}"):
            check_file(path, method)


def test_match_against_a_dictionary_on_random_uids():
    rng = np.random.default_rng(0)
    pool = [f"{x:032x}" for x in rng.integers(0, 2**62, 500)]
    src = list(rng.choice(pool, 200, replace=False)) + [f"{x:032x}" for x in rng.integers(2**62, 2**63, 50)]
    # force equal high halves (a 64-bit collision) between a pool uid and a foreign one
    src += [pool[0][:16] + "f" * 16, pool[0], pool[1][:16] + "0" * 16, pool[3], pool[3]]
    distinct, _ = unique_pairs(uidcodec.uids_to_pairs(src))
    assert uidcodec.pairs_to_uids(distinct) == sorted(set(src))  # fixed-width hex sorts as the integers do
    assert unique_pairs(uidcodec.uids_to_pairs(src))[1].tolist() == [src.count(u) for u in sorted(set(src))]
    pos = match(uidcodec.uids_to_pairs(pool), distinct)
    where = {u: i for i, u in enumerate(uidcodec.pairs_to_uids(distinct))}
    assert pos.tolist() == [where.get(u, -1) for u in pool]
    assert read_uid_pairs.__doc__
