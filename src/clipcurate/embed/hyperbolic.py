"""Hyperbolic CLIP in the Lorentz model (MERU; HYPE's scores): the maths, the model, its loss, its checkpoint.

The reading of the authors' code (MERU: facebookresearch/meru ``meru/lorentz.py``, ``meru/models.py``;
HYPE: naver-ai/hype, whose scores are MERU's functions applied to a MERU-style ViT-L/14):

* Points live on the upper sheet of the hyperboloid of curvature ``-c``: ``<x, x>_L = -1/c`` with
  ``<x, y>_L = x_s . y_s - x_t y_t``. Only the space part ``x_s`` is stored; the time part is
  ``x_t = sqrt(1/c + |x_s|^2)`` (:func:`time_component`).
* The encoders give tangent vectors at the origin, ``exp(alpha) * features`` (not L2-normalised;
  ``alpha_img``/``alpha_txt`` stored as logs, initialised at ``log(1/sqrt(dim))``, clamped at most
  0 as MERU does), mapped to the hyperboloid by the exponential map at the origin
  (:func:`exp_map0`): ``x_s = sinh(sqrt(c)|v|) v / (sqrt(c)|v|)``, ``sqrt(c)|v|`` clamped to
  ``[1e-8, asinh(2^15)]``.
* The geodesic distance ``d_L(x, y) = arccosh(-c <x, y>_L) / sqrt(c)`` (:func:`distance`,
  :func:`pairwise_distance`). HYPE's code clamps the arccosh argument at ``1e-8``, which gives NaN
  for arguments in (0, 1) (rounding makes ``-c<x,x>_L`` slightly below 1); we clamp at ``1 + 1e-8``
  as MERU does.
* The entailment cone at ``x`` has half-aperture ``aper(x) = arcsin(2K / (sqrt(c)|x_s|))`` with
  ``K = 0.1`` (:func:`half_aperture`), and ``ext(x, y)``, the exterior angle at ``x`` between the
  cone's axis and ``y`` (:func:`exterior_angle`), is MERU's ``oxy_angle``. ``y`` lies inside ``x``'s
  cone when ``ext(x, y) <= aper(x)``.
* Training (MERU): a contrastive loss on the logits ``-d_L(image_i, text_j) * logit_scale`` (cross
  entropy both ways, averaged), plus ``entail_weight`` (MERU: 0.2) times the entailment loss
  ``mean(relu(ext(text, image) - aper(text)))``: the caption's cone must contain its image (text
  entails image: a caption is more generic than the image it describes). The curvature is learned
  (stored as ``log c``, initialised at ``log(curv_init)``, clamped to ``[curv_init/10, curv_init*10]``),
  the logit scale initialised at ``1/0.07`` and clamped at 100, as MERU.
* HYPE's scores of a pair (image I, caption T): ``neg_dist = -d_L(I, T)`` (the diagonal: each image
  against its own caption), and the specificities against a reference set of image and text
  embeddings, raw differences without a ReLU (:func:`specificities`):
  ``eps_i(I) = mean_t [ext(t, I) - aper(t)]`` over the reference texts t (the cones sit at the
  reference texts) and ``eps_t(T) = mean_i [ext(T, i)] - aper(T)`` over the reference images i
  (the cone sits at the caption). HYPE's filtering sums the three (its ``hype_sum`` mix).

The model here (:class:`HyperbolicCLIP`) has two towers that map a *feature vector* to a tangent
vector: on the tiny world, small heads over the frozen embeddings of the reference CLIP (training
image and text towers from scratch on two shared CPU cores is what the reference model's own
training already costs; heads over its embeddings train in seconds and keep every hyperbolic part of
MERU: the exponential map, the learned curvature and scales, both losses). At real scale HYPE's
released checkpoint (OpenCLIP ViT-L/14 towers plus the log-scalars ``curvature``, ``alpha_img``,
``alpha_txt``) loads through the same :func:`load_hyperbolic` (with its ``arch``) as
:class:`HyperbolicTowers`, whose towers read pixels and token ids (:func:`tower_transforms`); the
score method ``hype_checkpoint`` runs it on the pool's images, never through the embedding stage,
which L2-normalises. Both refuse a checkpoint with a
missing or unexpected key (HYPE's loader uses ``strict=False``, which silently leaves random weights).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping

import numpy as np

#: HYPE / MERU's entailment-cone constant (the minimum radius of the cone's apex region).
K_APERTURE = 0.1
EPS = 1e-8
#: MERU's largest sqrt(c)|v| in the exponential map: keeps sinh finite in float32.
MAX_EXP_ARG = math.asinh(2.0**15)
#: The checkpoint format written by :func:`save_hyperbolic`.
FORMAT = "clipcurate-hyperbolic/1"


class HyperbolicError(ValueError):
    """A hyperbolic checkpoint or input that cannot be used; the message names the file or the key."""


# --------------------------------------------------------------------------------------------
# Lorentz-model maths (torch, fp32 as the authors compute; batched over leading dimensions)


def exp_map0(v, curv):
    """Exponential map at the origin of the hyperboloid: tangent vectors ``v`` [..., d] -> space parts."""
    import torch

    rc_norm = torch.sqrt(torch.as_tensor(curv, dtype=v.dtype)) * torch.linalg.vector_norm(v, dim=-1, keepdim=True)
    arg = torch.clamp(rc_norm, min=EPS, max=MAX_EXP_ARG)
    return torch.sinh(arg) * v / torch.clamp(rc_norm, min=EPS)


def time_component(x, curv):
    """``x_t = sqrt(1/c + |x_s|^2)`` of space parts ``x`` [..., d] -> [...]."""
    import torch

    return torch.sqrt(1.0 / curv + torch.sum(x * x, dim=-1))


def distance(x, y, curv):
    """Row-wise geodesic distance ``d_L(x_k, y_k)`` of space parts [n, d] -> [n]."""
    import torch

    inner = torch.sum(x * y, dim=-1) - time_component(x, curv) * time_component(y, curv)
    return torch.acosh(torch.clamp(-curv * inner, min=1.0 + EPS)) / torch.sqrt(torch.as_tensor(curv, dtype=x.dtype))


def pairwise_distance(x, y, curv):
    """``d_L(x_i, y_j)`` of space parts [n, d], [m, d] -> [n, m]."""
    import torch

    inner = x @ y.T - time_component(x, curv)[:, None] * time_component(y, curv)[None, :]
    return torch.acosh(torch.clamp(-curv * inner, min=1.0 + EPS)) / torch.sqrt(torch.as_tensor(curv, dtype=x.dtype))


def half_aperture(x, curv, k: float = K_APERTURE):
    """Half-aperture of the entailment cone at each point: ``arcsin(2K / (sqrt(c)|x_s|))`` [..., d] -> [...]."""
    import torch

    arg = 2.0 * k / (torch.sqrt(torch.as_tensor(curv, dtype=x.dtype)) * torch.linalg.vector_norm(x, dim=-1) + EPS)
    return torch.asin(torch.clamp(arg, min=-1.0 + EPS, max=1.0 - EPS))


def exterior_angle(x, y, curv):
    """MERU's ``oxy_angle``, row-wise: the angle at ``x`` between the cone's axis (away from the origin)
    and the geodesic to ``y``; [n, d], [n, d] -> [n]. Broadcasting over leading dimensions works too."""
    import torch

    xt, yt = time_component(x, curv), time_component(y, curv)
    c_xyl = curv * (torch.sum(x * y, dim=-1) - xt * yt)
    numer = yt + c_xyl * xt
    denom = torch.linalg.vector_norm(x, dim=-1) * torch.sqrt(torch.clamp(c_xyl * c_xyl - 1.0, min=EPS)) + EPS
    return torch.acos(torch.clamp(numer / denom, min=-1.0 + EPS, max=1.0 - EPS))


def pairwise_exterior_angle(x, y, curv):
    """``ext(x_i, y_j)`` of space parts [n, d], [m, d] -> [n, m] (the cone at ``x_i``)."""
    import torch

    xt, yt = time_component(x, curv), time_component(y, curv)
    c_xyl = curv * (x @ y.T - xt[:, None] * yt[None, :])
    numer = yt[None, :] + c_xyl * xt[:, None]
    denom = torch.linalg.vector_norm(x, dim=-1)[:, None] * torch.sqrt(torch.clamp(c_xyl * c_xyl - 1.0, min=EPS)) + EPS
    return torch.acos(torch.clamp(numer / denom, min=-1.0 + EPS, max=1.0 - EPS))


def entailment_loss(general, specific, curv, k: float = K_APERTURE):
    """MERU's entailment loss: ``mean(relu(ext(general, specific) - aper(general)))``; zero when every
    ``specific`` point lies inside its ``general`` point's cone (text entails image: general = text)."""
    import torch

    return torch.clamp(exterior_angle(general, specific, curv) - half_aperture(general, curv, k), min=0.0).mean()


