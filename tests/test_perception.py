"""Tests for perception: ED/RECCON loaders, the emotion detector and the cause finder.

Most tests use tiny fixtures and randomly initialised artefacts written to a temporary folder,
so they run in seconds; those marked with ``data_dir`` read the real data sets.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from agent.emotions import ED32
from agent.perception.cause import (CAUSE_EMOTIONS, HASH_DIM, LinearCauseFinder, cause_emotion, clauses,
                                    pair_features)
from agent.perception.data import ed_samples, load_ed, load_reccon, normalise_reccon_emotion, reccon_pairs
from agent.perception.detector import ArtefactError, load_detector, reading_from_probs
from agent.perception.upper import MAX_CONTEXT_TOKENS, assemble
from agent.records import EmotionReading, Utterance

# --- data loaders ---------------------------------------------------------------------------------

ED_CSV = """conv_id,utterance_idx,context,prompt,speaker_idx,utterance,selfeval,tags
hit:1_conv:1,1,afraid,My car caught fire,1,My car caught fire_comma_ on the highway!,,
hit:1_conv:1,2,afraid,My car caught fire,2,Oh no_comma_ are you ok?,,
hit:1_conv:1,3,afraid,My car caught fire,1,Yes_comma_ I got out in time.,,
hit:1_conv:1,4,afraid,My car caught fire,2,Thank goodness.,,
hit:2_conv:2,1,proud,My son graduated,1,My son graduated today.,,
hit:2_conv:2,2,proud,My son graduated,2,Congratulations!,,
"""


def test_ed_loader_and_samples(tmp_path):
    folder = tmp_path / "empathetic_dialogues"
    folder.mkdir()
    (folder / "valid.csv").write_text(ED_CSV)
    convs = load_ed(tmp_path, "valid")
    assert [c.emotion for c in convs] == ["afraid", "proud"]
    assert convs[0].utterances[0] == "My car caught fire, on the highway!"  # _comma_ restored
    assert [c.situation for c in convs] == ["My car caught fire", "My son graduated"]
    samples = ed_samples(convs)
    assert all("My son graduated" not in s.context for s in samples)  # the situation is no input
    # One sample per listener response: contexts of 1 and 3 turns for conv 1, 1 turn for conv 2.
    assert [len(s.context) for s in samples] == [1, 3, 1]
    assert samples[1].context[-1] == "Yes, I got out in time."
    assert all("caught fire" not in s.context[0] or s.label == "afraid" for s in samples)
    with pytest.raises(FileNotFoundError, match="test"):
        load_ed(tmp_path, "test")


def test_reccon_pairs_follow_the_paper(tmp_path):
    folder = tmp_path / "reccon" / "original_annotation"
    folder.mkdir(parents=True)
    dialogue = [[
        {"turn": 1, "speaker": "A", "utterance": "I won the lottery !", "emotion": "happines",
         "expanded emotion cause evidence": [1], "expanded emotion cause span": ["I won the lottery"]},
        {"turn": 2, "speaker": "B", "utterance": "Really ?", "emotion": "neutral"},
        {"turn": 3, "speaker": "B", "utterance": "Wow , great !", "emotion": "happiness",
         "expanded emotion cause evidence": [1, "b"], "expanded emotion cause span": ["I won the lottery"]},
    ]]
    (folder / "dailydialog_valid.json").write_text(json.dumps({"va_1": dialogue}))
    (d,) = load_reccon(tmp_path, "valid")
    assert d.utterances[0].emotion == "happiness"  # typo normalised
    pairs = reccon_pairs([d])
    # target 0: candidate 0; target 2: candidates 0, 1, 2 (the neutral turn is no target).
    assert [(p.target, p.candidate, p.label) for p in pairs] == [(0, 0, 1), (2, 0, 1), (2, 1, 0), (2, 2, 0)]
    with pytest.raises(ValueError, match="unknown RECCON emotion"):
        normalise_reccon_emotion("bored")


def test_derived_valid_pairs_match_the_released_csv(data_dir):
    import re

    from agent.perception.data import load_cee_csv

    pairs = reccon_pairs(load_reccon(data_dir, "valid"))
    mine = {(f"dailydialog_{p.dialogue_id}", p.target + 1, p.candidate + 1): p.label for p in pairs}
    rows = load_cee_csv(data_dir / "reccon/subtask2/fold1/dailydialog_classification_valid_with_context.csv")
    theirs = {}
    for row_id, label in rows:
        m = re.match(r"(dailydialog_\w\w_\d+)_utt_(\d+)_\w+?_cause_utt_(\d+)", row_id)
        theirs[(m[1], int(m[2]), int(m[3]))] = label
    assert mine == theirs


# --- detector -------------------------------------------------------------------------------------


def test_reading_from_probs_hand_checked():
    probs = np.zeros(len(ED32))
    probs[ED32.index("sad")] = 0.5
    probs[ED32.index("lonely")] = 0.3
    probs[ED32.index("joyful")] = 0.2
    reading = reading_from_probs(probs, top_k=2)
    assert reading.label == "sad" and reading.coarse == "sadness"
    assert reading.top_k == (("sad", 0.5), ("lonely", 0.3))
    # valence = 0.5 * -0.8 + 0.3 * -0.7 + 0.2 * 0.9 = -0.43
    assert reading.valence == pytest.approx(-0.43)


def test_assemble_keeps_the_most_recent_tokens():
    states = [np.full((100, 384), 1.0), np.full((50, 384), 2.0), np.full((10, 384), 3.0)]
    h, role, turn = assemble(states, [0, 1, 0])
    assert len(h) == MAX_CONTEXT_TOKENS == 128
    # Last 128 of 160 tokens: 68 of the first turn, then all of turns 2 and 3.
    assert (h[:68, 0] == 1).all() and (h[68:118, 0] == 2).all() and (h[118:, 0] == 3).all()
    assert turn[0] == 2 and turn[-1] == 0 and role[70] == 1


@pytest.fixture(scope="module")
def random_detector_dir(tmp_path_factory):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    from agent.perception.upper import build_upper_head

    torch.manual_seed(0)
    module = build_upper_head(len(ED32))
    folder = tmp_path_factory.mktemp("detector")
    save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({"labels": list(ED32)}))
    return folder


def _fake_encoding(lengths, roles):
    rng = np.random.default_rng(0)
    return SimpleNamespace(extra={"lower": [rng.normal(size=(n, 384)).astype(np.float32) for n in lengths],
                                  "roles": roles})


def test_detector_reads_a_distribution(random_detector_dir):
    detector = load_detector(random_detector_dir)
    dialogue = [Utterance("user", "I failed my exam."), Utterance("assistant", "Oh no."),
                Utterance("user", "I studied so hard.")]
    enc = _fake_encoding([7, 4, 7], ["user", "assistant", "user"])
    probs = detector.probabilities(dialogue, encoding=enc)
    assert probs.shape == (32,) and probs.sum() == pytest.approx(1.0, abs=1e-5)
    reading = detector.detect(dialogue, encoding=enc, top_k=5)
    assert reading.label in ED32 and len(reading.top_k) == 5 and -1 <= reading.valence <= 1
    assert reading.top_k[0][0] == reading.label


def test_detector_bad_input(random_detector_dir):
    detector = load_detector(random_detector_dir)
    with pytest.raises(ValueError, match="empty"):
        detector.detect([Utterance("user", "   ")])
    with pytest.raises(ValueError, match="dialogue"):
        detector.detect([])


def test_detector_missing_or_corrupt_artefact(tmp_path):
    with pytest.raises(ArtefactError, match="train_detector"):
        load_detector(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"not a tensor file")
    (tmp_path / "config.json").write_text(json.dumps({"labels": list(ED32)}))
    with pytest.raises(ArtefactError, match=r"unreadable.*train_detector"):
        load_detector(tmp_path)


def test_real_encoder_handles_emoji_foreign_and_very_long_turns(random_detector_dir):
    from agent.perception.encoder import MAX_UTTERANCE_TOKENS, SplitTurnEncoder

    encoder = SplitTurnEncoder()
    detector = load_detector(random_detector_dir, encoder=encoder)
    long_turn = "blah " * 2000 + "and now I am terrified."
    for text in ["😭😭😭", "Je suis très triste aujourd'hui.", long_turn]:
        reading = detector.detect([Utterance("user", text)])
        assert reading.label in ED32
    states = encoder.encode_turn([Utterance("user", long_turn)]).extra["lower"][0]
    assert len(states) == MAX_UTTERANCE_TOKENS  # truncated, keeping the last tokens


# --- cause finder ---------------------------------------------------------------------------------


def test_clauses_hand_checked():
    assert clauses("I lost my job , and I am sad !") == ["I lost my job ,", "and I am sad !"]
    assert clauses("no punctuation here") == ["no punctuation here"]
    assert clauses("") == []


def test_cause_emotion_mapping():
    assert cause_emotion("devastated") == "sadness"
    assert cause_emotion("joyful") == "happiness"
    assert cause_emotion("prepared") == "happiness"  # neutral family: the commonest cause emotion
    assert cause_emotion("happines") == "happiness"


@pytest.fixture()
def hand_cause_dir(tmp_path):
    """A hand-built cause model: only 'distance 0' and 'distance 1' count (the RECCON prior)."""
    n = len(pair_features(["a", "b", "c"], ["user"] * 3, 2, 0, "sadness"))
    w = np.zeros(n, np.float32)
    w[0], w[1] = 4.0, 3.0  # distance one-hot: 0 (the target itself), 1 (the turn before)
    dense = np.zeros(9 + len(CAUSE_EMOTIONS), np.float32)
    dense[2] = 5.0  # prefer the last clause
    np.savez(tmp_path / "model.npz", pair_w=w, pair_b=np.float32(-2.0), pair_mean=np.zeros(n, np.float32),
             pair_scale=np.ones(n, np.float32), clause_dense=dense, clause_hash=np.zeros(HASH_DIM, np.float16),
             clause_b=np.float32(-2.5))
    (tmp_path / "config.json").write_text(json.dumps({"pair_threshold": 0.5, "clause_threshold": 0.5}))
    return tmp_path


def test_cause_finder_hand_checked(hand_cause_dir):
    finder = LinearCauseFinder(hand_cause_dir)
    dialogue = [Utterance("user", "Hi ."), Utterance("assistant", "How did it go ?"),
                Utterance("user", "Well , I failed the exam .")]
    reading = finder.find(dialogue, EmotionReading("sad", 0.9))
    # sigmoid(4 - 2) = 0.88 for the turn itself, sigmoid(3 - 2) = 0.73 for the one before, 0.12 for the first.
    assert reading.utterance_indices == (1, 2)
    assert reading.scores == pytest.approx((0.7311, 0.8808), abs=1e-3)
    # The clause model picks the last clause of a multi-clause utterance.
    assert reading.spans == ("How did it go ?", "I failed the exam .")
    with pytest.raises(ValueError, match="empty"):
        finder.find([Utterance("user", "")], EmotionReading("sad", 0.9))


def test_cause_finder_missing_artefact(tmp_path):
    with pytest.raises(ArtefactError, match="train_cause"):
        LinearCauseFinder(tmp_path)
    (tmp_path / "model.npz").write_bytes(b"garbage")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ArtefactError, match="unreadable"):
        LinearCauseFinder(tmp_path)


def test_span_f1_hand_checked():
    from eval.cause import token_f1

    # prediction "failed the exam" vs gold "I failed the exam": articles dropped, 2 common of 2/3 tokens.
    assert token_f1("failed the exam", "I failed the exam") == pytest.approx(2 * 1 * (2 / 3) / (1 + 2 / 3))
    assert token_f1("", "") == 1.0 and token_f1("x", "") == 0.0


def test_committed_artefacts_load_and_read_a_sad_turn():
    """The committed artefacts load through the factories and read a clearly sad turn as negative."""
    from agent.perception.cause import ARTEFACT_DIR as CAUSE_DIR
    from agent.perception.cause import load_cause_finder
    from agent.perception.detector import ARTEFACT_DIR

    if not (ARTEFACT_DIR / "model.safetensors").exists() or not (CAUSE_DIR / "model.npz").exists():
        pytest.skip("artefacts not built")
    dialogue = [Utterance("user", "My dog died yesterday and I miss him so much.")]
    reading = load_detector().detect(dialogue)
    assert reading.valence < 0 and reading.coarse in {"sadness", "fear", "anger"}
    cause = load_cause_finder().find(dialogue, reading)
    assert cause.utterance_indices == (0,) and "dog died" in cause.spans[0]
