"""End-to-end FLYT training on a synthetic problem (M-FLYT and E-FLYT), determinism, helpers."""

import copy
import math

import numpy as np
import pytest
import torch

from clipcurate.train.flyt import (
    FlytConfig,
    GLUHead,
    LinearMixer,
    cosine_lr,
    embedding_features,
    mixer_weights_table,
    sample_downstream_texts,
    score_pool,
    train_flyt,
)

from tests.unit.flyt_micro import CTX, VOCAB, micro_clip

torch.set_num_threads(1)

C = 4
CLASSNAMES = [f"class{i}" for i in range(C)]
TEMPLATES = ["a photo of a {c}", "a picture of the {c}", "{c}"]


class WordTokenizer:
    """Deterministic toy tokenizer: SOT, one id per word, EOT (the largest id, so argmax pooling finds it)."""

    SOT, EOT = VOCAB - 2, VOCAB - 1

    def __init__(self):
        self.vocab = {}

    def _id(self, word):
        if word not in self.vocab:
            self.vocab[word] = 1 + len(self.vocab)
            assert self.vocab[word] < self.SOT
        return self.vocab[word]

    def __call__(self, texts):
        out = torch.zeros(len(texts), CTX, dtype=torch.long)
        for i, t in enumerate(texts):
            ids = [self.SOT] + [self._id(w) for w in t.split()][: CTX - 2] + [self.EOT]
            out[i, : len(ids)] = torch.tensor(ids)
        return out


micro_model = micro_clip


class SyntheticWorld:
    """Classes = image prototypes; upstream pairs are aligned (caption names the image's class)
    or misaligned (caption names class (y + shift) mod C: a systematically wrong mapping when
    ``shift`` is fixed, a random other class when None). Input score 0 = aligned + noise, 1 = noise."""

    def __init__(self, seed=0, batch=32, down_batch=24, aligned_frac=0.5, shift=None):
        self.g = torch.Generator().manual_seed(seed)
        self.protos = torch.randn(C, 3, 8, 8, generator=self.g)
        self.tok = WordTokenizer()
        for c in CLASSNAMES:  # fix the vocabulary order
            self.tok([t.format(c=c) for t in TEMPLATES])
        self.batch, self.down_batch, self.aligned_frac, self.shift = batch, down_batch, aligned_frac, shift

    def images(self, labels):
        return self.protos[labels] + 0.5 * torch.randn(len(labels), 3, 8, 8, generator=self.g)

    def upstream(self, n_batches):
        for _ in range(n_batches):
            y = torch.randint(0, C, (self.batch,), generator=self.g)
            aligned = torch.rand(self.batch, generator=self.g) < self.aligned_frac
            shift = torch.randint(1, C, (self.batch,), generator=self.g) if self.shift is None else self.shift
            other = (y + shift) % C
            cap = torch.where(aligned, y, other)
            tmpl = torch.randint(0, len(TEMPLATES), (self.batch,), generator=self.g)
            texts = self.tok([TEMPLATES[t].format(c=CLASSNAMES[c]) for t, c in zip(tmpl.tolist(), cap.tolist())])
            feats = torch.stack(
                [aligned.float() + 0.3 * torch.randn(self.batch, generator=self.g), torch.randn(self.batch, generator=self.g)],
                dim=1,
            )
            yield {"images": self.images(y), "texts": texts, "features": feats, "aligned": aligned}

    def downstream(self, n_batches):
        for _ in range(n_batches):
            y = torch.randint(0, C, (self.down_batch,), generator=self.g)
            yield {"images": self.images(y), "labels": y}


def make_cfg(world, steps, **kw):
    base = dict(
        steps=steps, reference_lr=2e-3, scorer_lr=5e-2, warmup=2, downstream_loss="ce",
        classnames=CLASSNAMES, templates=TEMPLATES, tokenizer=world.tok, seed=0,
    )
    base.update(kw)
    return FlytConfig(**base)


