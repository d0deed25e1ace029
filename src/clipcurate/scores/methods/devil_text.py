"""The text rules of "The Devil is in the Details" (single-modality filtering): English only, caption
length, a part-of-speech rule and the removal of high-frequency captions. Each writes a ``keep``
column; ``config/scores/devil_rules.yaml`` configures them and ``devil_text_rules`` intersects them.
The rules' exact forms are the readings of :mod:`clipcurate.scores.helpers.devil_rules` (the paper publishes no code).

* ``english``: fastText ``lid.176`` top-1 label ``en`` (:mod:`clipcurate.scores.helpers.langid`, the DataComp
  baselines' language ID, reused as the paper says it uses fastText).
* ``caption_length``: ``min_len <= length <= max_len`` in ``unit`` words or characters.
* ``pos_noun``: some token of the caption is tagged with one of ``tags`` (default: the Penn Treebank
  noun tags) by an NLTK averaged perceptron tagger (:mod:`clipcurate.train.pos_tagger`) whose weights file
  is ``tagger_model`` in the entry: NLTK's released English model at real scale, the tagger the
  workflow trains on the world's captions (trainer ``tagger``) on the tiny world.
* ``frequent_captions``: a pool-level method on the staged contract (:mod:`clipcurate.scores.stages`):
  ``prepare`` counts each chunk's normalised-caption keys (64-bit, sorted distinct keys and counts),
  ``fit`` merges the chunks' tables one at a time and keeps the keys counted more than the
  threshold (``max_count``, or ``max_share`` of the pool's rows: one of the two), ``apply`` drops a
  chunk's rows whose key is one of those. Memory: a prepared file is 16 bytes per distinct caption of
  its chunk plus 8 per row; the fit holds the merged table (16 bytes per distinct caption of the
  pool) and, while inserting a chunk's new keys, its copy (:func:`clipcurate.scores.helpers.devil_rules.merge_counts`):
  36 bytes per distinct caption at the peak, measured, so 4.3 GiB at 128M captions all distinct (the
  worst case; ``benchmarks/bench_text_rules.py frequent``), plus one chunk's prepared file (0.6 GB for
  25M rows), under the fit's 8 GB. Its output holds only the frequent keys.
"""

from __future__ import annotations

import numpy as np

from clipcurate.scores.helpers import devil_rules as R
from clipcurate.scores import register
from clipcurate.scores.inputs import Artifact, Metadata
from clipcurate.scores.stages import Resources, Stages


def _param_error(key: str, name: str, value, expected: str):
    return ValueError(f"config: {key}.params.{name}: {value!r}; expected {expected}")


def _int_param(params: dict, key: str, name: str, minimum: int, allow_none: bool = False) -> None:
    v = params.get(name)
    if v is None and allow_none:
        return
    if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
        raise _param_error(key, name, v, f"an integer >= {minimum}" + (" or null" if allow_none else ""))


def _params(entry, defaults) -> dict:
    return {**defaults, **(entry.get("params") or {})}


# --------------------------------------------------------------------------------------------
# english


@register("english", level="chunk", inputs={"meta": Metadata(columns=("text",))}, outputs=("keep",),
          defaults={"lid_model": None, "threads": 1})
def english(params: dict, meta) -> dict[str, np.ndarray]:
    """Keep mask: fastText's top-1 language of the caption is English (a missing caption is not)."""
    from clipcurate.scores.helpers import datacomp_filters as F
    from clipcurate.scores.helpers import langid

    texts = meta.column("text").to_pylist()
    rows = np.fromiter((bool(t) for t in texts), dtype=bool, count=len(texts))
    return {"keep": F.english_where(texts, rows, langid.load_model(params["lid_model"]), int(params["threads"]))}


# --------------------------------------------------------------------------------------------
# caption length

_LENGTH_DEFAULTS = {"unit": "words", "min_len": 2, "max_len": None}


def _check_length(entry, config, key):
    p = _params(entry, _LENGTH_DEFAULTS)
    if p["unit"] not in ("words", "chars"):
        raise _param_error(key, "unit", p["unit"], "'words' or 'chars'")
    _int_param(p, key, "min_len", 0)
    _int_param(p, key, "max_len", 0, allow_none=True)
    if p["max_len"] is not None and p["max_len"] < p["min_len"]:
        raise _param_error(key, "max_len", p["max_len"], f"at least min_len ({p['min_len']})")


@register("caption_length", level="chunk", inputs={"meta": Metadata(columns=("text",))}, outputs=("keep",),
          defaults=_LENGTH_DEFAULTS, check=_check_length)
def caption_length(params: dict, meta) -> dict[str, np.ndarray]:
    """Keep mask: ``min_len <= length <= max_len`` (inclusive), length in words (``str.split``) or characters."""
    return {"keep": R.length_keep(meta.column("text"), params["unit"], params["min_len"], params["max_len"])}


