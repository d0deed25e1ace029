"""Does the tiny world's reference CLIP read scene text, and does flipping undo it? (issue 14 §3)

    python benchmarks/bench_scene_text.py [--seeds 0 1 2] [--workdir DIR] [--cores 2]
                                          [--configfile EXTRA.yaml ...] [--fraction 0.3]

For each world seed, in a fresh working directory (``--workdir/seed<k>``), it runs Snakemake up to
``results/scores/clip_score.parquet`` and ``results/scores/clip_score_hflip.parquet`` (the world,
the OpenAI-CLIP analogue's training, the download, the plain and flipped embeddings, both CLIP
scores), then reads both scores and the world's ground-truth kinds and prints, per score:

* the mean score of clean pairs and of scene-text samples;
* AUC(scene text > clean): P(a scene-text sample outscores a clean pair), 0.5 = rated alike;
  real OpenAI CLIP rates scene text high (near or above clean), flipping should bring it down;
* the share of scene-text samples among the top ``--fraction`` of the pool by the score, and the
  share of all scene-text samples kept there (the pool holds 10 % scene text);
* the wall time and CPU time of the run (the cost), and the reference model's training time.

Then the medians over the seeds. Nothing is asserted; the numbers go to the README.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")]
SCORES = ("clip_score", "clip_score_hflip")


def run(workdir: Path, seed: int, cores: int, extra: list[str]) -> tuple[float, float]:
    from clipcurate.pool.download import free_port

    workdir.mkdir(parents=True, exist_ok=True)
    cfg = workdir / "bench.yaml"
    if not cfg.exists():
        cfg.write_text(yaml.safe_dump({"seed": seed, "world": {"seed": seed, "serve_port": free_port()}}))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    targets = [f"results/scores/{s}.parquet" for s in SCORES]
    proc = subprocess.run([*SNAKEMAKE, "--directory", str(workdir), *targets, "--cores", str(cores),
                           "--configfile", *extra, str(cfg)], capture_output=True, text=True)
    wall = time.time() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        print(proc.stdout[-2000:], proc.stderr[-4000:])
        raise SystemExit(f"seed {seed}: snakemake failed")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(workdir: Path, fraction: float) -> dict:
    """Per score: clean and scene-text means, AUC(scene text > clean), top-fraction shares."""
    from clipcurate.core import scorefiles
    from clipcurate.report.quality import rank_auc, truth_for_index

    index = workdir / "results/pool/index.parquet"
    kinds = truth_for_index(workdir / "resources/world/truth.parquet", index)
    st, clean = kinds == "scene_text", kinds == "clean"
    out = {}
    for name in SCORES:
        s = scorefiles.read_scores(workdir / f"results/scores/{name}.parquet", index)["score"].astype(np.float64)
        k = int(fraction * len(s))
        top = np.zeros(len(s), bool)
        top[np.argsort(-s, kind="stable")[:k]] = True
        out[name] = {
            "mean_clean": float(s[clean].mean()),
            "mean_scene_text": float(s[st].mean()),
            "auc_scene_text_over_clean": rank_auc(s[st], s[clean]),
            "top_share_scene_text": float(st[top].mean()),
            "scene_text_kept": float(top[st].mean()),
            "clean_kept": float(top[clean].mean()),
        }
    info = workdir / "results/models/openai/train_info.json"
    bench = workdir / "results/benchmarks"
    out["train_s"] = None
    for tsv in bench.rglob("*.tsv") if bench.exists() else []:
        if "train_reference_model" in str(tsv) and "openai" in str(tsv):
            rows = tsv.read_text().splitlines()
            out["train_s"] = float(rows[1].split("\t")[0])
    out["pool_share_scene_text"] = float(st.mean())
    out["info"] = json.loads(info.read_text()) if info.exists() else None
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--configfile", nargs="*", default=[])
    ap.add_argument("--fraction", type=float, default=0.3)
    ap.add_argument("--skip-run", action="store_true", help="only read the scores of finished runs")
    args = ap.parse_args()
    root = args.workdir or Path(tempfile.mkdtemp(prefix="bench_scene_text_"))
    extra = [str(Path(c).resolve()) for c in args.configfile]
    results = []
    for seed in args.seeds:
        wd = root / f"seed{seed}"
        wall = cpu = float("nan")
        if not args.skip_run:
            wall, cpu = run(wd, seed, args.cores, extra)
        m = measure(wd, args.fraction)
        m.update(seed=seed, wall_s=wall, cpu_s=cpu)
        results.append(m)
        print(f"seed {seed}: run {wall:.0f} s wall, {cpu:.0f} s CPU; reference model training "
              f"{m['train_s'] if m['train_s'] is not None else 'NA'} s; pool scene text {m['pool_share_scene_text']:.3f}")
        for name in SCORES:
            r = m[name]
            print(f"  {name:17s} mean clean {r['mean_clean']:.4f}  mean scene text {r['mean_scene_text']:.4f}  "
                  f"AUC(scene text > clean) {r['auc_scene_text_over_clean']:.3f}  "
                  f"top {args.fraction:.0%}: scene-text share {r['top_share_scene_text']:.3f}, "
                  f"scene text kept {r['scene_text_kept']:.3f}, clean kept {r['clean_kept']:.3f}")
    print(f"\nmedians over {len(results)} seed(s):")
    for name in SCORES:
        keys = ("mean_clean", "mean_scene_text", "auc_scene_text_over_clean", "top_share_scene_text", "scene_text_kept", "clean_kept")
        print(f"  {name:17s} " + "  ".join(f"{k} {statistics.median(r[name][k] for r in results):.3f}" for k in keys))
    walls = [r["wall_s"] for r in results if r["wall_s"] == r["wall_s"]]
    if walls:
        print(f"  run wall {statistics.median(walls):.0f} s, CPU {statistics.median(r['cpu_s'] for r in results):.0f} s")
    (root / "bench_scene_text.json").write_text(json.dumps(results, indent=1, default=str))
    print(f"results: {root / 'bench_scene_text.json'}")


if __name__ == "__main__":
    main()