def run_mflyt(steps=60, seed=0, aligned_frac=0.5, shift=1, **kw):
    world = SyntheticWorld(seed=seed, aligned_frac=aligned_frac, shift=shift)
    model = micro_model(seed)
    torch.manual_seed(seed)
    mixer = LinearMixer(2, zero_init=True)
    cfg = make_cfg(world, steps, **kw)
    logs = []
    mixer, hist = train_flyt(model, mixer, world.upstream(steps), world.downstream(steps), cfg, log=logs.append)
    return mixer, hist, model, logs


@pytest.mark.parametrize("seed", [0, 1])
def test_mflyt_learns_informative_input(seed):
    # zero-initialised mixer: both inputs start with weight 0
    mixer, hist, _, logs = run_mflyt(steps=60, seed=seed)
    assert len(hist) == 60 and not any(h["skipped"] for h in hist)
    table = mixer_weights_table(mixer, ["aligned", "noise"])
    w_inf, w_noise = table[0][1], table[1][1]
    assert table[0][0] == "aligned" and table[1][0] == "noise"
    # Learning outcomes after 60 float32 steps. Measured: (a, noise) = (0.70, -0.13) for seed 0 and
    # (0.25, -0.08) for seed 1, final entropy 3.355 / 3.454 against the bound log 32 - 1e-3 = 3.465.
    # Another machine's kernels change the trajectory by float32 round-off only, and nothing in the
    # run amplifies it into an O(lr) difference (no parameter has an identically zero gradient that
    # Adam would normalise: see test_every_scorer_parameter_gets_a_meta_gradient), so these margins
    # (>= 0.049, 0.33 and 0.011) exceed any machine-to-machine difference by orders of magnitude.
    assert w_inf > 0.2, table
    assert w_inf > w_noise + 0.2, table
    # the mixer has no bias to train (the batch softmax is shift invariant): its only parameter is a
    assert [n for n, _ in mixer.named_parameters()] == ["linear.weight"]
    # weights concentrate -> entropy of the batch weights drops below log(B)
    assert hist[-1]["weight_entropy"] < math.log(32) - 1e-3
    for key in ("upstream_loss", "downstream_loss", "samples_per_s"):
        assert all(math.isfinite(h[key]) for h in hist)
    assert any("samples/s" in line for line in logs)
    # logit scale stays clamped in [0, ln 100]
    assert all(0.0 <= h["logit_scale"] <= math.log(100) + 1e-6 for h in hist)


def test_mflyt_deterministic():
    m1, h1, model1, _ = run_mflyt(steps=4, seed=3, shift=None)
    m2, h2, model2, _ = run_mflyt(steps=4, seed=3, shift=None)
    for a, b in zip(h1, h2):
        for k in ("upstream_loss", "downstream_loss", "weight_entropy"):
            assert a[k] == b[k]
    assert torch.equal(m1.linear.weight, m2.linear.weight)
    for (n, p), (_, q) in zip(model1.named_parameters(), model2.named_parameters()):
        assert torch.equal(p, q), n


def test_reference_update_flag():
    world = SyntheticWorld(seed=1)
    model = micro_model(1)
    before = copy.deepcopy(model.state_dict())
    cfg = make_cfg(world, 2, update_reference=False)
    train_flyt(model, LinearMixer(2), world.upstream(2), world.downstream(2), cfg, log=None)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    cfg = make_cfg(world, 2, update_reference=True)
    train_flyt(model, LinearMixer(2), world.upstream(2), world.downstream(2), cfg, log=None)
    assert any(not torch.equal(v, before[k]) for k, v in model.state_dict().items())


@pytest.mark.parametrize("kind", ["ce_temperature", "clip"])
def test_learnable_temperature_variants_run(kind):
    world = SyntheticWorld(seed=2)
    model = micro_model(2)
    cfg = make_cfg(world, 2, downstream_loss=kind)
    _, hist = train_flyt(model, LinearMixer(2), world.upstream(2), world.downstream(2), cfg, log=None)
    assert all(math.isfinite(h["downstream_loss"]) for h in hist)
    assert hist[-1]["log_tau"] != pytest.approx(math.log(1 / 0.07), abs=1e-7)  # lambda was trained


