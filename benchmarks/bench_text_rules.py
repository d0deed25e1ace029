"""Benchmark: the Devil paper's text rules at scale (clipcurate.scores.methods.devil_text).

``tagger``: the part-of-speech rule (``pos_noun``): a tagger trained on the tiny world's captions
(:mod:`clipcurate.world.caption_pos`), saved and loaded through :func:`clipcurate.train.pos_tagger.load_tagger`,
then :func:`clipcurate.train.pos_tagger.has_tag` over ``--captions`` captions (world captions, optionally
padded to ``--words`` words with more world words, since DataComp captions are longer than the
world's; ``--no-tagdict`` sends every token through the perceptron, as a real caption's rarer
words go, where the world's closed vocabulary is all in the tagger's word -> tag table). Prints the median captions/s and tokens/s over ``--repeats`` runs, and the CPU-hours per
128M captions on one core. NLTK's released English model has 45 tags where the world's has ~12, and
the perceptron's cost per token grows with the tags a feature has weights for, so the real model
runs slower than this: the figure is a lower bound on the cost.

``frequent``: the staged ``frequent_captions``: ``prepare`` (hashing and counting) throughput on
synthetic captions, and the ``fit``'s peak memory (``tracemalloc``, numpy's allocations) when merging
``--chunks`` chunks' tables of ``--distinct`` distinct keys in all, at two sizes, extrapolated
linearly to 128M distinct captions (the worst case: every caption different).

    .venv/bin/python benchmarks/bench_text_rules.py tagger --captions 20000 --repeats 3
    .venv/bin/python benchmarks/bench_text_rules.py frequent --distinct 1000000 4000000 --chunks 8 --repeats 3
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pyarrow as pa

POOL = 128_000_000


def _world_captions(n: int, seed: int) -> list[str]:
    from clipcurate.world import generate as G

    cfg = G.resolve_cfg(None)
    half = max(1, n // 2)
    return [p["txt"] for s in ("pretrain", "hq") for p in G.plan_reference(s, half, cfg, seed)][:n]


def bench_tagger(args) -> None:
    from clipcurate.train import pos_tagger as P
    from clipcurate.world.caption_pos import tag_captions

    tagger = P.train_tagger(tag_captions(_world_captions(4000, 0)), iterations=5, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        weights = P.save_tagger(tagger, Path(tmp) / "tagger")
        tagger = P.load_tagger(weights)
    if args.no_tagdict:  # every token through the perceptron, as a real caption's rarer words go
        tagger.tagdict = {}
    caps = _world_captions(args.captions, 1)
    if args.words:
        rng = np.random.default_rng(0)
        pool = " ".join(caps).split()
        caps = [" ".join([c] + [pool[i] for i in rng.integers(0, len(pool), max(0, args.words - len(c.split())))]) for c in caps]
    t0 = time.perf_counter()
    tokens = sum(len(P.tokenize(c)) for c in caps)
    tok_s = time.perf_counter() - t0
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        keep = P.has_tag(tagger, caps)
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    rate = len(caps) / med
    print(f"pos_noun tagger: {len(caps):,} captions, {tokens / len(caps):.1f} tokens each, {len(tagger.classes)} tags; "
          f"median {med:.2f} s over {args.repeats} runs: {rate:,.0f} captions/s, {tokens / med:,.0f} tokens/s "
          f"(kept {keep.mean():.3f}); 128M captions: {POOL / rate / 3600:.0f} CPU-hours on one core "
          f"(a lower bound for NLTK's 45-tag model); tokenising alone {tok_s / med:.0%} of it; "
          f"tagdict {'emptied' if args.no_tagdict else 'used'}; peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


def bench_frequent(args) -> None:
    from clipcurate.scores.methods.devil_text import freq_fit, freq_prepare
    from clipcurate.scores.stages import Prepared, StageContext

    params = {"max_count": 1, "max_share": None}
    # prepare: hashing and counting synthetic captions (every 10th repeated)
    n = args.prepare_rows
    texts = pa.table({"text": pa.array([f"a photo of item {i % (n - n // 10)} on a wooden table, stock photo" for i in range(n)])})
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        freq_prepare(params, StageContext("prepare", chunk=0), texts)
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(f"frequent_captions prepare: {n:,} captions, median {med:.2f} s over {args.repeats} runs: {n / med:,.0f} captions/s; "
          f"128M captions: {POOL / (n / med) / 3600:.1f} CPU-hours on one core (spread over the chunks' jobs)")
    peaks = []
    for distinct in args.distinct:
        rng = np.random.default_rng(distinct)
        keys = rng.integers(0, 2**63, size=distinct, dtype=np.uint64)  # all distinct in practice
        parts = []
        for chunk in np.array_split(keys, args.chunks):
            uniq, counts = np.unique(chunk, return_counts=True)
            parts.append({"key": uniq, "count": counts.astype(np.int64)})
        ft = []
        for _ in range(args.repeats):
            tracemalloc.start()
            t0 = time.perf_counter()
            fitted = freq_fit(params, StageContext("fit"), Prepared(parts))
            ft.append(time.perf_counter() - t0)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        assert int(fitted["distinct"]) == distinct
        peaks.append(peak)
        print(f"frequent_captions fit: {distinct:,} distinct captions in {args.chunks} chunks: median {statistics.median(ft):.2f} s, "
              f"peak traced memory {peak / 2**20:.0f} MB ({peak / distinct:.1f} bytes per distinct caption)")
    if len(args.distinct) >= 2:
        (a, pa_), (b, pb) = (args.distinct[0], peaks[0]), (args.distinct[-1], peaks[-1])
        slope = (pb - pa_) / (b - a)
        est = pb + slope * (POOL - b)
        print(f"frequent_captions fit at 128M distinct captions (linear from {a:,} and {b:,}): {est / 2**30:.1f} GiB "
              f"({slope:.1f} bytes per distinct caption)")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="what", required=True)
    t = sub.add_parser("tagger")
    t.add_argument("--captions", type=int, default=20000)
    t.add_argument("--words", type=int, default=0, help="pad each caption to this many words (0: as the world writes them)")
    t.add_argument("--no-tagdict", action="store_true", help="empty the tagger's word -> tag table (all tokens predicted)")
    t.add_argument("--repeats", type=int, default=3)
    f = sub.add_parser("frequent")
    f.add_argument("--distinct", type=int, nargs="+", default=[1_000_000, 4_000_000])
    f.add_argument("--chunks", type=int, default=8)
    f.add_argument("--prepare-rows", type=int, default=200_000)
    f.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    (bench_tagger if args.what == "tagger" else bench_frequent)(args)


if __name__ == "__main__":
    main()
