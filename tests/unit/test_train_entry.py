"""open_clip_train's sample shuffle, seeded by clipcurate.train.entry, and its fused CPU AdamW."""

import torch
import webdataset as wds

from clipcurate.train import entry as train_entry


def _order():
    return list(wds.shuffle(bufsize=50, initial=20)(iter(range(200))))


def test_seeded_shuffle_repeats_its_order(monkeypatch):
    monkeypatch.setattr(wds, "shuffle", wds.shuffle)  # the patch is undone after the test
    train_entry.seed_sample_shuffle(7)
    a, b = _order(), _order()
    assert a == b and sorted(a) == list(range(200)) and a != list(range(200))


def test_different_seeds_give_different_orders(monkeypatch):
    original = wds.shuffle
    monkeypatch.setattr(wds, "shuffle", original)
    train_entry.seed_sample_shuffle(1)
    one = _order()
    monkeypatch.setattr(wds, "shuffle", original)
    train_entry.seed_sample_shuffle(2)
    assert _order() != one


def test_seed_comes_from_the_training_command_line():
    assert train_entry._seed_from_argv(["--lr", "1", "--seed", "42"]) == 42
    assert train_entry._seed_from_argv(["--lr", "1"]) == 0


def test_fused_cpu_adamw_gives_the_per_tensor_update(monkeypatch):
    monkeypatch.setattr(torch.optim, "AdamW", torch.optim.AdamW)
    reference = torch.optim.AdamW
    train_entry.fuse_cpu_adamw()
    assert torch.optim.AdamW is not reference
    torch.manual_seed(0)
    start = [torch.randn(300, 8), torch.randn(8)]
    grads = [[torch.randn_like(p) for p in start] for _ in range(5)]
    results = []
    for cls in (reference, torch.optim.AdamW):
        params = [p.clone().requires_grad_(True) for p in start]
        opt = cls([{"params": params[:1], "weight_decay": 0.2}, {"params": params[1:], "weight_decay": 0.0}],
                  lr=1e-2, betas=(0.9, 0.98), eps=1e-6)
        for g in grads:
            for p, gi in zip(params, g):
                p.grad = gi.clone()
            opt.step()
        results.append((opt.defaults.get("fused"), [p.detach() for p in params]))
    (fused_ref, ref), (fused, new) = results
    assert not fused_ref and fused
    # float32, 5 steps of O(1) random gradients: fused and per-tensor kernels differ in operation order
    # only (~1e-7 relative per step) and Adam's m / sqrt(r) is well conditioned away from g = 0, so the
    # parameters (O(1), moved by ~5e-2) agree to ~1e-6 relative on any machine.
    for a, b in zip(ref, new):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
        assert not torch.equal(a, start[0] if a.shape == start[0].shape else start[1])  # the step moved them


def test_device_comes_from_the_training_command_line():
    assert train_entry._device_from_argv(["--device", "cpu", "--seed", "1"]) == "cpu"
    assert train_entry._device_from_argv(["--seed", "1"]) is None