def test_eflyt_glu_head_step_changes_parameters():
    world = SyntheticWorld(seed=4)
    frozen = micro_model(10)  # the frozen embedding model (E-FLYT input)
    model = micro_model(4)
    batches = []
    for b in world.upstream(2):
        b = dict(b)
        b["features"] = embedding_features(frozen, b["images"], b["texts"])
        batches.append(b)
    assert batches[0]["features"].shape == (32, 16)
    torch.manual_seed(0)
    head = GLUHead(16, hidden_mult=1.0)
    assert head.hidden == 16
    before = {k: v.clone() for k, v in head.state_dict().items()}
    cfg = make_cfg(world, 2, scorer_lr=1e-2)
    head, hist = train_flyt(model, head, batches, world.downstream(2), cfg, log=None)
    assert not any(h["skipped"] for h in hist)
    assert sorted(before) == ["w1.bias", "w1.weight", "w2.weight", "w3.bias", "w3.weight"]  # no output bias
    for k in before:
        assert not torch.equal(head.state_dict()[k], before[k]), k
    scores = score_pool(head, [b["features"] for b in batches])
    assert scores.shape == (64,) and scores.dtype == np.float64 and np.isfinite(scores).all()


def test_score_pool_order_and_standardization():
    mixer = LinearMixer(2)
    raw = torch.tensor([[1.0, 10.0], [3.0, 30.0], [5.0, 20.0]])
    mixer.fit_standardization(raw)
    with torch.no_grad():
        mixer.linear.weight.copy_(torch.tensor([[1.0, 0.0]]))
    s = score_pool(mixer, [raw[:2], {"features": raw[2:].numpy()}])
    std = raw[:, 0].std(unbiased=False).item()
    np.testing.assert_allclose(s, [(1 - 3) / std, 0.0, (5 - 3) / std], rtol=1e-6)


def test_downstream_text_sampling():
    tok = WordTokenizer()
    gen = torch.Generator().manual_seed(0)
    labels = torch.tensor([0, 2, 2, 1, 3])
    ce = sample_downstream_texts("ce", labels, CLASSNAMES, TEMPLATES, tok, gen)
    assert ce.shape == (C, CTX)
    cl = sample_downstream_texts("clip", labels, CLASSNAMES, TEMPLATES, tok, gen)
    assert cl.shape == (5, CTX)
    # the class word of each caption is its label's class name
    inv = {v: k for k, v in tok.vocab.items()}
    for row, y in zip(cl.tolist(), labels.tolist()):
        assert CLASSNAMES[y] in [inv.get(i) for i in row]
    # templates are drawn independently per class: over many draws, several combinations occur
    combos = {tuple(sample_downstream_texts("ce", labels, CLASSNAMES, TEMPLATES, tok, gen)[:, 1].tolist()) for _ in range(20)}
    assert len(combos) > 3


def test_cosine_lr():
    assert cosine_lr(0, 1.0, 10, 100) == pytest.approx(0.1)
    assert cosine_lr(9, 1.0, 10, 100) == pytest.approx(1.0)
    assert cosine_lr(10, 1.0, 10, 100) == pytest.approx(1.0)
    assert cosine_lr(55, 1.0, 10, 100) == pytest.approx(0.5)
    assert cosine_lr(100, 1.0, 10, 100) == pytest.approx(0.0, abs=1e-12)


def test_scorer_param_groups():
    from clipcurate.train.flyt.adamw import weight_decay_param_groups

    mixer = LinearMixer(3)
    groups = weight_decay_param_groups(mixer.named_parameters(), 0.2)
    by_wd = {g["weight_decay"]: g["params"] for g in groups}
    assert list(by_wd) == [0.2] and len(by_wd[0.2]) == 1 and by_wd[0.2][0] is mixer.linear.weight  # a: decayed
    head = GLUHead(6, hidden_mult=0.5)
    assert head.hidden == 3
    groups = {g["weight_decay"]: g["params"] for g in weight_decay_param_groups(head.named_parameters(), 0.2)}
    assert {id(p) for p in groups[0.2]} == {id(head.w1.weight), id(head.w2.weight), id(head.w3.weight)}
    assert {id(p) for p in groups[0.0]} == {id(head.w1.bias), id(head.w3.bias)}  # biases: not decayed


