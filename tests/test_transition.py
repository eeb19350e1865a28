"""The personality-conditioned emotion transition: hand-computed steps, behaviour, bad input."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from agent.emotions import EKMAN7
from agent.protocols import EmotionTransition
from agent.records import VAD, EmotionReading, Traits, Utterance
from agent.transition import (RuleBasedTransition, TrainedTransition, load_transition,
                              supportive_label, temperament)
from agent.transition.model import ARTEFACT_DIR
from agent.transition.peld import read_peld
from agent.transition.reading import safe_prev
from agent.transition.temperament import as_traits

CALM = Traits(agreeableness=0.9, neuroticism=0.1)
NEUROTIC = Traits(agreeableness=0.3, neuroticism=0.9)


def reading(label: str) -> EmotionReading:
    return EmotionReading(label=label, confidence=1.0)


# -- temperament -------------------------------------------------------------------------------

def test_temperament_hand_checked():
    # Centred traits are all 0 except N = +1, so stability S = -1:
    # P = 0.19 * -1, A = -0.57 * -1, D = 0.
    assert temperament(Traits(neuroticism=1.0)) == pytest.approx((-0.19, 0.57, 0.0))
    # O = C = E = A = +1, S = +1: P = .21+.59+.19, A = .15+.30-.57, D = .25+.17+.60-.32.
    assert temperament(Traits(1, 1, 1, 1, 0)) == pytest.approx((0.99, -0.12, 0.70))
    assert temperament(Traits()) == (0.0, 0.0, 0.0)


# -- rule-based transition -----------------------------------------------------------------------

def test_rules_one_step_by_hand():
    # Calm agreeable (A = 0.9, N = 0.1); baseline = temperament = (0.624, -0.216, -0.256).
    # contagion c = 0.35 + 0.25*0.4 + 0.45*(-0.4) = 0.27; gain P = (0.27, 0.27*0.6, 0.135).
    # user "sad" = (-0.63, -0.27, -0.33), prev = 0, so dE = (-0.63, -0.27, -0.33) and
    # E' = (-0.1701, -0.04374, -0.04455); recovery r = 0.1 + 0.3*0.9 = 0.37;
    # E = E' + 0.37 (baseline - E').
    rules = RuleBasedTransition()
    out = rules.read(VAD(), CALM, [Utterance("user", "x")], user_emotion=reading("sad"))
    assert out.gain == pytest.approx((0.27, 0.162, 0.135))
    assert out.delta == pytest.approx((-0.63, -0.27, -0.33))
    assert out.vad.as_tuple() == pytest.approx((0.123717, -0.1074762, -0.1227865), abs=1e-6)
    assert out.label == "neutral" and out.source == "rules"


def test_rules_without_user_emotion_relax_towards_baseline():
    rules = RuleBasedTransition()
    base = rules.baseline(NEUROTIC)
    vad, _ = rules.step(VAD(-0.8, 0.9, -0.5), NEUROTIC, [Utterance("user", "ok")])
    before = math.dist((-0.8, 0.9, -0.5), base.as_tuple())
    assert math.dist(vad.as_tuple(), base.as_tuple()) < before


def test_opposite_characters_diverge_in_the_expected_direction():
    """Same bad news, opposite traits: the neurotic one ends sadder and more aroused."""
    rules = RuleBasedTransition()
    news = ["afraid", "terrified", "devastated"]
    trajectories = {}
    for name, traits in (("calm", CALM), ("neurotic", NEUROTIC)):
        state, path = rules.baseline(traits), []
        for emotion in news:
            state, _ = rules.step(state, traits, [Utterance("user", "bad news")], user_emotion=reading(emotion))
            path.append(state)
        trajectories[name] = path
    for calm, neurotic in zip(trajectories["calm"], trajectories["neurotic"]):
        assert neurotic.valence < calm.valence - 0.1
        assert neurotic.arousal > calm.arousal + 0.1
    # The neurotic character's arousal rises further above its own baseline (at its peak).
    rise = lambda t, p: max(s.arousal for s in p) - rules.baseline(t).arousal  # noqa: E731
    assert rise(NEUROTIC, trajectories["neurotic"]) > rise(CALM, trajectories["calm"])


def test_trained_model_opposite_characters_diverge_in_the_expected_direction():
    """The default (trained) model on a real conversation with the shipped MiniLM: the neurotic
    character stays sadder and more aroused than the calm one at every turn, and neither state
    leaves the VAD cube."""
    model = load_transition("trained")
    lines = ["I lost my job today.", "I'm scared I won't be able to pay the rent.",
             "My partner left last month too. I feel like everything is falling apart."]
    trajectories = {}
    for name, traits in (("calm", CALM), ("neurotic", NEUROTIC)):
        state, dialogue, path = model.baseline(traits), [], []
        for text, emotion in zip(lines, ["sad", "afraid", "devastated"]):
            dialogue.append(Utterance("user", text))
            state, _ = model.step(state, traits, dialogue, user_emotion=reading(emotion))
            path.append(state)
            dialogue.append(Utterance("assistant", "I'm here with you."))
        trajectories[name] = path
    for calm, neurotic in zip(trajectories["calm"], trajectories["neurotic"]):
        assert neurotic.valence < calm.valence - 0.1
        assert neurotic.arousal > calm.arousal + 0.1
        assert all(-1.0 <= v <= 1.0 for v in (*calm.as_tuple(), *neurotic.as_tuple()))


def test_reply_label_stays_supportive():
    rules = RuleBasedTransition()
    state = VAD()
    for _ in range(6):  # an angry user drags an agreeable-neurotic character towards anger
        out = rules.read(state, Traits(agreeableness=1.0, neuroticism=1.0), [Utterance("user", "x")],
                         user_emotion=reading("furious"))
        state = out.vad
    assert out.label == "anger"
    assert out.reply_label == "sadness"
    assert supportive_label("disgust") == "sadness" and supportive_label("joy") == "joy"


# -- trained model, with hand-set weights -----------------------------------------------------------

def tiny_weights() -> dict[str, np.ndarray]:
    """2-d utterance vectors; dE reads u2[0]; P = (1, 0.5 + t_arousal, 1); head = -distance."""
    head_w = np.zeros((19, 7), dtype=np.float32)
    head_w[12:19, :] = np.eye(7)  # logits = -squared distance to each Ekman point
    gain_w = np.zeros((3, 3), dtype=np.float32)
    gain_w[1, 1] = 1.0
    return {"text.w1": np.array([[0, 0], [0, 0], [1, 0], [0, 1]], dtype=np.float32),
            "text.b1": np.zeros(2, np.float32),
            "text.w2": np.array([[-1, 1, 0], [0, 0, 0]], dtype=np.float32),
            "text.b2": np.zeros(3, np.float32),
            "gain.w": gain_w, "gain.b": np.array([1.0, 0.5, 1.0], np.float32),
            "head.w": head_w, "head.b": np.zeros(7, np.float32)}


def test_trained_step_by_hand():
    # u1 = 0 (first turn), u2 = (0.5, 0): h = relu(0.5, 0); z = (-0.5, 0.5, 0);
    # dE = 2 tanh(z) = (-0.924234, 0.924234, 0). N = 1 gives t = (-0.19, 0.57, 0), so
    # P = (1, 0.5 + 0.57, 1) = (1, 1.07, 1). E = (0.1, 0.2, 0) + dE * P
    #   = (-0.824234, 1.188931 -> clipped 1.0, 0). Nearest Ekman point: fear (d^2 0.259 vs anger 0.329).
    model = TrainedTransition(tiny_weights())
    enc = SimpleNamespace(utterances=np.array([[0.5, 0.0]], dtype=np.float32))
    out = model.read(VAD(0.1, 0.2, 0.0), Traits(neuroticism=1.0), [Utterance("user", "x")], encoding=enc)
    assert out.delta == pytest.approx((-0.924234, 0.924234, 0.0), abs=1e-5)
    assert out.gain == pytest.approx((1.0, 1.07, 1.0), abs=1e-6)
    assert out.vad.as_tuple() == pytest.approx((-0.824234, 1.0, 0.0), abs=1e-5)
    assert out.label == "fear" and out.reply_label == "fear" and out.source == "trained"
    assert sum(p for _, p in out.probabilities) == pytest.approx(1.0, abs=1e-3)


def test_trained_uses_previous_reply_as_u1_and_embeds_without_encoding():
    class FakeEmbedder:
        def __init__(self):
            self.calls = []

        def encode(self, texts):
            self.calls.append(list(texts))
            return np.array([[0.0, 0.0] if t == "me" else [0.5, 0.0] for t in texts], np.float32)

    embedder = FakeEmbedder()
    model = TrainedTransition(tiny_weights(), embedder=embedder)
    dialogue = [Utterance("user", "hi"), Utterance("assistant", "me"), Utterance("user", "you")]
    out = model.read(VAD(0.1, 0.2, 0.0), Traits(neuroticism=1.0), dialogue)
    assert embedder.calls == [["me", "you"]]
    assert out.vad.valence == pytest.approx(-0.824234, abs=1e-5)


def test_nan_from_the_model_falls_back_to_rules():
    weights = tiny_weights()
    weights["text.b2"] = np.array([np.nan, 0, 0], np.float32)
    model = TrainedTransition(weights)
    enc = SimpleNamespace(utterances=np.array([[0.5, 0.0]], dtype=np.float32))
    out = model.read(VAD(), CALM, [Utterance("user", "x")], encoding=enc, user_emotion=reading("sad"))
    assert out.source == "rules"
    assert all(math.isfinite(x) and -1 <= x <= 1 for x in out.vad.as_tuple())


def test_nan_or_out_of_range_state_is_never_propagated():
    base = VAD(0.2, -0.1, 0.0)
    assert safe_prev(VAD(math.nan, 0.0, 0.0), base) == base
    assert safe_prev(VAD(3.0, -3.0, 0.5), base) == VAD(1.0, -1.0, 0.5)
    rules = RuleBasedTransition()
    vad, _ = rules.step(VAD(math.inf, 0, 0), CALM, [Utterance("user", "x")], user_emotion=reading("joyful"))
    assert all(math.isfinite(x) and -1 <= x <= 1 for x in vad.as_tuple())


# -- bad input -----------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [{"neuroticism": 1.2}, {"openness": -0.1}, {"openness": None},
                                    {"agreeableness": math.nan}, {"extraversion": "high"}])
def test_traits_out_of_range_or_missing_raise(kwargs):
    with pytest.raises(ValueError):
        Traits(**kwargs)


def test_as_traits_rejects_missing_or_unknown_names():
    with pytest.raises(ValueError, match="missing"):
        as_traits({"openness": 0.5})
    with pytest.raises(ValueError):
        as_traits([0.5] * 4)
    with pytest.raises(ValueError):
        as_traits("calm")
    with pytest.raises(ValueError):
        RuleBasedTransition().step(VAD(), {"openness": 2.0, "conscientiousness": 0.5, "extraversion": 0.5,
                                           "agreeableness": 0.5, "neuroticism": 0.5}, [Utterance("user", "x")])
    assert as_traits([0.1, 0.2, 0.3, 0.4, 0.5]).neuroticism == 0.5


def test_unknown_emotion_labels_raise():
    with pytest.raises(ValueError, match="unknown emotion label"):
        RuleBasedTransition().step(VAD(), CALM, [Utterance("user", "x")], user_emotion=reading("grumpy"))
    with pytest.raises(ValueError):
        supportive_label("sad")  # not an Ekman-7 label
    with pytest.raises(ValueError):
        load_transition("neural")


def test_trained_step_needs_a_dialogue():
    with pytest.raises(ValueError):
        TrainedTransition(tiny_weights()).step(VAD(), CALM, [])


def test_peld_reader_on_a_fixture(tmp_path):
    folder = tmp_path / "peld"
    folder.mkdir()
    header = ("Speaker_1\tSpeaker_2\tPersonality\tUtterance_1\tUtterance_2\tUtterance_3\t"
              "Emotion_1\tEmotion_2\tEmotion_3\tSentiment_1\tSentiment_2\tSentiment_3\n")
    row = 'Ross\tRachel\t[0.7, 0.4, 0.5, 0.6, 0.5]\t"""Hi,"" he said."\tHey.\tBye!\tjoy\tneutral\tsadness\tp\tn\tn\n'
    (folder / "Dyadic_PELD_test.tsv").write_text(header + row, encoding="utf-8")
    rows = read_peld(tmp_path, "test")
    assert rows[0].utterances[0] == '"Hi," he said.'
    assert rows[0].emotions == ("joy", "neutral", "sadness")
    (folder / "Dyadic_PELD_test.tsv").write_text(header + row.replace("sadness", "grief"), encoding="utf-8")
    with pytest.raises(ValueError, match="unknown emotion"):
        read_peld(tmp_path, "test")
    with pytest.raises(FileNotFoundError):
        read_peld(tmp_path, "valid")


# -- the committed artefact ---------------------------------------------------------------------------

def test_both_kinds_implement_the_protocol():
    assert isinstance(load_transition("rules"), EmotionTransition)
    if (ARTEFACT_DIR / "transition.npz").exists():
        assert isinstance(load_transition("trained"), EmotionTransition)


def test_artefact_metrics_beat_the_baselines():
    path = ARTEFACT_DIR / "metrics.json"
    if not path.exists():
        pytest.skip("no trained artefact yet (python -m agent.transition --train)")
    metrics = json.loads(path.read_text())
    assert {"seed", "command", "valid", "config"} <= set(metrics)
    assert metrics["valid"]["macro_f1"] > metrics["baselines_valid"]["previous_emotion"]["macro_f1"]
    assert metrics["valid"]["macro_f1"] > metrics["baselines_valid"]["text_only"]["macro_f1"]
    model = load_transition("trained")
    assert model.net.text_dim == 384
    assert (ARTEFACT_DIR / "transition.npz").stat().st_size < 1_000_000


def test_peld_valid_split_reads(data_dir):
    rows = read_peld(data_dir, "valid")
    assert len(rows) == 650
    assert all(r.emotions[2] in EKMAN7 for r in rows)
