"""The README's "Adding a variant" example holds: registered from its code, resolved from its config,
embedded, and scored with the plain text vectors, against a direct computation."""

import io as _io
import re
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
import yaml
from PIL import Image, ImageFilter

from clipcurate.embed import models, variants
from clipcurate.embed.encode import embed_chunk, read_embeddings
from clipcurate.scores.plan import plan_score, score_files
from clipcurate.scores.runner import run_score
from tests.unit.test_embed_variants import pool  # noqa: F401 - the 12-sample pool fixture
from tests.unit.test_flyt_run import TINY

README = Path(__file__).resolve().parents[2] / "README.md"


def section_blocks(lang):
    text = README.read_text()
    start = text.index("### Adding a variant")
    section = text[start:text.index("\n### ", start + 1)]  # up to the next section
    return re.findall(rf"```{lang}\n(.*?)```", section, flags=re.S)


@pytest.fixture(scope="module", autouse=True)
def readme_variant():
    (code,) = section_blocks("python")
    variants.names()
    exec(compile(code, str(README), "exec"), {"__name__": "readme_example"})
    yield
    variants.REGISTRY.pop("blur")


def test_blur_variant_embeds_and_scores(tmp_path, pool, monkeypatch):  # noqa: F811
    (block,) = section_blocks("yaml")
    example = yaml.safe_load(block)
    config = {"pool": {"source": "world"}, "models": {"openai": {"arch": "tiny-clip"}}, **example}
    plan = plan_score(config, "clip_score_blur")
    assert plan.inputs["emb"] == {"kind": "embeddings", "model": "openai", "variant": "blur"}
    resolved = variants.plan_variant(config, "blur")
    assert resolved == {"name": "blur", "params": {"radius": 3.0}, "artifacts": {}}  # the config's radius, not 2.0

    monkeypatch.chdir(tmp_path)
    files = score_files(plan, chunk="00000")
    for variant, path in ((resolved, files["emb"]), ("plain", files["emb__text"])):
        torch.manual_seed(0)
        embed_chunk(pool["index"], pool["dir"], 0, TINY, path, batch_size=5, variant=variant)
    assert pq.read_schema(files["emb"]).names == ["uid", "image"]
    run_score(plan, {**files, "index": pool["index"]}, "s.parquet", chunk=0)

    # by hand: blur with PIL directly at radius 3, embed, dot with the captions' vectors
    torch.manual_seed(0)
    model, preprocess, tokenizer = models.load_model(TINY)
    ims = [preprocess(Image.open(_io.BytesIO(b)).convert("RGB").filter(ImageFilter.GaussianBlur(3.0))) for b in pool["jpgs"]]
    with torch.no_grad():
        img = model.encode_image(torch.stack(ims), normalize=True).numpy()
        txt = model.encode_text(tokenizer(pool["captions"]), normalize=True).numpy()
    got = pq.read_table("s.parquet").column("score").to_numpy()
    np.testing.assert_allclose(got, np.einsum("ij,ij->i", img, txt), atol=1e-5)
    # blurring changes the image vectors (the plain file's are the unblurred images')
    unblurred = read_embeddings(files["emb__text"], columns=("image",))["image"]
    assert np.abs(unblurred - img).max() > 1e-3
