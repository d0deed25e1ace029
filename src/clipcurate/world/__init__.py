"""The tiny world: a seeded universe of image-text pairs standing in for DataComp's pool,
reference datasets and evaluation tasks (see ``generate.generate_world``)."""

from .concepts import (
    COLOUR_NAMES,
    COLOURS,
    COUNT_WORDS,
    COUNTS,
    DIGITS,
    LANGUAGES,
    POSITIONS,
    SHAPES,
    SIZES,
    TASK_TEMPLATES,
    TEXTURES,
    ZEROSHOT_TEMPLATES,
    Scene,
    caption,
)
from .config import DEFAULT_CFG, FAILURES, KINDS, REFERENCE_SETS, default_cfg, kind_counts, resolve_cfg
from .eval_tasks import EVAL_GROUPS, eval_task_names
from .generate import generate_world, summary_line
from .streams import make_uid
from .render import render_scene
from .verify import WorldError, load_manifest, verify_world

__all__ = [
    "COLOUR_NAMES", "COLOURS", "COUNT_WORDS", "COUNTS", "DIGITS", "LANGUAGES", "POSITIONS", "SHAPES",
    "SIZES", "TASK_TEMPLATES", "TEXTURES", "ZEROSHOT_TEMPLATES", "Scene", "caption",
    "DEFAULT_CFG", "EVAL_GROUPS", "FAILURES", "KINDS", "REFERENCE_SETS", "default_cfg", "eval_task_names",
    "generate_world", "summary_line", "kind_counts", "make_uid", "resolve_cfg", "render_scene",
    "WorldError", "load_manifest", "verify_world",
]
