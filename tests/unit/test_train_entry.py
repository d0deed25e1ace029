"""open_clip_train's sample shuffle, seeded by clipcurate.train_entry."""

import webdataset as wds

from clipcurate import train_entry


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
