"""The reference sets: the OpenAI-CLIP analogue's pretraining set, the HQ set (CC12M analogue), the
labelled downstream-train set (ImageNet-train analogue) and the retrieval-train set, as webdataset shards."""

from __future__ import annotations

from pathlib import Path


from clipcurate.core.fileio import write_json
from . import concepts as C
from .jobs import map_jobs
from .scenes import generic_scene
from .shards import record, write_shards, write_text
from .streams import stream

#: share of the pretraining set's text images that are scenes captioned naturally by their words
#: ("a photo of a red star" over the rendered words "red" / "star"); the rest are pure text images
#: captioned by the bare words
PRETRAIN_NATURAL_TEXT_SHARE = 0.7


def plan_reference(name: str, n: int, cfg: dict, seed: int) -> list[dict]:
    """Samples of one reference set: {job, txt[, cls]}."""
    rng = stream(seed, f"reference/{name}")
    out = []
    for _ in range(n):
        if name == "pretrain":
            if rng.random() < cfg["pretrain_text_fraction"]:
                u = rng.random()
                if u < PRETRAIN_NATURAL_TEXT_SHARE:
                    # text in a scene, captioned naturally: the caption mentions the rendered words
                    # (like a photo of a sign captioned by what it shows). This is what makes the
                    # reference CLIP score the pool's scene-text images high, as OpenAI's CLIP does.
                    scene = C.sample_scene_text_scene(rng, C.sample_shape_scene(rng), cfg["scene_text_colour_fraction"])
                    out.append({"job": ("scene", scene), "txt": C.caption_scene_text(scene, rng)})
                    continue
                # pure text ("OCR") sample: caption = the rendered words
                u = (u - PRETRAIN_NATURAL_TEXT_SHARE) / (1 - PRETRAIN_NATURAL_TEXT_SHARE)
                shape = C.SHAPES[int(rng.integers(len(C.SHAPES)))]
                colour = C.COLOUR_NAMES[int(rng.integers(len(C.COLOUR_NAMES)))]
                if u < 0.45:
                    words = [shape]
                elif u < 0.8:
                    words = [colour, shape]
                elif u < 0.9:
                    words = [colour]
                else:
                    words = [C.DIGIT_WORDS[int(rng.integers(10))]]
                scene = C.sample_text_scene(rng, words)
                out.append({"job": ("scene", scene), "txt": C.text_caption(words, rng)})
            else:
                scene = generic_scene(rng, cfg)
                out.append({"job": ("scene", scene), "txt": C.caption_en(scene, rng)})
        elif name == "hq":
            scene = generic_scene(rng, cfg)
            out.append({"job": ("scene", scene), "txt": C.caption_en(scene, rng)})
        elif name == "downstream":
            label = int(rng.integers(len(C.SHAPES)))
            scene = C.sample_shape_scene(rng, shape=C.SHAPES[label], count=1)
            t = C.ZEROSHOT_TEMPLATES[int(rng.integers(len(C.ZEROSHOT_TEMPLATES)))]
            out.append({"job": ("scene", scene), "txt": t.format(c=C.SHAPES[label]), "cls": label})
        elif name == "retrieval_train":
            scene = C.sample_shape_scene(rng, count_p=(0.5, 0.2, 0.15, 0.15))
            out.append({"job": ("scene", scene), "txt": C.caption_en(scene, rng)})
        else:  # pragma: no cover
            raise ValueError(name)
    return out


def write_reference(out: Path, name: str, cfg: dict, seed: int, threads: int, files: dict, hashes: set) -> dict:
    n = int(cfg["sizes"][name])
    plan = plan_reference(name, n, cfg, seed)
    size = int(cfg["native_size"])
    results = map_jobs([p["job"] for p in plan], size, threads)
    rel_dir = f"reference/{name}"

    def samples():
        for i, (p, res) in enumerate(zip(plan, results)):
            data, _, _, ph = res
            hashes.add(ph)
            s = {"key": f"{i:09d}", "jpg": data, "txt": p["txt"].encode()}
            if "cls" in p:
                s["cls"] = str(p["cls"]).encode()
            yield s

    shard_size = int(cfg["shard_size"])
    n_shards = write_shards(out, rel_dir, samples(), shard_size, lambda k: f"{k:08d}.tar", files)
    info = {"num_samples": n, "shards": n_shards, "shard_size": shard_size, "labelled": name == "downstream"}
    if name == "downstream":
        write_text(out, f"{rel_dir}/classnames.txt", "\n".join(C.SHAPES) + "\n", files)
        write_text(out, f"{rel_dir}/templates.txt", "\n".join(C.ZEROSHOT_TEMPLATES) + "\n", files)
        info["classnames"] = f"{rel_dir}/classnames.txt"
        info["templates"] = f"{rel_dir}/templates.txt"
    if name == "pretrain":
        info["text_fraction"] = cfg["pretrain_text_fraction"]
    write_json(info, out / rel_dir / "meta.json")
    record(out, f"{rel_dir}/meta.json", files)
    return {"path": rel_dir, **info}
