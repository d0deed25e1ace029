"""ITM (clipcurate.scores.helpers.itm): BLIP's ITM head loaded from a saved tiny checkpoint through the same call
the workflow uses, the hard-negative mining against brute force, and the tiny world's matching head
learning to separate matched from mismatched pairs on held-out data."""

import numpy as np
import pytest

from clipcurate.scores.helpers import itm


# ---- BLIP ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def blip_dir(tmp_path_factory):
    """A small, randomly initialised BLIP ITM model and its processor, saved as save_pretrained does."""
    import torch
    from transformers import BertTokenizer, BlipConfig, BlipForImageTextRetrieval, BlipImageProcessor, BlipProcessor

    d = tmp_path_factory.mktemp("blip")
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", "[ENC]", "a", "red", "blue", "circle", "square",
             "photo", "of", "the", "green", "triangle"]
    (d / "vocab.txt").write_text("\n".join(words) + "\n")
    tok = BertTokenizer(str(d / "vocab.txt"), do_lower_case=True)
    proc = BlipProcessor(image_processor=BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer=tok)
    torch.manual_seed(0)
    cfg = BlipConfig(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=32, patch_size=8),
        text_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                         vocab_size=len(words), max_position_embeddings=64, encoder_hidden_size=32,
                         pad_token_id=0, bos_token_id=5, sep_token_id=3),
        projection_dim=16, image_text_hidden_size=16,
    )
    model = BlipForImageTextRetrieval(cfg).eval()
    model.save_pretrained(d)
    proc.save_pretrained(d)
    return d


def pairs(n=5, seed=0):
    from PIL import Image

    rng = np.random.default_rng(seed)
    images = [Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)) for _ in range(n)]
    texts = ["a red circle", "photo of a blue square", "the green triangle", "a circle", "square"][:n]
    return images, texts


def test_blip_itm_loads_the_saved_checkpoint_and_scores_pairs(blip_dir):
    import torch

    model, proc = itm.load_blip_itm(blip_dir)
    images, texts = pairs()
    got = itm.blip_itm_probability(model, proc, images, texts, batch_size=2)
    assert got.dtype == np.float32 and got.shape == (5,)
    assert ((got > 0) & (got < 1)).all()
    # independently: BLIP's ITM path by hand (vision encoder -> text encoder cross-attending to it ->
    # itm_head on the first token), softmax over the two classes, class 1
    enc = proc(images=images, text=texts, return_tensors="pt", padding="max_length", truncation=True, max_length=35)
    with torch.no_grad():
        img = model.vision_model(pixel_values=enc["pixel_values"])[0]
        att = torch.ones(img.shape[:-1], dtype=torch.long)
        txt = model.text_encoder(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                                 encoder_hidden_states=img, encoder_attention_mask=att)[0]
        ref = torch.softmax(model.itm_head(txt[:, 0, :]), dim=1)[:, 1].numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    # the saved weights are the ones loaded: a second load gives the same numbers; batch size does not matter
    model2, proc2 = itm.load_blip_itm(blip_dir)
    np.testing.assert_allclose(itm.blip_itm_probability(model2, proc2, images, texts, batch_size=5), got, rtol=1e-5, atol=1e-6)


def test_blip_loader_names_a_missing_folder(tmp_path):
    with pytest.raises(itm.ItmError, match=r"no BLIP ITM model folder"):
        itm.load_blip_itm(tmp_path / "nowhere")


# ---- hard negatives ---------------------------------------------------------------------------


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_hard_negatives_against_brute_force():
    rng = np.random.default_rng(3)
    image, text = unit(rng.normal(size=(12, 6))), unit(rng.normal(size=(12, 6)))
    text[7] = text[2]  # a repeated caption: 2 and 7 are no negatives of each other
    t_for_i, i_for_t = itm.hard_negatives(image, text)
    for i in range(12):
        cands = [j for j in range(12) if j != i and not (i in (2, 7) and j in (2, 7))]
        assert t_for_i[i] == max(cands, key=lambda j: image[i] @ text[j])
        cands = [j for j in range(12) if j != i]  # the images are all distinct
        assert i_for_t[i] == max(cands, key=lambda j: image[j] @ text[i])
    img_rows, txt_rows, labels = itm.itm_batch(image, text)
    assert labels.tolist() == [1] * 12 + [0] * 24
    assert (img_rows[:12] == txt_rows[:12]).all() and (img_rows[12:] != txt_rows[12:]).all()


