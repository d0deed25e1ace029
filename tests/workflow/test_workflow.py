"""The whole chain on a micro config in a temp directory, and the workflow's error messages."""

import csv
import re
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from clipcurate.pool.download import free_port
from tests.required import skip_or_fail

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")]


def run_smk(workdir, *args, check=True):
    proc = subprocess.run([*SNAKEMAKE, "--directory", str(workdir), *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def micro_args(workdir):
    port_cfg = Path(workdir) / "port.yaml"
    if not port_cfg.exists():  # reused by a second run, so its params (the served URL) stay the same
        port_cfg.write_text(yaml.safe_dump({"world": {"serve_port": free_port()}}))
    return ["--configfile", str(REPO / "tests/workflow/micro.yaml"), str(port_cfg)]


@pytest.fixture(scope="module")
def micro_workdir(tmp_path_factory):
    """One micro run of table1, shared by the tests that extend it (FLYT reuses its pool and models)."""
    workdir = tmp_path_factory.mktemp("micro")
    run_smk(workdir, "results/tables/table1.csv", *micro_args(workdir), "--cores", "2")
    return workdir


@pytest.mark.workflow
def test_table1_end_to_end(micro_workdir):
    tmp_path = micro_workdir
    rows = list(csv.DictReader(open(tmp_path / "results/tables/table1.csv")))
    assert [r["method"] for r in rows] == ["No filtering", "CLIP score (top 30%)", "Ground-truth clean"]
    cols = ["ImageNet", "ImageNet dist. shifts", "VTAB", "Retrieval", "Average", "dataset size"]
    assert list(rows[0].keys()) == ["method", *cols, *[f"{c}_se" for c in cols[:-1]]]
    n_test = yaml.safe_load((REPO / "tests/workflow/micro.yaml").read_text())["world"]["sizes"]["eval_per_task"]
    for r in rows:
        for c in cols[:-1]:
            assert 0.0 <= float(r[c]) <= 1.0
        # the ImageNet analogue's binomial standard error on the micro world's test images
        p = float(r["ImageNet"])
        assert float(r["ImageNet_se"]) == pytest.approx((p * (1 - p) / n_test) ** 0.5, abs=2e-4)
    by = {r["method"]: r for r in rows}
    n_index = int(by["No filtering"]["dataset size"])
    assert int(by["CLIP score (top 30%)"]["dataset size"]) == int(0.3 * n_index)
    assert int(by["Ground-truth clean"]["dataset size"]) < n_index
    # the ground-truth clean subset trains a better ImageNet analogue than the unfiltered pool
    assert float(by["Ground-truth clean"]["ImageNet"]) > float(by["No filtering"]["ImageNet"])
    assert (tmp_path / "results/tables/table1.md").read_text().startswith("## ")
    report = yaml.safe_load((tmp_path / "results/pool/download_report.json").read_text())
    assert report["failed"] > 0 and report["success"] == n_index
    # a second run has nothing to do: outputs are complete and consistent
    again = run_smk(tmp_path, "results/tables/table1.csv", *micro_args(tmp_path), "--cores", "1", "-n")
    assert "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.workflow
def test_flyt_chain_on_the_micro_pool(micro_workdir):
    """E-FLYT head -> eflyt score -> M-FLYT mixer -> mflyt mix -> SCS subset (a few FLYT steps)."""
    tmp_path = micro_workdir
    n_index = len(pq.read_table(tmp_path / "results/pool/index.parquet", columns=["uid"]))
    two = tmp_path / "mflyt_two_inputs.yaml"  # M-FLYT over two inputs here; its twelve need many more trainings
    two.write_text(yaml.safe_dump({"flyt": {"runs": {"mflyt": {"inputs": ["clip_score", "eflyt"]}}}}))
    run_smk(tmp_path, "results/subsets/mflyt_scs015.parquet", *micro_args(tmp_path), str(two), "--cores", "2")
    weights = list(csv.DictReader(open(tmp_path / "results/flyt/mflyt/weights.csv")))
    assert [w["input"] for w in weights] == ["clip_score", "eflyt"]
    info = yaml.safe_load((tmp_path / "results/flyt/mflyt/train_info.json").read_text())
    assert info["steps_done"] == 4 and info["train"]["reference_lr"] == 2.0e-4
    # the per-step mixer weights (drawn in the report) end at the learned weights
    assert info["history"][-1]["mixer_weights"] == pytest.approx([float(w["weight"]) for w in weights], abs=1e-6)
    stats = yaml.safe_load((tmp_path / "results/subsets/mflyt_scs015.stats.json").read_text())
    assert stats["n_total"] == 23040 and stats["n_unique"] <= n_index  # SCS draws N = samples seen, with repeats
    assert stats["sampler"] == {"method": "scs", "alpha": 0.15, "n": 23040, "group_size": 18}  # G = ceil(N / 1280)
    assert (tmp_path / "results/subsets/mflyt_scs015.hist.png").stat().st_size > 0


def image_based_in_memory(workdir: Path, k: int):
    """DataComp's image-based filter over the whole micro pool at once (the pre-staging in-memory
    path): every caption, every image embedding, one k-means, one assignment."""
    import numpy as np

    from clipcurate.scores.helpers import datacomp_filters as F
    from clipcurate.scores.helpers import langid
    from clipcurate.embed.encode import read_embeddings
    from clipcurate.scores.runner import Rows, load_metadata

    rows = Rows(workdir / "results/pool/index.parquet")
    texts = load_metadata(workdir / "results/pool/shards", ["text"], rows).column("text").to_pylist()
    chunks = sorted((workdir / "results/embeddings/openai").glob("*.parquet"))
    img = np.concatenate([read_embeddings(p, columns=("image",))["image"] for p in chunks])
    ref = read_embeddings(workdir / "results/reference_embeddings/openai/downstream.parquet", columns=("image",))["image"]
    pre = F.caption_prefilter(texts, langid.is_english(texts, langid.load_model(None)))
    centroids = F.train_centroids(img[pre], k, niter=20, seed=0)
    return F.image_based_keep(img, pre, centroids, ref)[0], centroids, pre


@pytest.mark.workflow
def test_image_based_staged_on_the_micro_pool(micro_workdir):
    """DataComp's image-based filter run as its staged jobs (prepare and apply per chunk, one fit)
    equals the in-memory filter over the whole pool."""
    import numpy as np

    from clipcurate.core import scorefiles

    tmp_path = micro_workdir
    proc = run_smk(tmp_path, "results/scores/image_based.parquet", *micro_args(tmp_path), "--cores", "2")
    out = proc.stdout + proc.stderr
    n_chunks = len(list((tmp_path / "results/embeddings/openai").glob("*.parquet")))
    for rule, count in (("score_prepare", n_chunks), ("score_fit", 1), ("score_chunk", n_chunks)):
        assert len(re.findall(rf"^(?:local)?rule {rule}:\n(?:    .*\n)*?    wildcards: score=image_based", out, re.M)) == count, rule
    got = scorefiles.read_scores(tmp_path / "results/scores/image_based.parquet", tmp_path / "results/pool/index.parquet")
    keep, centroids, pre = image_based_in_memory(tmp_path, 128)
    fitted = np.load(tmp_path / "results/scores/image_based/fit.npz")
    np.testing.assert_allclose(fitted["centroids"], centroids, rtol=0, atol=1e-5)
    assert 0 < keep.sum() < pre.sum()
    assert np.array_equal(got["keep"], keep)


@pytest.mark.workflow
def test_a_grouped_method_runs_its_group_jobs_on_the_micro_pool(micro_workdir, tmp_path):
    """The README's pool-level example (k-means fitted on per-chunk samples, near-duplicates dropped
    within each cluster), added as one module to a copy of the workflow: its prepare, fit, apply,
    group (3 shards) and gather jobs run and nothing else, and the result equals a brute-force pass."""
    import shutil

    import numpy as np

    from clipcurate.core import scorefiles
    from clipcurate.embed.encode import read_embeddings
    from tests.unit.test_readme_methods import section_blocks

    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("Snakefile", "rules", "workflow", "src", "config", "envs", "report", "profiles"):
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, repo / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy(REPO / name, repo / name)
    (repo / "src/clipcurate/scores/methods/cluster_dedup.py").write_text(section_blocks("python")[2])
    overlay = tmp_path / "dedup.yaml"
    overlay.write_text(yaml.safe_dump({"scores": {"dedup": {"method": "cluster_dedup", "model": "openai",
                                                            "params": {"threshold": 0.97, "group_shards": 3}}}}))
    workdir = micro_workdir
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "--directory", str(workdir),
                           "results/scores/dedup.parquet", *micro_args(workdir), str(overlay), "--cores", "2"],
                          capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    stats = dict(re.findall(r"^(\w+)\s+(\d+)$", out[out.index("Job stats:"):], re.M))
    n_chunks = len(list((workdir / "results/embeddings/openai").glob("*.parquet")))
    assert stats == {"score_prepare": str(n_chunks), "score_fit": "1", "score_chunk": str(n_chunks),
                     "score_group": "3", "score": "1", "total": str(2 * n_chunks + 5)}
    got = scorefiles.read_scores(workdir / "results/scores/dedup.parquet", workdir / "results/pool/index.parquet")["keep"]
    img = np.concatenate([read_embeddings(p, columns=("image",))["image"]
                          for p in sorted((workdir / "results/embeddings/openai").glob("*.parquet"))])
    cluster = np.argmax(img @ np.load(workdir / "results/scores/dedup/fit.npz")["centroids"].T, axis=1)
    keep = np.ones(len(img), bool)
    for g in np.unique(cluster):
        kept = []
        for i in np.flatnonzero(cluster == g):
            if kept and (img[kept] @ img[i] > 0.97).any():
                keep[i] = False
            else:
                kept.append(i)
    assert 0 < (~keep).sum() < len(keep) and len(np.unique(cluster)) > 3
    assert np.array_equal(got, keep)


def test_lint_is_clean(tmp_path):
    proc = run_smk(tmp_path, "--lint", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_schema_error_names_the_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"scale": {"lr": "fast"}}))
    proc = run_smk(tmp_path, "--configfile", str(bad), "-n", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"config key scale.lr (set in {bad}): 'fast' is not of type 'number'" in out


def test_unknown_recipe_and_table_list_known_names(tmp_path):
    proc = run_smk(tmp_path, "results/subsets/nonsense.parquet", "-n", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "unknown recipe 'nonsense'" in out and "clip_score_top30" in out
    proc = run_smk(tmp_path, "results/tables/table99.csv", "-n", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "unknown table 'table99'" in out and "table1" in out


def test_dry_run_plans_chunks_from_config(tmp_path):
    proc = run_smk(tmp_path, "results/tables/table1.csv", "-n", "--quiet", "rules")
    out = proc.stdout + proc.stderr
    # 20,000 samples / 1,000 per shard = 20 shards; 5 shards per chunk -> 4 embedding jobs
    assert "embed                        4" in out or "embed 4" in " ".join(out.split())


@pytest.mark.parametrize(
    "override, message",
    [
        ({"mixes": {"bad": {"method": "mflyt", "flyt": "nope"}}}, "mixes.bad.flyt: unknown M-FLYT run 'nope'; known flyt.runs: eflyt, eflyt22_imagenet, "),
        ({"mixes": {"bad": {"method": "mflyt", "flyt": "eflyt"}}}, "mixes.bad.flyt: flyt.runs.eflyt is no M-FLYT run (scorer: mixer); those are: mflyt, mflyt_ce_temperature, "),
        ({"mixes": {"bad": {"method": "sum", "inputs": ["clip_score", "no_such_score"]}}}, "mixes.bad.inputs: unknown score 'no_such_score'"),
        ({"flyt": {"runs": {"mflyt": {"inputs": ["clip_score", "nope"]}}}}, "flyt.runs.mflyt.inputs: unknown score 'nope'"),
        ({"scores": {"eflyt": {"model": "nofilter"}}}, "scores.eflyt.model ('nofilter') must be the E-FLYT head's embedding model"),
        ({"mixes": {"in_weighted_r8": {"params": {"in_accuracy": {"eflyt": "recipe:zzz"}}}}}, "in_accuracy: unknown recipe 'zzz'"),
    ],
)
def test_flyt_and_mix_config_errors_name_the_key(tmp_path, override, message):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump(override))
    proc = run_smk(tmp_path, "--configfile", str(cfg), "-n", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and message in out, out[-2000:]


def test_figure_plot_columns_are_checked_at_planning_time(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump({"tables": {"sweep": {
        "rows": [{"recipe": "mflyt_nocap", "label": "No cap"}], "columns": ["ImageNet", "dataset size"],
        "plot": {"kind": "lines", "panels": ["VTAB"]}}}}))
    proc = run_smk(tmp_path, "--configfile", str(cfg), "-n", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "tables.sweep.plot.panels: 'VTAB' is not among the table's columns" in out, out[-2000:]


def find_node(node, name, node_id):
    """The first element ``<name id=node_id>`` under a DevTools DOM node (frames included)."""
    attrs = node.get("attributes") or []
    if node.get("localName") == name and node_id in attrs[1::2] and attrs[attrs.index(node_id) - 1] == "id":
        return node
    for child in [*(node.get("children") or []), *([node["contentDocument"]] if "contentDocument" in node else [])]:
        found = find_node(child, name, node_id)
        if found is not None:
            return found
    return None


def node_text(node):
    """The text nodes under a DevTools DOM node, in document order."""
    if node.get("nodeType") == 3:
        return [node["nodeValue"]] if node["nodeValue"].strip() else []
    return [t for child in node.get("children") or [] for t in node_text(child)]


REPORT_CATEGORIES = [
    "1. Pool and download", "2. Scores and filter quality", "3. Subsets", "4. Training", "5. Evaluation",
    "6. Paper tables",
]


@pytest.mark.workflow
def test_report_renders_in_headless_chromium(micro_workdir, tmp_path):
    """`snakemake --report` of table1 and its figures (plus a table added by config alone), opened in
    headless Chromium: no console errors, every category, table1 rendered as a table and a figure
    decoded. The tables do not wait for their figures: results/figures/<table>.txt draws them."""
    from tests.workflow.browser import Chromium, find_chromium

    workdir = micro_workdir
    extra = tmp_path / "probe_table.yaml"  # a table the report machinery has never heard of
    extra.write_text(yaml.safe_dump({"tables": {"probe": {
        "title": "Probe table added by config", "columns": ["ImageNet", "Average", "dataset size"],
        "rows": [{"recipe": "no_filter", "label": "All"}, {"recipe": "gt_clean", "label": "Clean"}]}}}))
    args = [*micro_args(workdir), str(extra)]
    targets = ["results/tables/table1.csv", "results/figures/table1.txt", "results/tables/probe.csv",
               "results/figures/probe.txt"]
    run_smk(workdir, *targets, *args, "--cores", "1")
    report = workdir / "report.html"
    run_smk(workdir, "--report", str(report), *targets, *args)
    assert report.stat().st_size > 0
    chromium = find_chromium()
    if chromium is None:
        skip_or_fail("chromium", "no Chromium found (Debian package `chromium`; .ci/run installs it as root): "
                    "the report was built but not rendered in a browser")
    try:
        import websocket  # noqa: F401 - tests.workflow.browser drives Chromium with it
    except ImportError:
        skip_or_fail("chromium", "websocket-client (requirements.txt) drives Chromium, and it is not installed")
    with Chromium(chromium) as page:
        page.goto(report.as_uri())
        page.wait_for("typeof app !== 'undefined' && app !== undefined && document.querySelector('#app').children.length > 0")
        assert sorted(page.eval("Object.keys(categories)")) == REPORT_CATEGORIES
        paths = page.eval("Object.keys(results)")
        for want in ["results/tables/table1.html", "results/tables/table1.csv", "results/tables/table1.png",
                     "results/tables/probe.html", "results/tables/probe.png",
                     "results/figures/pool/download.png", "results/pool/download_report.json",
                     "results/figures/scores/clip_score.png", "results/figures/models/openai.png",
                     "results/subsets/clip_score_top30.hist.png", "results/figures/train/gt_clean.png",
                     "results/figures/eval/no_filter.html", "results/figures/eval/no_filter.png",
                     "results/figures/quality/table1.png", "results/figures/quality/probe.png"]:
            assert any(p.endswith(want) for p in paths), (want, paths)
        captions = page.eval("Object.values(results).map(r => r.caption)")
        assert all(c and c.strip() for c in captions), "every report item has a caption"
        desc = page.eval("workflow_desc")
        assert "clipcurate" in desc and "Pool and download" in desc and "scale" in desc

        # the paper tables category lists table1, as a user clicking the menu sees it
        page.eval("app.showCategory('6. Paper tables')")
        page.wait_for("document.body.innerText.includes('table1')")
        # table1 rendered: the view its button opens (the table page in a frame)
        key = next(p for p in paths if p.endswith("results/tables/table1.html"))
        page.eval(f"app.setView({{content: 'html', contentPath: results[{key!r}].data_uri, resultPath: {key!r}}})")
        page.wait_for("(f => f && f.getBoundingClientRect().width > 100 && f.getBoundingClientRect().height > 100)"
                      "(document.querySelector('iframe'))")
        table = None
        for _ in range(100):  # the frame's document, through the protocol (it is cross-origin to the page)
            table = find_node(page.call("DOM.getDocument", depth=-1, pierce=True)["root"], "table", "table1")
            if table is not None:
                break
            time.sleep(0.2)
        assert table is not None, "no <table id=table1> in the rendered page"
        cells = node_text(table)
        header = ["method", "ImageNet", "ImageNet dist. shifts", "VTAB", "Retrieval", "Average", "dataset size"]
        assert cells[:7] == header and len(cells) == 7 * 4  # the header and table1's three rows
        assert [cells[7 * i] for i in (1, 2, 3)] == ["No filtering", "CLIP score (top 30%)", "Ground-truth clean"]
        # a figure: the chart of table1, decoded and laid out
        key = next(p for p in paths if p.endswith("results/tables/table1.png"))
        page.eval(f"app.setView({{content: 'img', contentPath: results[{key!r}].data_uri, resultPath: {key!r}}})")
        size = page.wait_for("(i => i && i.complete && i.naturalWidth > 0 && i.getBoundingClientRect().width > 100"
                             " && [i.naturalWidth, i.naturalHeight])(document.querySelector('img[src^=\"data:image/png\"]'))")
        assert size[0] > 300 and size[1] > 200
        page.screenshot(workdir / "report_screenshot.png")
        assert page.errors == [], page.errors
    assert (workdir / "report_screenshot.png").stat().st_size > 10_000


@pytest.mark.workflow
def test_score_quality_report_and_dfn_plan_on_the_micro_pool(micro_workdir, tmp_path):
    """The quality report over the micro run's scores and the HQ-vs-pool classifier (scores that need
    further trainings left out), judged by the ground-truth oracle; and the DFN chain's plan."""
    from clipcurate.train.dfn import expand_quality_experiment

    workdir = micro_workdir
    from clipcurate.config.check import NAMED_SECTIONS, merge_named_files

    cfg = yaml.safe_load((REPO / "config/config.yaml").read_text())
    for section in NAMED_SECTIONS:
        merge_named_files(cfg, REPO, section)
    # the report over the baselines' scores, the reference CLIP's (plain and flipped), the classifier
    # backbone, the oracle and the Devil paper's rules and exact duplicates; the rest need further
    # trainings (DFNs, the larger CLIP, HYPE, ITM, FLYT heads) or OCR, each tested on its own
    kept = {"clip_score", "clip_score_hflip", "truth_clean", "basic", "text_based", "image_based", "clip_b32_top30",
            "laion", "hq_classifier", "english", "caption_length", "frequent_captions", "aspect_ratio", "face_area",
            "devil_image_rules", "exact_dup"}
    excluded = sorted(set(cfg["scores"]) - kept)
    dfn_scores = list(expand_quality_experiment(cfg["dfn_quality"], cfg["models"], cfg["seed"])["scores"])
    over = tmp_path / "quality.yaml"
    over.write_text(yaml.safe_dump({"reports": {"score_quality": {"exclude": excluded + dfn_scores,
                                                                  "expectations": cfg["reports"]["score_quality"]["expectations"]}}}))
    run_smk(workdir, "results/reports/score_quality.csv", *micro_args(workdir), str(over), "--cores", "2")
    rows = {r["entry"]: r for r in csv.DictReader(open(workdir / "results/reports/score_quality.csv"))}
    # every configured score is picked up, the classifier backbone (trained here) among them
    assert {"clip_score", "truth_clean", "truth_clean:keep", "clip_score_top30", "gt_clean", "hq_classifier"} <= set(rows)
    assert not any(e.startswith("dfn") for e in rows)
    auc_cols = [c for c in rows["truth_clean"] if c.startswith("auc_") and not c.endswith("_se")]
    assert "auc_misaligned" in auc_cols and "auc_failing_url" not in auc_cols  # failed downloads are not in the pool
    assert all(float(rows["truth_clean:keep"][c]) == 1.0 for c in auc_cols)  # the oracle separates perfectly
    assert float(rows["gt_clean"]["precision"]) == 1.0 and float(rows["gt_clean"]["recall"]) == 1.0
    assert abs(float(rows["clip_score_top30"]["kept_fraction"]) - 0.3) < 0.01
    notes = (workdir / "results/reports/score_quality_notes.txt").read_text()
    assert "DFN beats the reference model on misaligned captions: NOT CHECKED" in notes
    assert (workdir / "results/reports/score_quality.png").read_bytes()[:4] == b"\x89PNG"
    plan = run_smk(workdir, "results/figures/dfn_data_quality.png", "results/tables/dfn_finetune.csv",
                   *micro_args(workdir), "-n", "--quiet", "rules")
    out = plan.stdout + plan.stderr
    # dfn, dfn_ft, the five points of the replacement series and the four variants (each point is
    # trained longer than dfn_scratch, so none is dfn_scratch itself)
    assert re.search(r"train_reference_model\s+11\b", out), out[-3000:]
    assert re.search(r"evaluate_reference_model\s+9\b", out), out[-3000:]
