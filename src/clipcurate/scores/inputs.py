"""The typed inputs a score method declares (its contract with the workflow).

A method names what it reads with these small frozen dataclasses; the score's config entry supplies
the names (which model, which reference set, which run). From the declaration alone the planner
(:mod:`clipcurate.scores.plan`) derives the rule's input files and ``params:``, and the runner
(:mod:`clipcurate.scores.runner`) loads each input row-aligned with the rows being scored:

=================  ==========================================================================
kind               loaded as
=================  ==========================================================================
``Embeddings``     ``{"uid", "image": float32[n, d], "text": float32[n, d]}`` (L2-normalised; only the
                   declared ``modalities``; a pool-level method gets a per-chunk stream)
``Metadata``       ``pyarrow.Table`` of the requested DataComp metadata columns
``Reference``      ``{"image": float32[m, d], "text": float32[m, d], "label": int64[m] | None}``
``Artifact``       the file's path (a string); the rule that makes it is found by Snakemake
``Scores``         ``{name: float32[n]}`` (or bool for a ``keep`` column)
``Truth``          ``pyarrow.Table``: the tiny world's ``truth.parquet`` rows (oracles only)
``Images``         :class:`clipcurate.scores.images.ChunkImages`: the rows' images and captions from the
                   shards, in batches (chunk-level methods that run a model on images, e.g. BLIP ITM)
``ReferenceImages`` :class:`clipcurate.scores.images.ReferenceImages`: a reference set's images and
                   captions, read from its shards on demand (a fit that embeds the set with its own
                   model, e.g. HYPE's released checkpoint)
=================  ==========================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from clipcurate.embed import variants


def __getattr__(name: str):
    """``VARIANTS`` (every declared image variant) and ``AVAILABLE_VARIANTS`` (those the embed rule
    can produce: every shipped one), read from the variant
    registry (:mod:`clipcurate.embed.variants`, one module each) whenever they are asked for."""
    if name == "VARIANTS":
        return variants.names()
    if name == "AVAILABLE_VARIANTS":
        return variants.available()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: Metadata columns a chunk can be given: DataComp's names. img2dataset writes them per shard
#: (``text`` is its ``caption`` column); other DataComp columns must be added to the download's
#: ``save_additional_columns`` first.
METADATA_COLUMNS = ("uid", "url", "text", "original_width", "original_height", "sha256", "width", "height", "key",
                    "face_bboxes")


#: The columns of an embedding file a method may declare.
MODALITIES = ("image", "text")


@dataclass(frozen=True)
class Embeddings:
    """Pool embeddings by the model named in the config entry under ``model_key``, of one image variant:
    ``variant`` by default, or the entry's ``variant_key`` value (``variant: hflip`` in a score entry;
    ``variant_key=None`` fixes the variant). A variant's image vectors come with the plain text vectors.
    Only the declared ``modalities`` are read (``("image",)`` halves the I/O)."""

    model_key: str = "model"
    variant: str = "plain"
    variant_key: Optional[str] = "variant"
    modalities: tuple = MODALITIES

    def __post_init__(self):
        if self.variant not in variants.names():
            raise ValueError(f"Embeddings: variant must be one of {list(variants.names())}, got {self.variant!r}")
        mods = (self.modalities,) if isinstance(self.modalities, str) else tuple(self.modalities)
        object.__setattr__(self, "modalities", mods)
        if not mods or any(m not in MODALITIES for m in mods) or len(set(mods)) != len(mods):
            raise ValueError(f"Embeddings: modalities must be distinct names of {list(MODALITIES)}, got {self.modalities!r}")


@dataclass(frozen=True)
class Metadata:
    """DataComp metadata columns of the rows being scored."""

    columns: tuple = ("text", "original_width", "original_height")

    def __post_init__(self):
        cols = (self.columns,) if isinstance(self.columns, str) else tuple(self.columns)
        object.__setattr__(self, "columns", cols)
        bad = [c for c in cols if c not in METADATA_COLUMNS]
        if bad or not cols:
            raise ValueError(f"Metadata: unknown column(s) {bad}; available: {list(METADATA_COLUMNS)}")


@dataclass(frozen=True)
class Reference:
    """Embeddings of a reference set (``set``, or the config entry's ``set_key`` value) by a model,
    in the declared ``modalities``."""

    set: str = "downstream"
    model_key: str = "model"
    set_key: Optional[str] = None
    modalities: tuple = ("image", "text")

    def __post_init__(self):
        mods = (self.modalities,) if isinstance(self.modalities, str) else tuple(self.modalities)
        object.__setattr__(self, "modalities", mods)
        if not mods or any(m not in ("image", "text") for m in mods) or len(set(mods)) != len(mods):
            raise ValueError(f"Reference: modalities must be distinct names of ['image', 'text'], got {self.modalities!r}")


@dataclass(frozen=True)
class Artifact:
    """A file some rule makes; ``path`` is formatted with the score's config entry (``{flyt}`` etc.)."""

    path: str


@dataclass(frozen=True)
class Scores:
    """Other score files, named in the config entry under ``key`` as ``name`` or ``name:column``."""

    key: str = "inputs"


@dataclass(frozen=True)
class Images:
    """The pool's images and captions of the rows being scored, read from the shards on demand
    (:class:`clipcurate.scores.images.ChunkImages`); chunk-level methods only."""


@dataclass(frozen=True)
class ReferenceImages:
    """A reference set's images and captions (``set``, or the config entry's ``set_key`` value), read
    from its webdataset shards (:class:`clipcurate.scores.images.ReferenceImages`), for a method that
    embeds the set with a model the embedding stage does not run (HYPE's released checkpoint)."""

    set: str = "downstream"
    set_key: Optional[str] = None


@dataclass(frozen=True)
class Truth:
    """The tiny world's ground truth, row-aligned (makes the method an oracle)."""


KINDS = (Embeddings, Metadata, Reference, Artifact, Scores, Truth, Images, ReferenceImages)
