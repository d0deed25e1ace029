"""FLYT: "Filter Like You Test" (Shechter & Carmon) — scoring models learned by meta-gradients.

* :mod:`.loss` — weighted CLIP loss l_WCL (§3.3).
* :mod:`.adamw` — functional, differentiable AdamW (the inner reference step).
* :mod:`.downstream` — downstream losses l_DS ("ce", "ce_temperature", "clip"; C.8).
* :mod:`.meta` — the meta-gradient by the JVP trick (Appendix A) and one Algorithm-1 step.
* :mod:`.scorers` — M-FLYT ``LinearMixer`` and E-FLYT ``GLUHead``.
* :mod:`.trainer` — ``train_flyt``, ``score_pool``, ``mixer_weights_table``.
* :mod:`.signal` — whether a run's reference model started above chance downstream.
"""

from .adamw import AdamWState, adamw_step, exclude_from_weight_decay, weight_decay_param_groups
from .downstream import (
    DOWNSTREAM_LOSSES,
    INIT_DOWNSTREAM_LOG_TAU,
    downstream_loss,
    model_downstream_loss,
    sample_downstream_texts,
)
from .loss import weight_entropy, weighted_clip_loss
from .meta import FlytStepOutput, MetaGradient, ReferenceState, flyt_step, meta_gradient, scorer_gradients
from .scorers import GLUHead, LinearMixer, embedding_features, standardization_stats
from .trainer import FlytConfig, cosine_lr, mixer_weights_table, score_pool, train_flyt

__all__ = [
    "AdamWState",
    "adamw_step",
    "exclude_from_weight_decay",
    "weight_decay_param_groups",
    "DOWNSTREAM_LOSSES",
    "INIT_DOWNSTREAM_LOG_TAU",
    "downstream_loss",
    "model_downstream_loss",
    "sample_downstream_texts",
    "weighted_clip_loss",
    "weight_entropy",
    "ReferenceState",
    "MetaGradient",
    "FlytStepOutput",
    "meta_gradient",
    "scorer_gradients",
    "flyt_step",
    "LinearMixer",
    "GLUHead",
    "embedding_features",
    "standardization_stats",
    "FlytConfig",
    "cosine_lr",
    "train_flyt",
    "score_pool",
    "mixer_weights_table",
]
