"""The real-scale ITM score (method ``itm_blip``): BLIP's ITM head from a saved tiny checkpoint, run by
the workflow's planner and runner on a crafted pool's shards through the ``Images`` input, against
scoring the same images and captions directly; a corrupt image scores 0."""

import io as _io

import numpy as np
import pytest
import webdataset as wds
from PIL import Image

from clipcurate.scores.helpers import itm
from clipcurate.scores.plan import PlanError, plan_score
from tests.unit.test_itm import blip_dir  # noqa: F401 - the saved tiny BLIP
from tests.unit.test_score_runner import CAPTIONS, CONFIG, KEYS, SHARDS, run, world  # noqa: F401 - the crafted pool


def jpeg(i):
    rng = np.random.default_rng(i)
    buf = _io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (24 + i, 40, 3), dtype=np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


@pytest.fixture
def shards(world):  # noqa: F811 - the fixture
    """The crafted pool's webdataset shards (keys in another order than the index's); sample 4 corrupt."""
    for shard in (0, 1, 2):
        with wds.TarWriter(f"results/pool/shards/{shard:08d}.tar") as w:
            for i in [i for i in range(7) if SHARDS[i] == shard][::-1]:
                w.write({"__key__": KEYS[i], "jpg": b"not a jpeg" if i == 4 else jpeg(i), "txt": CAPTIONS[i]})
    return world


def test_itm_blip_score_through_the_runner(shards, blip_dir):  # noqa: F811 - fixtures
    got = run("itm_b", {"method": "itm_blip", "blip": str(blip_dir), "params": {"batch_size": 2}})
    model, proc = itm.load_blip_itm(blip_dir)
    ok = [i for i in range(7) if i != 4]
    direct = itm.blip_itm_probability(model, proc, [Image.open(_io.BytesIO(jpeg(i))).convert("RGB") for i in ok],
                                      [CAPTIONS[i] for i in ok])
    np.testing.assert_allclose(got["score"][ok], direct, rtol=1e-5, atol=1e-6)
    assert got["score"][4] == 0.0


def test_images_only_for_chunk_level_methods():
    from clipcurate.scores import register
    from clipcurate.scores.inputs import Images

    @register("_pool_images", level="pool", inputs={"im": Images()}, outputs=("score",))
    def _pool_images(params, im):  # pragma: no cover - refused when planned
        return {}

    with pytest.raises(PlanError, match=r"scores\.x\.method: '_pool_images' reads images, which only chunk-level methods can"):
        plan_score({**CONFIG, "scores": {"x": {"method": "_pool_images"}}}, "x")