def specificities(img, txt, ref_img, ref_txt, curv, block: int = 4096, k: float = K_APERTURE) -> tuple:
    """HYPE's image and text specificities of points ``img``, ``txt`` [n, d] against a reference set's
    points ``ref_img``, ``ref_txt`` [m, d] (all space parts on the same hyperboloid).

    ``eps_i[k] = mean_t [ext(ref_txt_t, img_k) - aper(ref_txt_t)]`` and
    ``eps_t[k] = mean_i [ext(txt_k, ref_img_i)] - aper(txt_k)``; computed ``block`` rows at a time so
    that memory is ``block * m`` floats whatever n is. Returns two float32 numpy arrays [n].
    """
    import torch

    n = img.shape[0]
    eps_i = np.empty(n, np.float32)
    eps_t = np.empty(n, np.float32)
    ref_aper = half_aperture(ref_txt, curv, k)  # [m]
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        ext_i = pairwise_exterior_angle(ref_txt, img[lo:hi], curv)  # [m, b]: cones at the reference texts
        eps_i[lo:hi] = (ext_i - ref_aper[:, None]).mean(dim=0).cpu().numpy()
        ext_t = pairwise_exterior_angle(txt[lo:hi], ref_img, curv)  # [b, m]: cones at the captions
        eps_t[lo:hi] = (ext_t.mean(dim=1) - half_aperture(txt[lo:hi], curv, k)).cpu().numpy()
        del ext_i, ext_t
    return eps_i, eps_t