def test_hard_negatives_without_candidates():
    x = unit(np.ones((2, 3)))
    t_for_i, i_for_t = itm.hard_negatives(x, x)
    assert t_for_i.tolist() == [-1, -1] and i_for_t.tolist() == [-1, -1]


# ---- the matching head ------------------------------------------------------------------------


def latent_pairs(n, seed, noise=0.5):
    """Pairs like a frozen CLIP's: one latent per pair, seen through an image view and a caption view
    that differ (noise, and a nonlinearity on the caption side); held-out pairs have new latents."""
    r = np.random.default_rng(seed)
    z = r.normal(size=(n, 16))
    image = unit(z + noise * r.normal(size=(n, 16)))
    text = unit(np.tanh(z) + noise * r.normal(size=(n, 16)))
    return image.astype(np.float32), text.astype(np.float32)


def test_head_separates_matched_from_mismatched_held_out_pairs():
    image, text = latent_pairs(2000, seed=10)
    trained = itm.train_itm_head(image, text, hidden=64, steps=400, batch_size=128, lr=3e-3, warmup=30, seed=0)
    head = itm.build_head(trained["dim"], trained["hidden"])
    head.load_state_dict(trained["state"])
    hi, ht = latent_pairs(600, seed=100)  # held-out pairs
    res = itm.heldout_auc(head.eval(), hi, ht, seed=0)
    # measured (seeds 0-2, 600 steps): 0.988-0.992 against random mismatched captions, as the cosine
    # itself (0.988-0.994); chance is 0.5. Trained on argmax negatives alone the same head gave 0.01.
    assert res["auc_random"] > 0.95
    # the AUC is the rank statistic: against a direct pairwise count
    p = itm.head_probability(head.eval(), hi, ht)
    q = itm.head_probability(head.eval(), hi, ht[::-1])
    direct = np.mean((p[:, None] > q[None, :]) + 0.5 * (p[:, None] == q[None, :]))
    assert itm.auc(p, q) == pytest.approx(direct, abs=1e-9)


def test_sampled_negatives_follow_the_softmax():
    rng = np.random.default_rng(0)
    image, text = unit(rng.normal(size=(4, 5))), unit(rng.normal(size=(4, 5)))
    t = 0.2
    draws = np.array([itm.hard_negatives(image, text, temperature=t, rng=rng)[0] for _ in range(6000)])
    for i in range(4):
        cands = [j for j in range(4) if j != i]
        w = np.exp(np.array([image[i] @ text[j] for j in cands]) / t)
        expect = w / w.sum()
        got = np.array([(draws[:, i] == j).mean() for j in cands])
        np.testing.assert_allclose(got, expect, atol=0.03)  # 6000 draws: SE <= 0.0065
        assert (draws[:, i] != i).all()


def test_head_save_load_round_trip(tmp_path):
    image, text = latent_pairs(200, seed=2)
    trained = itm.train_itm_head(image, text, hidden=8, steps=5, batch_size=32, lr=1e-3, warmup=1, seed=0)
    itm.save_head(tmp_path / "head.pt", trained, {"x": 1})
    head = itm.load_head(tmp_path / "head.pt")
    ref = itm.build_head(16, 8)
    ref.load_state_dict(trained["state"])
    np.testing.assert_allclose(itm.head_probability(head, image, text), itm.head_probability(ref.eval(), image, text), rtol=1e-6)
    with pytest.raises(itm.ItmError, match=r"takes 16-d image and text embeddings"):
        itm.head_probability(head, image[:, :8], text[:, :8])
