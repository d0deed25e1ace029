"""s-CLIPLoss (negCLIPLoss; Wang et al. 2024, code ypwang61/negCLIPLoss_NormSim): the CLIP score
corrected by how well a pair's image and caption also match the *other* pairs of a random batch.

For a batch of L2-normalised image embeddings F and text embeddings G (S = F Gᵀ), per sample i::

    diag_i = S_ii
    R1_i   = (τ/2) · logsumexp_j(S_ij / τ)      (its image against every caption of the batch)
    R2_i   = (τ/2) · logsumexp_j(S_ji / τ)      (its caption against every image of the batch)
    score_i = mean over K random batchings of (diag_i − R1_i − R2_i)

which is −τ times sample i's symmetric CLIP loss in its batch (the diagonal is in both sums): a pair
whose caption is generic, or whose image matches many captions, is pushed down.

What the authors' code does (``baselines.py --name cs_new``, ``load_uids_with_cs_new``): per
DataComp metadata file, permute the file's samples (unseeded), cut them into batches of
``--batch_size`` in order (the last batch smaller), and average diag, R1 and R2 over
``--average_num`` permutations. The paper's values, used as the defaults here: B = 32768, K = 10,
τ = 0.01 (OpenAI CLIP's logit scale 100; its comments give 0.07 for DFN-P features). It scores
OpenAI L/14 features; FLYT's M-FLYT input uses B/32 (the ``openai`` model here, see
config/scores/flyt_inputs.yaml).

What is done here, and why:

* **Chunk level, batches within a chunk.** A chunk of the pool plays the role of their metadata
  file, so nothing concatenates the pool at 128M rows and every chunk is one job (GPU when present).
  A chunk smaller than B is one batch (fewer negatives: at the tiny scale the config sets B). At
  medium a chunk is 1M rows (31 batches of about 32,258) and the job holds its image and text
  embeddings, 4 GB at d = 512; at xlarge (25M-row chunks, L/14) that is 150 GB, so there the chunks
  must be made smaller (``scale.chunk_shards``) before this score runs.
* **Equal-size batches.** Their last batch of a file is smaller, which lowers R1 + R2 (fewer
  terms in the log-sum-exp) and inflates those samples' scores; here each batching splits the chunk
  into ceil(n / B) batches whose sizes differ by at most one (``numpy.array_split`` of a permutation).
* **Seeded.** Permutation k of a chunk is drawn from ``numpy.random.default_rng([seed, h, k])`` with
  ``h`` a CRC32 of the chunk's first and last uid and its length: reruns give the same scores and
  chunks get different batchings.
* **Blocked.** S is computed a block of ``block_rows`` rows at a time (B × B floats would be 4 GB at
  B = 32768); the column log-sum-exp is accumulated across blocks with ``logaddexp``. float32 on
  the device, float64 accumulation of the K averages.
"""

from __future__ import annotations

import math
import zlib

import numpy as np

from clipcurate.scores import register
from clipcurate.scores.inputs import Embeddings
from clipcurate.scores.stages import Resources

DEFAULTS = {"batch_size": 32768, "permutations": 10, "temperature": 0.01, "seed": 0, "block_rows": 4096,
            "device": "auto"}


def _check(entry, config, key):
    p = entry.get("params") or {}
    for name in ("batch_size", "permutations", "block_rows"):
        if name in p and (not isinstance(p[name], int) or isinstance(p[name], bool) or p[name] < 1):
            raise ValueError(f"config: {key}.params.{name}: expected a positive integer, got {p[name]!r}")
    if "batch_size" in p and p["batch_size"] < 2:
        raise ValueError(f"config: {key}.params.batch_size: a batch needs at least 2 pairs, got {p['batch_size']!r}")
    t = p.get("temperature", DEFAULTS["temperature"])
    if not isinstance(t, (int, float)) or isinstance(t, bool) or not t > 0:
        raise ValueError(f"config: {key}.params.temperature: expected a positive number, got {t!r}")
    if p.get("device", "auto") not in ("auto", "cpu", "cuda"):
        raise ValueError(f"config: {key}.params.device: expected auto, cpu or cuda, got {p.get('device')!r}")


