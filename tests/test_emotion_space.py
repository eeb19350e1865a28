"""The VAD table and the label <-> point conversions."""

from __future__ import annotations

import math

import pytest

from agent.emotion_space import (VAD_SOURCE, VAD_TABLE, clamp_vad, expected_vad, nearest_label,
                                 vad_of)
from agent.emotions import ED32, ED32_TO_EKMAN, EKMAN7, ESCONV_EMOTIONS

PELD_POINTS = {  # methods.md section 6
    "anger": (-0.51, 0.59, 0.25), "disgust": (-0.60, 0.35, 0.11), "fear": (-0.62, 0.82, -0.43),
    "joy": (0.81, 0.51, 0.46), "neutral": (0, 0, 0), "sadness": (-0.63, -0.27, -0.33),
    "surprise": (0.40, 0.67, -0.13),
}


def test_every_project_label_has_a_sourced_point_in_range():
    for label in (*ED32, *EKMAN7, *ESCONV_EMOTIONS):
        point = vad_of(label)
        assert len(point) == 3 and all(-1.0 <= x <= 1.0 for x in point)
        assert VAD_SOURCE[label]
    assert set(VAD_TABLE) == set(ED32) | set(EKMAN7) | set(ESCONV_EMOTIONS)


def test_ekman_points_are_pelds():
    for label, point in PELD_POINTS.items():
        assert vad_of(label) == pytest.approx(point)


def test_published_and_derived_values():
    assert vad_of("afraid") == (-0.64, 0.60, -0.43)  # R&M 1977 "fearful"
    assert VAD_SOURCE["afraid"] == "R&M 1977: fearful"
    assert vad_of("proud") == (0.4, 0.3, 0.3)  # ALMA "pride"
    # Derived by hand: 1.25 x R&M angry (-0.51, 0.59, 0.25).
    assert vad_of("furious") == pytest.approx((-0.6375, 0.7375, 0.3125))
    # Midpoint of R&M shy (-0.15, 0.06, -0.34) and humiliated (-0.63, 0.43, -0.38).
    assert vad_of("embarrassed") == pytest.approx((-0.39, 0.245, -0.36))
    assert VAD_SOURCE["embarrassed"].startswith("derived")


def test_valence_sign_agrees_with_the_coarse_family():
    # nostalgic is placed at the bittersweet midpoint of sad and happy, so it is exempt.
    for label, family in ED32_TO_EKMAN.items():
        if label == "nostalgic" or family in ("neutral", "surprise"):
            continue
        v = vad_of(label)[0]
        assert (v > 0) == (family == "joy"), label


def test_label_lookup_is_case_insensitive_and_strict():
    assert vad_of(" Sad ") == vad_of("sad")
    for bad in ("happyish", "", "joy!"):
        with pytest.raises(ValueError, match="unknown emotion label"):
            vad_of(bad)
    with pytest.raises(ValueError):
        vad_of(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("labels", [EKMAN7, ED32])
def test_each_point_is_nearest_to_its_own_label(labels):
    for label in labels:
        assert nearest_label(vad_of(label), labels) == label


def test_nearest_label_hand_checked():
    # (0.3, 0.6, -0.1): surprise at distance sqrt(0.01+0.0049+0.0009)=0.126, joy much further.
    assert nearest_label((0.3, 0.6, -0.1), EKMAN7) == "surprise"
    assert nearest_label((0.05, -0.02, 0.0)) == "neutral"
    with pytest.raises(ValueError):
        nearest_label((math.nan, 0.0, 0.0))
    with pytest.raises(ValueError):
        nearest_label((0.0, 0.0, 0.0), ["joy", "bogus"])


def test_expected_vad_hand_checked():
    # 0.75 * sad (-0.63, -0.27, -0.33) + 0.25 * joy (0.81, 0.51, 0.46)
    assert expected_vad([("sadness", 0.75), ("joy", 0.25)]) == pytest.approx((-0.27, -0.075, -0.1325))
    # weights are renormalised
    assert expected_vad([("sadness", 3), ("joy", 1)]) == pytest.approx((-0.27, -0.075, -0.1325))
    for bad in ([], [("joy", 0.0)], [("joy", -1.0)], [("joy", math.nan)], [("nope", 1.0)]):
        with pytest.raises(ValueError):
            expected_vad(bad)


def test_clamp():
    assert clamp_vad((1.5, -2, 0.3)) == (1.0, -1.0, 0.3)
    with pytest.raises(ValueError):
        clamp_vad((math.inf, 0, 0))