# --------------------------------------------------------------------------------------------
# the model


def _tower(in_dim: int, dim: int, hidden: int):
    import torch

    if hidden <= 0:
        return torch.nn.Linear(in_dim, dim)
    return torch.nn.Sequential(torch.nn.Linear(in_dim, hidden), torch.nn.GELU(), torch.nn.Linear(hidden, dim))


def _model_class():
    import torch

    class HyperbolicCLIP(torch.nn.Module):
        """MERU-style hyperbolic CLIP over feature vectors: image and text towers (a linear map or a
        one-hidden-layer MLP each), learned log-scales ``alpha_img``/``alpha_txt``, learned log-curvature
        and logit scale. ``encode_*`` give tangent vectors at the origin, ``embed_*`` hyperboloid points."""

        def __init__(self, in_dim: int, dim: int = 64, hidden: int = 256, curv_init: float = 1.0,
                     learn_curvature: bool = True):
            super().__init__()
            self.config = {"in_dim": int(in_dim), "dim": int(dim), "hidden": int(hidden), "curv_init": float(curv_init),
                           "learn_curvature": bool(learn_curvature)}
            self.image_tower = _tower(in_dim, dim, hidden)
            self.text_tower = _tower(in_dim, dim, hidden)
            self.curvature = torch.nn.Parameter(torch.tensor(math.log(curv_init)), requires_grad=bool(learn_curvature))
            self.alpha_img = torch.nn.Parameter(torch.tensor(math.log(dim ** -0.5)))
            self.alpha_txt = torch.nn.Parameter(torch.tensor(math.log(dim ** -0.5)))
            self.logit_scale = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07)))

        @property
        def curv(self):
            return self.curvature.exp()

        def clamp_(self) -> None:
            """MERU's clamps after each optimiser step: curvature in [c0/10, 10 c0], alphas <= 0, scale <= 100."""
            import torch

            c0 = self.config["curv_init"]
            with torch.no_grad():
                self.curvature.clamp_(math.log(c0 / 10), math.log(c0 * 10))
                self.alpha_img.clamp_(max=0.0)
                self.alpha_txt.clamp_(max=0.0)
                self.logit_scale.clamp_(max=math.log(100.0))

        def encode_image(self, feats):
            return self.image_tower(feats) * self.alpha_img.exp()

        def encode_text(self, feats):
            return self.text_tower(feats) * self.alpha_txt.exp()

        def embed_image(self, feats):
            return exp_map0(self.encode_image(feats), self.curv)

        def embed_text(self, feats):
            return exp_map0(self.encode_text(feats), self.curv)

        def loss(self, img_feats, txt_feats, entail_weight: float = 0.2) -> dict:
            """MERU's objective on a batch of matched pairs: contrastive + entail_weight * entailment."""
            import torch

            x, y = self.embed_image(img_feats), self.embed_text(txt_feats)
            logits = -pairwise_distance(x, y, self.curv) * self.logit_scale.exp()
            target = torch.arange(len(x))
            contrastive = 0.5 * (torch.nn.functional.cross_entropy(logits, target)
                                 + torch.nn.functional.cross_entropy(logits.T, target))
            entail = entailment_loss(y, x, self.curv)
            return {"loss": contrastive + entail_weight * entail, "contrastive": contrastive, "entailment": entail}

    return HyperbolicCLIP