def _device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def batch_terms(f, g, temperature: float, block_rows: int = 4096):
    """diag, R1 and R2 (torch float32 vectors) of one batch: image rows ``f`` and text rows ``g``
    (torch tensors, (b, d), L2-normalised), S computed ``block_rows`` rows at a time.

    Both log-sum-exps come from one exponential of each block: with c a bound on |S_ij| / τ (the
    largest norms' product over τ; 1/τ for unit vectors), exp(S/τ − c) lies in [e^{-2c}, 1], which
    float64 holds without underflow while 2c < 700 (τ ≥ 0.003 for unit vectors); its row sums give
    R1 and its column sums, accumulated over blocks, R2. Otherwise each is a torch.logsumexp."""
    import torch

    b = f.shape[0]
    inv_t = 1.0 / float(temperature)
    diag = (f * g).sum(dim=1)
    half_t = 0.5 * float(temperature)
    c = float(f.norm(dim=1).max() * g.norm(dim=1).max()) * inv_t
    if 2 * c < 700:
        r1 = torch.empty(b, dtype=torch.float64, device=f.device)
        col = torch.zeros(b, dtype=torch.float64, device=f.device)
        for lo in range(0, b, block_rows):
            e = torch.exp((f[lo:lo + block_rows] @ g.T).double() * inv_t - c)
            r1[lo:lo + block_rows] = e.sum(dim=1)
            col += e.sum(dim=0)
        return diag, (half_t * (torch.log(r1) + c)).float(), (half_t * (torch.log(col) + c)).float()
    r1 = torch.empty(b, dtype=f.dtype, device=f.device)
    col = torch.full((b,), -math.inf, dtype=f.dtype, device=f.device)
    for lo in range(0, b, block_rows):
        s = (f[lo:lo + block_rows] @ g.T) * inv_t
        r1[lo:lo + block_rows] = torch.logsumexp(s, dim=1)
        col = torch.logaddexp(col, torch.logsumexp(s, dim=0))
    return diag, half_t * r1, half_t * col


def as_tensor(x: np.ndarray, device):
    """A float32 torch view of ``x`` on ``device``, without copying a read-only array on the CPU (the
    embedding readers' arrays are read-only views of Arrow buffers; nothing here writes to them)."""
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(np.ascontiguousarray(x, np.float32)).to(device)


def chunk_seed(uids) -> int:
    """A stable per-chunk number from its uids (first, last, count)."""
    if len(uids) == 0:
        return 0
    first, last = uids[0], uids[len(uids) - 1]
    first = first.as_py() if hasattr(first, "as_py") else first
    last = last.as_py() if hasattr(last, "as_py") else last
    return zlib.crc32(f"{first}|{last}|{len(uids)}".encode())


def negclip_loss(image: np.ndarray, text: np.ndarray, *, batch_size: int, permutations: int, temperature: float,
                 seed, block_rows: int = 4096, device: str = "auto") -> np.ndarray:
    """s-CLIPLoss of every row: mean over ``permutations`` random equal-size batchings of
    diag − R1 − R2 (module docstring). ``seed`` is an int or a sequence of ints (numpy SeedSequence)."""
    import torch

    n = len(image)
    if len(text) != n:
        raise ValueError(f"s-CLIPLoss: {n} image rows but {len(text)} text rows")
    if n == 0:
        return np.zeros(0, np.float32)
    dev = _device(device)
    f_all, g_all = as_tensor(image, dev), as_tensor(text, dev)
    total = np.zeros(n, np.float64)
    n_batches = max(1, math.ceil(n / int(batch_size)))
    base = [int(s) for s in (seed if isinstance(seed, (list, tuple)) else [seed])]
    with torch.no_grad():
        for k in range(int(permutations)):
            perm = np.random.default_rng([*base, k]).permutation(n)
            for idx in np.array_split(perm, n_batches):
                t_idx = torch.from_numpy(idx).to(dev)
                diag, r1, r2 = batch_terms(f_all[t_idx], g_all[t_idx], temperature, block_rows)
                total[idx] += (diag - r1 - r2).double().cpu().numpy()
    return (total / int(permutations)).astype(np.float32)


@register(
    "sclip_loss",
    level="chunk",
    inputs={"emb": Embeddings(model_key="model", variant="plain")},
    outputs=("score",),
    defaults=DEFAULTS,
    check=_check,
    resources={"apply": Resources(mem_mb=16000, runtime=120, threads=2)},
)
def sclip_loss(params: dict, emb: dict) -> dict[str, np.ndarray]:
    """s-CLIPLoss of each pair of one chunk, batches drawn within the chunk (module docstring)."""
    score = negclip_loss(
        emb["image"], emb["text"], batch_size=int(params["batch_size"]), permutations=int(params["permutations"]),
        temperature=float(params["temperature"]), seed=[int(params["seed"]), chunk_seed(emb["uid"])],
        block_rows=int(params["block_rows"]), device=str(params["device"]),
    )
    return {"score": score}
