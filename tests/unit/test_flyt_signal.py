"""clipcurate.train.flyt.signal: the downstream-signal check on hand-computed loss histories."""

import math

import pytest

from clipcurate.train.flyt.signal import downstream_signal, signal_message

LN10 = math.log(10)


def test_a_loss_below_chance_that_falls_is_above_chance_and_moved():
    # 10 steps: the first and last fifth are 3 steps each (min_steps); by hand:
    # start = mean(2.28, 2.29, 2.27) = 2.28, sd 0.01, se 0.01/sqrt(3) = 0.005774
    # end = mean(2.25, 2.26, 2.24) = 2.25, same se; difference 0.03 > 2 * hypot(se, se) = 0.01633
    losses = [2.28, 2.29, 2.27, 2.27, 2.26, 2.26, 2.25, 2.25, 2.26, 2.24]
    sig = downstream_signal(losses, classes=10)
    assert sig["steps_each"] == 3
    assert sig["start"] == pytest.approx(2.28) and sig["end"] == pytest.approx(2.25)
    assert sig["start_se"] == pytest.approx(0.01 / math.sqrt(3))
    assert sig["chance"] == pytest.approx(LN10)
    assert sig["above_chance"] is True and sig["moved"] is True
    assert signal_message(sig) is None


def test_a_loss_at_chance_warns_and_names_the_numbers():
    # start = mean(2.305, 2.300, 2.310) = 2.305 > ln 10 = 2.3026: not above chance
    losses = [2.305, 2.300, 2.310, 2.301, 2.303, 2.300, 2.302, 2.301, 2.300, 2.299]
    sig = downstream_signal(losses, classes=10)
    assert sig["above_chance"] is False
    # end = mean(2.301, 2.300, 2.299) = 2.300; 0.005 < 2 * hypot(0.002887, 0.000577): not moved
    assert sig["moved"] is False
    msg = signal_message(sig)
    assert "2.3050" in msg and "2.3026" in msg and "first 3 steps" in msg


def test_just_inside_and_just_outside_z_standard_errors_of_chance():
    # three equal-spaced values around m have sd 0.01, se 0.005774; 2 se = 0.011547
    for gap, expected in ((0.0120, True), (0.0110, False)):
        m = LN10 - gap
        sig = downstream_signal([m - 0.01, m, m + 0.01] * 2, classes=10)
        assert sig["steps_each"] == 3 and sig["above_chance"] is expected


def test_the_fifth_grows_with_the_run_and_nans_are_dropped():
    losses = [2.0] * 50 + [float("nan")] * 5 + [1.0] * 50   # 100 finite losses: fifths of 20 steps
    sig = downstream_signal(losses, classes=10)
    assert sig["steps_each"] == 20 and sig["start"] == 2.0 and sig["end"] == 1.0
    assert sig["above_chance"] is True and sig["moved"] is True


def test_the_clip_loss_is_not_judged_against_chance():
    sig = downstream_signal([3.0, 3.1, 2.9, 2.5, 2.4, 2.6], classes=10, kind="clip")
    assert sig["chance"] is None and sig["above_chance"] is None and sig["over_confident"] is None
    assert sig["moved"] is True and signal_message(sig) is None


def test_a_learned_temperature_starting_above_chance_is_over_confident_and_warns():
    # start = mean(3.0, 3.1, 2.9) = 3.0, se = 0.1 / sqrt(3) = 0.0577; 3.0 - ln 10 = 0.697 > 2 se
    sig = downstream_signal([3.0, 3.1, 2.9, 2.5, 2.4, 2.6], classes=10, kind="ce_temperature")
    assert sig["chance"] == pytest.approx(LN10)
    assert sig["over_confident"] is True and sig["above_chance"] is None and sig["moved"] is True
    msg = signal_message(sig)
    assert "over-confident" in msg and "3.0000" in msg and "2.3026" in msg


@pytest.mark.parametrize(("gap", "expected"), [(0.0120, True), (0.0110, False), (-0.5, False)])
def test_over_confidence_just_inside_and_just_outside_z_standard_errors(gap, expected):
    # three equal-spaced values around m have sd 0.01, se 0.005774; 2 se = 0.011547
    m = LN10 + gap
    sig = downstream_signal([m - 0.01, m, m + 0.01] * 2, classes=10, kind="ce_temperature")
    assert sig["over_confident"] is expected
    assert (signal_message(sig) is not None) is expected


def test_plain_ce_is_never_called_over_confident():
    sig = downstream_signal([3.0, 3.1, 2.9, 2.5, 2.4, 2.6], classes=10, kind="ce")
    assert sig["over_confident"] is None and sig["above_chance"] is False


def test_one_class_has_no_chance_level_to_judge_against():
    for kind in ("ce", "ce_temperature"):
        sig = downstream_signal([0.1, 0.2, 0.1, 0.0, 0.1, 0.0], classes=1, kind=kind)
        assert sig["chance"] is None and sig["above_chance"] is None and sig["over_confident"] is None


def test_short_runs_are_not_judged():
    short = downstream_signal([2.4, 2.3, 2.2, 2.1, 2.0], classes=10)
    assert short["steps_each"] == 0 and short["above_chance"] is None and short["moved"] is None