def build_model(in_dim: int, dim: int = 64, hidden: int = 256, curv_init: float = 1.0, learn_curvature: bool = True):
    """A randomly initialised :class:`HyperbolicCLIP` (torch's global RNG: seed it first)."""
    return _model_class()(in_dim, dim, hidden, curv_init, learn_curvature)


def save_hyperbolic(path, model, info: Mapping | None = None) -> None:
    """Write a checkpoint: ``{"format", "config", "state_dict", "info"}`` (atomically)."""
    import torch

    from clipcurate.core import fileio

    with fileio.atomic_path(Path(path), suffix=".pt") as tmp:
        torch.save({"format": FORMAT, "config": dict(model.config),
                    "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                    "info": dict(info or {})}, tmp)


#: The scalar parameters of HYPE's released checkpoint beside its OpenCLIP weights (all logs).
HYPE_SCALARS = ("curvature", "alpha_img", "alpha_txt")


def load_hyperbolic(path, arch: str | None = None):
    """Load a hyperbolic CLIP checkpoint in eval mode, through one call for both kinds:

    * this project's format (:func:`save_hyperbolic`: the tiny world's trained towers over frozen
      embeddings), whatever ``arch`` is;
    * HYPE's released layout (a real-scale checkpoint): an OpenCLIP state dict (optionally under
      ``state_dict``) plus the scalars ``curvature``, ``alpha_img``, ``alpha_txt`` (logs), loaded into
      ``open_clip.create_model(arch)`` (e.g. ``ViT-L-14``); the model's towers then read pixels and
      token ids (:class:`HyperbolicTowers`).

    A missing file, an unreadable one, or a missing or unexpected weight is an error naming the file
    and the keys (never HYPE's ``strict=False``)."""
    import torch

    path = Path(path)
    if not path.exists():
        raise HyperbolicError(f"{path}: hyperbolic checkpoint not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated file, not a torch file
        raise HyperbolicError(f"{path}: cannot read the hyperbolic checkpoint ({type(e).__name__}: {e})") from e
    if isinstance(ckpt, Mapping) and ckpt.get("format") != FORMAT and arch is not None:
        return _load_hype_layout(path, ckpt, arch)
    if not isinstance(ckpt, Mapping) or ckpt.get("format") != FORMAT:
        got = ckpt.get("format") if isinstance(ckpt, Mapping) else type(ckpt).__name__
        raise HyperbolicError(f"{path}: expected a checkpoint of format {FORMAT!r} (keys format, config, state_dict), got "
                              f"{got!r}; a HYPE-layout checkpoint (OpenCLIP weights + {', '.join(HYPE_SCALARS)}) "
                              "loads with arch= its OpenCLIP architecture")
    cfg = ckpt.get("config") or {}
    need = ("in_dim", "dim", "hidden", "curv_init", "learn_curvature")
    missing = [k for k in need if k not in cfg]
    if missing:
        raise HyperbolicError(f"{path}: config lacks {missing}; expected {list(need)}")
    model = build_model(**{k: cfg[k] for k in need})
    state = ckpt.get("state_dict") or {}
    want = set(model.state_dict())
    lacking, extra = sorted(want - set(state)), sorted(set(state) - want)
    if lacking or extra:
        raise HyperbolicError(f"{path}: state_dict does not match the model of config {dict(cfg)}: "
                              f"missing {lacking[:5]}, unexpected {extra[:5]}")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:  # shapes
        raise HyperbolicError(f"{path}: {e}") from e
    model.eval()
    return model


def _towers_class():
    import torch

    class HyperbolicTowers(torch.nn.Module):
        """HYPE's released model: an OpenCLIP CLIP whose unnormalised image and text features, scaled
        by ``exp(alpha_img)``/``exp(alpha_txt)``, are tangent vectors at the origin (curvature
        ``exp(curvature)``). The same ``encode_*``/``embed_*``/``curv`` as :class:`HyperbolicCLIP`,
        over pixels [n, 3, H, W] and token ids [n, context]."""

        def __init__(self, clip, curvature, alpha_img, alpha_txt, arch: str | None = None):
            super().__init__()
            self.clip = clip
            self.arch = arch  # the OpenCLIP architecture: its tokenizer and preprocessing (tower_transforms)
            self.curvature = torch.nn.Parameter(torch.as_tensor(curvature, dtype=torch.float32).reshape(()))
            self.alpha_img = torch.nn.Parameter(torch.as_tensor(alpha_img, dtype=torch.float32).reshape(()))
            self.alpha_txt = torch.nn.Parameter(torch.as_tensor(alpha_txt, dtype=torch.float32).reshape(()))

        @property
        def curv(self):
            return self.curvature.exp()

        def encode_image(self, pixels):
            return self.clip.encode_image(pixels, normalize=False).float() * self.alpha_img.exp()

        def encode_text(self, tokens):
            return self.clip.encode_text(tokens, normalize=False).float() * self.alpha_txt.exp()

        def embed_image(self, pixels):
            return exp_map0(self.encode_image(pixels), self.curv)

        def embed_text(self, tokens):
            return exp_map0(self.encode_text(tokens), self.curv)

    return HyperbolicTowers


def tower_transforms(model):
    """``(preprocess, tokenizer)`` of a HYPE-layout model (:func:`load_hyperbolic` with ``arch``): open_clip's
    evaluation transform from the architecture's own preprocessing config (size, resize mode, mean and
    std: what ``open_clip.create_model_and_transforms(arch)`` returns as ``preprocess_val``) and the
    architecture's tokenizer, so pixels and token ids reach the towers as they reach the checkpoint's
    OpenCLIP model."""
    import open_clip
    from open_clip.transform import PreprocessCfg, image_transform_v2

    if getattr(model, "arch", None) is None or not hasattr(model, "clip"):
        raise HyperbolicError("tower_transforms: the model is not a HYPE-layout checkpoint loaded with arch= "
                              "(this project's towers read stored embeddings, not images)")
    preprocess = image_transform_v2(PreprocessCfg(**model.clip.visual.preprocess_cfg), is_train=False)
    return preprocess, open_clip.get_tokenizer(model.arch)


def _load_hype_layout(path: Path, ckpt: Mapping, arch: str):
    """A HYPE-layout checkpoint (OpenCLIP weights + log-scalars) into ``HyperbolicTowers`` of ``arch``."""
    import open_clip

    from clipcurate.embed.models import register_tiny_configs

    state = ckpt.get("state_dict", ckpt)
    if not isinstance(state, Mapping):
        raise HyperbolicError(f"{path}: 'state_dict' is {type(state).__name__}, expected a mapping of weights")
    missing = [k for k in HYPE_SCALARS if k not in state]
    if missing:
        raise HyperbolicError(f"{path}: a HYPE-layout checkpoint needs the scalars {list(HYPE_SCALARS)}; missing {missing}")
    register_tiny_configs()
    try:
        clip = open_clip.create_model(arch, pretrained=None)
    except RuntimeError as e:  # unknown architecture
        raise HyperbolicError(f"{path}: arch {arch!r}: {e}") from e
    weights = {k: v for k, v in state.items() if k not in HYPE_SCALARS}
    want = set(clip.state_dict())
    lacking, extra = sorted(want - set(weights)), sorted(set(weights) - want)
    if lacking or extra:
        raise HyperbolicError(f"{path}: the OpenCLIP weights do not match arch {arch!r}: missing {lacking[:5]}"
                              f"{' ...' if len(lacking) > 5 else ''}, unexpected {extra[:5]}{' ...' if len(extra) > 5 else ''}")
    try:
        clip.load_state_dict(weights, strict=True)
    except RuntimeError as e:  # shapes
        raise HyperbolicError(f"{path}: {e}") from e
    model = _towers_class()(clip, state["curvature"], state["alpha_img"], state["alpha_txt"], arch=arch)
    model.eval()
    return model


# --------------------------------------------------------------------------------------------
# scoring and training


def _tensor(x):
    """A numpy array as a torch tensor: floats as float32, integers (token ids) as they are."""
    import torch

    x = np.ascontiguousarray(x)
    return torch.from_numpy(x.astype(np.float32, copy=False) if np.issubdtype(x.dtype, np.floating) else x)


def hype_scores(model, img_feats: np.ndarray, txt_feats: np.ndarray, ref_img_feats: np.ndarray,
                ref_txt_feats: np.ndarray, block: int = 4096) -> dict[str, np.ndarray]:
    """HYPE's three terms for each pair (row k of ``img_feats`` with row k of ``txt_feats``):
    ``neg_dist``, ``eps_i``, ``eps_t`` (float32 [n]), against the reference set's features. The
    inputs are what the model's towers read: frozen embeddings for :class:`HyperbolicCLIP`, pixels and
    token ids for a HYPE-layout model (:func:`load_hyperbolic` with ``arch``)."""
    import torch

    if len(img_feats) != len(txt_feats):
        raise HyperbolicError(f"hype: {len(img_feats)} image rows and {len(txt_feats)} text rows")
    with torch.no_grad():
        curv = model.curv
        ref_i = model.embed_image(_tensor(ref_img_feats))
        ref_t = model.embed_text(_tensor(ref_txt_feats))
        n = len(img_feats)
        neg = np.empty(n, np.float32)
        eps_i = np.empty(n, np.float32)
        eps_t = np.empty(n, np.float32)
        for lo in range(0, n, block):
            hi = min(n, lo + block)
            x = model.embed_image(_tensor(img_feats[lo:hi]))
            y = model.embed_text(_tensor(txt_feats[lo:hi]))
            terms = pair_terms(x, y, ref_i, ref_t, curv, block=block)
            neg[lo:hi], eps_i[lo:hi], eps_t[lo:hi] = terms["neg_dist"], terms["eps_i"], terms["eps_t"]
    return {"neg_dist": neg, "eps_i": eps_i, "eps_t": eps_t}


def pair_terms(x, y, ref_img, ref_txt, curv, block: int = 4096) -> dict[str, np.ndarray]:
    """HYPE's three terms of pairs already on the hyperboloid: ``x``, ``y`` the images' and captions'
    space parts [n, d] (row k with row k), ``ref_img``, ``ref_txt`` the reference set's [m, d]; float32
    numpy [n] each. What :func:`hype_scores` computes after its towers, and what the checkpoint path
    (HYPE's released model over pixels and tokens) computes after its own."""
    eps_i, eps_t = specificities(x, y, ref_img, ref_txt, curv, block=block)
    return {"neg_dist": (-distance(x, y, curv)).cpu().numpy().astype(np.float32), "eps_i": eps_i, "eps_t": eps_t}


def term_floors(curv: float) -> dict[str, float]:
    """Lower bounds of HYPE's terms on a model of curvature ``curv``, the values of a pair whose image does
    not decode (below every decodable pair, finite, so standardising mixes stay usable; the embedding
    stage's zero vector plays that part for CLIP scores). ``neg_dist >= -2 asinh(2^15) / sqrt(c)``: the
    exponential map's clamp bounds each point's distance from the origin by ``asinh(2^15) / sqrt(c)``;
    ``eps_i, eps_t >= -pi/2``: an exterior angle is at least 0 and a half-aperture at most pi/2."""
    return {"neg_dist": -2.0 * MAX_EXP_ARG / math.sqrt(float(curv)), "eps_i": -math.pi / 2, "eps_t": -math.pi / 2}


def train_hyperbolic(img: np.ndarray, txt: np.ndarray, *, dim: int, hidden: int, steps: int, batch_size: int,
                     lr: float, warmup: int, wd: float = 0.2, entail_weight: float = 0.2, curv_init: float = 1.0,
                     learn_curvature: bool = True, seed: int = 0):
    """Train a :class:`HyperbolicCLIP` on matched feature pairs (row k of ``img`` with row k of ``txt``)
    with MERU's objective: AdamW (betas 0.9, 0.98), linear warmup then cosine decay, batches drawn
    without replacement within a pass. Returns ``(model, history)``; history has the loss every 10 steps."""
    import torch

    from clipcurate.train.lr_schedule import cosine_lr

    if img.shape != txt.shape or len(img) < 2:
        raise HyperbolicError(f"hyperbolic training: needs at least 2 matched pairs of equal width, got {img.shape} and {txt.shape}")
    torch.manual_seed(int(seed))
    g = torch.Generator().manual_seed(int(seed))
    model = build_model(img.shape[1], dim, hidden, curv_init, learn_curvature)
    I = torch.from_numpy(np.ascontiguousarray(img, np.float32))
    T = torch.from_numpy(np.ascontiguousarray(txt, np.float32))
    # MERU: no weight decay on the scalars (curvature, alphas, logit scale) and biases
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    rest = [p for n, p in model.named_parameters() if p.ndim <= 1 and p.requires_grad]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": wd}, {"params": rest, "weight_decay": 0.0}],
                            lr=lr, betas=(0.9, 0.98))
    b = min(int(batch_size), len(I))
    order, pos = torch.randperm(len(I), generator=g), 0
    history = []
    model.train()
    for step in range(int(steps)):
        for group in opt.param_groups:
            group["lr"] = cosine_lr(step, lr, warmup, steps)
        if pos + b > len(I):
            order, pos = torch.randperm(len(I), generator=g), 0
        idx = order[pos:pos + b]
        pos += b
        out = model.loss(I[idx], T[idx], entail_weight)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        model.clamp_()
        if step % 10 == 0 or step == steps - 1:
            history.append({"step": step, **{k: float(v.detach()) for k, v in out.items()},
                            "curvature": float(model.curv.detach())})
    model.eval()
    return model, history


#: Defaults of a ``hyperbolic:`` entry's optional keys (MERU's where it has one: weight decay 0.2,
#: entailment weight 0.2, initial curvature 1, learned curvature).
TRAIN_DEFAULTS = {"dim": 64, "hidden": 256, "wd": 0.2, "entail_weight": 0.2, "curv_init": 1.0,
                  "learn_curvature": True, "holdout": 0.1}


def matched_auc(model, img_feats: np.ndarray, txt_feats: np.ndarray, seed: int = 0) -> float:
    """AUC of ``-d_L`` separating matched pairs (row k with row k) from mismatched ones (row k with a
    random other row's caption): 0.5 is chance, 1 a perfect ranking."""
    import torch
    from sklearn.metrics import roc_auc_score

    n = len(img_feats)
    rng = np.random.default_rng(seed)
    other = (np.arange(n) + rng.integers(1, n, size=n)) % n  # never the row itself
    with torch.no_grad():
        x = model.embed_image(torch.from_numpy(np.ascontiguousarray(img_feats, np.float32)))
        y = model.embed_text(torch.from_numpy(np.ascontiguousarray(txt_feats, np.float32)))
        pos = (-distance(x, y, model.curv)).numpy()
        neg = (-distance(x, y[torch.from_numpy(other)], model.curv)).numpy()
    return float(roc_auc_score(np.r_[np.ones(n), np.zeros(n)], np.r_[pos, neg]))


def train_entry(img: np.ndarray, txt: np.ndarray, cfg: Mapping, seed: int):
    """Train on a ``hyperbolic:`` entry's settings: hold out ``holdout`` of the pairs (seeded), train
    on the rest, measure the held-out matched-pair AUC. Returns ``(model, info)``."""
    import time

    c = {**TRAIN_DEFAULTS, **dict(cfg)}
    n = len(img)
    rng = np.random.default_rng([int(seed), 15])
    perm = rng.permutation(n)
    n_hold = int(round(c["holdout"] * n))
    if n - n_hold < 2:
        raise HyperbolicError(f"hyperbolic training: {n} pairs, {n_hold} held out: fewer than 2 left to train on")
    hold, train = perm[:n_hold], perm[n_hold:]
    t0 = time.perf_counter()
    model, history = train_hyperbolic(
        img[train], txt[train], dim=int(c["dim"]), hidden=int(c["hidden"]), steps=int(c["steps"]),
        batch_size=int(c["batch_size"]), lr=float(c["lr"]), warmup=int(c["warmup"]), wd=float(c["wd"]),
        entail_weight=float(c["entail_weight"]), curv_init=float(c["curv_init"]),
        learn_curvature=bool(c["learn_curvature"]), seed=int(seed))
    info = {"config": c, "seed": int(seed), "pairs": n, "train_pairs": len(train), "heldout_pairs": len(hold),
            "train_seconds": time.perf_counter() - t0, "curvature": float(model.curv.detach()),
            "final": history[-1], "history": history}
    if n_hold >= 2:
        info["heldout_auc"] = matched_auc(model, img[hold], txt[hold], seed=int(seed))
    return model, info
