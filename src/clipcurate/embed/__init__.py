"""The embedding stage: model specs and loading (:mod:`~clipcurate.embed.models`, the tiny open_clip
configs in ``model_configs/``), image variants as plug-ins (:mod:`clipcurate.embed.variants`) and the
per-chunk and reference-set embedding jobs (:mod:`~clipcurate.embed.encode`)."""