# --------------------------------------------------------------------------------------------
# part of speech

_POS_DEFAULTS = {"tags": ["NN", "NNS", "NNP", "NNPS"]}


def _check_pos(entry, config, key):
    p = _params(entry, _POS_DEFAULTS)
    tags = p["tags"]
    if not isinstance(tags, list) or not tags or not all(isinstance(t, str) and t for t in tags):
        raise _param_error(key, "tags", tags, "a non-empty list of tag names (Penn Treebank: NN, NNS, ...)")
    model = entry.get("tagger_model")
    if not isinstance(model, str) or not model:
        raise ValueError(f"config: {key}.tagger_model: {model!r}; expected the path of an NLTK perceptron tagger's "
                         "weights file (averaged_perceptron_tagger_<lang>.weights.json)")
    if not model.startswith("results/"):
        from clipcurate.train.pos_tagger import TaggerError, split_model_path

        try:
            split_model_path(model)
        except TaggerError as e:
            raise ValueError(f"config: {key}.tagger_model: {e}") from None


@register("pos_noun", level="chunk",
          inputs={"meta": Metadata(columns=("text",)), "tagger": Artifact("{tagger_model}")},
          outputs=("keep",), defaults=_POS_DEFAULTS, check=_check_pos)
def pos_noun(params: dict, meta, tagger) -> dict[str, np.ndarray]:
    """Keep mask: the tagger gives some token of the caption one of ``params["tags"]``."""
    from clipcurate.train import pos_tagger

    model = pos_tagger.load_tagger(tagger)
    return {"keep": pos_tagger.has_tag(model, meta.column("text"), params["tags"])}


# --------------------------------------------------------------------------------------------
# high-frequency captions (staged)

_FREQ_DEFAULTS = {"max_count": None, "max_share": 0.0015}


def _check_freq(entry, config, key):
    p = _params(entry, _FREQ_DEFAULTS)
    if (p["max_count"] is None) == (p["max_share"] is None):
        raise ValueError(f"config: {key}.params: give exactly one of max_count (a count) and max_share (a share of "
                         f"the pool's rows); got max_count={p['max_count']!r}, max_share={p['max_share']!r}")
    if p["max_count"] is not None:
        _int_param(p, key, "max_count", 1)
    else:
        v = p["max_share"]
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 < v < 1:
            raise _param_error(key, "max_share", v, "a number in (0, 1)")


def frequency_threshold(params: dict, rows: int) -> int:
    """The count above which a normalised caption is frequent: ``max_count``, or
    ``floor(max_share * rows)`` (at least 1) for a pool of ``rows`` rows."""
    if params.get("max_count") is not None:
        return int(params["max_count"])
    return max(1, int(np.floor(float(params["max_share"]) * int(rows))))


def freq_prepare(params: dict, ctx, meta) -> dict[str, np.ndarray]:
    """A chunk's normalised-caption keys: its distinct keys (sorted) and their counts, plus every
    row's key (the chunk's own apply reuses it instead of hashing again)."""
    keys = R.caption_keys(meta.column("text"))
    uniq, counts = R.count_keys(keys)
    return {"key": uniq, "count": counts, "row_key": keys}


def freq_fit(params: dict, ctx, prepared) -> dict[str, np.ndarray]:
    """The pool's counts, merged one chunk at a time; out: the keys counted more than ``max_count``."""
    table = (np.empty(0, np.uint64), np.empty(0, np.int64))
    for part in prepared:
        table = R.merge_counts(table, (part["key"], part["count"]))
    rows = int(table[1].sum())
    threshold = frequency_threshold(params, rows)
    frequent = table[1] > threshold
    return {"key": table[0][frequent], "count": table[1][frequent], "distinct": np.int64(len(table[0])),
            "rows": np.int64(rows), "threshold": np.int64(threshold)}


@register("frequent_captions", level="chunk", inputs={"meta": Metadata(columns=("text",))}, outputs=("keep",),
          defaults=_FREQ_DEFAULTS, check=_check_freq,
          stages=Stages(prepare=freq_prepare, prepare_inputs=("meta",), fit=freq_fit, apply_inputs=()),
          resources={"prepare": Resources(mem_mb=4000, runtime=60), "fit": Resources(mem_mb=8000, runtime=60),
                     "apply": Resources(mem_mb=2000, runtime=30)})
def frequent_captions(params: dict, ctx, fitted, prepared) -> dict[str, np.ndarray]:
    """Keep mask of one chunk: its caption's normalised form is not among the pool's frequent ones."""
    return {"keep": ~np.isin(prepared["row_key"], fitted["key"])}