@pytest.mark.parametrize("kind", ["mixer", "head"])
def test_every_scorer_parameter_gets_a_meta_gradient(kind):
    """A parameter whose gradient is identically zero must not exist: Adam would turn its round-off
    gradient into learning-rate-sized steps. The scorer gradient only sees softmax(scores) over the
    batch, so it is computed here in float64 against a generic (non-zero-sum) log-weight cotangent:
    every parameter's gradient must be far from zero, while the derivative along a common shift of
    the scores is zero (why no output bias exists)."""
    from clipcurate.train.flyt.meta import scorer_gradients

    g = torch.Generator().manual_seed(3)
    if kind == "mixer":
        scorer, feats = LinearMixer(3).double(), torch.randn(16, 3, generator=g, dtype=torch.float64)
        with torch.no_grad():
            scorer.linear.weight.copy_(torch.tensor([[0.5, -0.2, 0.3]], dtype=torch.float64))
    else:
        torch.manual_seed(0)
        scorer, feats = GLUHead(6).double(), torch.randn(16, 6, generator=g, dtype=torch.float64)
    u = torch.randn(16, generator=g, dtype=torch.float64)
    grads = scorer_gradients(scorer, feats, u)
    assert sorted(grads) == sorted(n for n, p in scorer.named_parameters() if p.requires_grad)
    for name, gr in grads.items():
        assert float(gr.abs().max()) > 1e-3, name  # O(1) inputs: a real gradient is O(0.1)
    # a constant added to every score (what an output bias would do) has an exactly-zero effect
    scores = scorer(feats).detach().requires_grad_()
    shift = torch.zeros((), dtype=torch.float64, requires_grad=True)
    (d,) = torch.autograd.grad((torch.log_softmax(scores + shift, 0) * u).sum(), shift)
    assert abs(float(d)) < 1e-12 * float(u.abs().sum())  # d = sum(u) - sum(u) * sum(softmax) = O(ulp)


def test_scorers_load_state_dicts_saved_with_an_output_bias():
    """Mixers and heads saved before the output bias was dropped still load; the bias (a common
    shift of every score) is ignored."""
    mixer = LinearMixer(2)
    old = {"linear.weight": torch.tensor([[0.25, -0.5]]), "linear.bias": torch.tensor([0.7]),
           "input_mean": torch.zeros(2), "input_std": torch.ones(2)}
    mixer.load_state_dict(old)
    x = torch.tensor([[1.0, 2.0], [3.0, -1.0]])
    torch.testing.assert_close(mixer(x), torch.tensor([0.25 - 1.0, 0.75 + 0.5]))
    assert "linear.bias" in old  # the caller's dict is not modified
    torch.manual_seed(1)
    head = GLUHead(4)
    state = {**head.state_dict(), "w2.bias": torch.tensor([3.0])}
    other = GLUHead(4)
    other.load_state_dict(state)
    xs = torch.randn(5, 4)
    torch.testing.assert_close(other(xs), head(xs))
    with pytest.raises(RuntimeError, match="w9"):  # anything else unexpected is still an error
        other.load_state_dict({**state, "w9.weight": torch.zeros(1)})


def test_non_finite_step_is_skipped():
    from clipcurate.train.flyt.meta import ReferenceState, flyt_step

    world = SyntheticWorld(seed=5)
    model = micro_model(5)
    ref = ReferenceState.from_model(model)
    mixer = LinearMixer(2)
    before = {k: v.clone() for k, v in mixer.state_dict().items()}
    opt = torch.optim.AdamW(mixer.parameters(), lr=1e-2)
    up = next(world.upstream(1))
    up["images"][0, 0, 0, 0] = float("nan")
    down = next(world.downstream(1))
    texts = sample_downstream_texts("ce", down["labels"], CLASSNAMES, TEMPLATES, world.tok)
    out = flyt_step(model, ref, mixer, opt, up, {**down, "texts": texts}, downstream_kind="ce", reference_lr=1e-3)
    assert out.skipped and "non-finite" in out.reason
    assert out.reference is ref and ref.opt_state.t == 0
    for k, v in mixer.state_dict().items():
        assert torch.equal(v, before[k])
