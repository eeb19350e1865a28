"""The strategy planners: data reading, features, the trained MLP's decoding and contract, the
LLM planner's fallback, the factory. No MiniLM is loaded: a fake encoder gives vectors."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from agent.llm.base import ChatModel, MalformedOutput
from agent.planner import STAGES, STRATEGIES, load_planner
from agent.planner.data import EsconvTurn, esconv_turns, examples_from_dialogue, load_examples, speaker_role
from agent.planner.features import FEATURE_DIM, SLOTS, esconv_emotion, planner_features
from agent.planner.llm import LLMPlanner
from agent.planner.model import TrainedPlanner, softmax, stage_from_distribution
from agent.planner.ngrams import ngram_fields
from agent.planner.prior import PriorPlanner
from agent.records import EmotionReading, StrategyChoice, Utterance
from agent.settings import Settings


class FakeEncoder:
    """Deterministic unit vectors from the text's hash; records what it was asked to encode."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def encode_texts(self, texts):
        self.calls.append(list(texts))
        out = []
        for t in texts:
            seed = int(hashlib.sha256(t.encode()).hexdigest()[:8], 16)
            v = np.random.default_rng(seed).normal(size=384).astype(np.float32)
            out.append(v / np.linalg.norm(v))
        return np.stack(out)


def U(role, text):
    return Utterance(role, text)


DIALOGUE = [U("user", "Hi, I am really stressed about my exams."),
            U("assistant", "I'm sorry to hear that. What is worrying you most?"),
            U("user", "I keep failing the practice tests and my parents will be angry.")]


@pytest.fixture(scope="module")
def planner():
    return TrainedPlanner.load(encoder=FakeEncoder())


# -- data and features ---------------------------------------------------------------------------

def test_examples_cover_every_supporter_turn():
    record = {"emotion_type": "Anxiety", "dialog": [
        {"speaker": "sys", "text": "Hello, how are you?", "strategy": "Question"},
        {"speaker": "usr", "text": "Not great."},
        {"speaker": "sys", "text": "That sounds hard.", "strategy": "Reflection of feelings"},
        {"speaker": "sys", "text": "Want to talk?", "strategy": "Question"}]}
    ex = examples_from_dialogue(record)
    assert [e.strategy for e in ex] == ["Question", "Reflection of feelings", "Question"]
    assert ex[0].context == ()                                  # opens the dialogue
    assert ex[2].previous_strategies == ("Question", "Reflection of feelings")
    assert ex[2].context[-1].role == "assistant"                # consecutive supporter turns
    assert ex[0].emotion == "anxiety"
    with pytest.raises(ValueError):
        examples_from_dialogue({"dialog": [{"speaker": "bot", "text": "x"}]})


def test_esconv_turns_read_both_layouts_as_written():
    thu = {"dialog": [{"speaker": "usr", "text": "I can't sleep.\n"},
                      {"speaker": "sys", "text": " Why not?", "strategy": "Question"},
                      {"speaker": "sys", "text": "Tell me more."}]}          # supporter turn, no strategy
    assert esconv_turns(thu) == [EsconvTurn("user", "I can't sleep.\n", None),
                                 EsconvTurn("assistant", " Why not?", "Question"),
                                 EsconvTurn("assistant", "Tell me more.", None)]
    original = {"dialog": [{"speaker": "seeker", "content": "Hey\n", "annotation": {}},
                           {"speaker": "supporter", "content": "Hi!", "annotation": {"strategy": "Questions"}}]}
    assert [tuple(t) for t in esconv_turns(original)] == [("user", "Hey\n", None), ("assistant", "Hi!", "Questions")]
    # the planner keeps the texts as written and reads a missing strategy as "Others"
    assert [e.strategy for e in examples_from_dialogue(thu)] == ["Question", "Others"]
    assert examples_from_dialogue(thu)[1].context[-1].text == " Why not?"


def test_esconv_turns_errors_name_the_dialogue_and_turn():
    with pytest.raises(ValueError, match=r"^dialogue 3 turn 1: unknown speaker 'bot' \(expected one of \['listener'"):
        esconv_turns({"dialog": [{"speaker": "usr", "text": "x"}, {"speaker": "bot", "text": "x"}]}, "dialogue 3")
    with pytest.raises(ValueError, match=r"^f\.txt:2: no 'dialog' list"):
        esconv_turns({"emotion_type": "anxiety"}, "f.txt:2")
    with pytest.raises(ValueError, match=r"^dialogue 0: no 'dialog' list"):
        esconv_turns(["not", "a", "record"])
    with pytest.raises(ValueError, match=r"^dialogue 0 turn 0: no 'text' \(or 'content'\) string"):
        esconv_turns({"dialog": [{"speaker": "usr", "utterance": "x"}]})
    with pytest.raises(ValueError, match=r"^dialogue 0 turn 0: not an object"):
        esconv_turns({"dialog": ["hi"]})
    with pytest.raises(ValueError, match=r"^dialogue 7 turn 0: unknown speaker 'bot'"):
        examples_from_dialogue({"dialog": [{"speaker": "bot", "text": "x"}]}, 7)


def test_speaker_names_of_every_esconv_layout():
    # thu-coai splits, ESConv.json and FailedESConv.json name the two speakers differently.
    assert [speaker_role(s) for s in ("usr", "seeker", " Speaker")] == ["user"] * 3
    assert [speaker_role(s) for s in ("sys", "supporter", "LISTENER")] == ["assistant"] * 3
    assert speaker_role("bot") is None and speaker_role(None) is None


def test_features_layout():
    vecs = FakeEncoder().encode_texts([u.text for u in DIALOGUE])
    x = planner_features(vecs, [u.role for u in DIALOGUE], ["Question"], "anxious", n_utterances=3)
    assert x.shape == (FEATURE_DIM,)
    assert np.allclose(x[:384], vecs[-1])                        # slot 0 = the newest utterance
    assert list(x[384:386]) == [1.0, 0.0]                        # ... a user one
    lag0 = SLOTS * 386
    assert x[lag0 + STRATEGIES.index("Question")] == 1.0
    assert esconv_emotion("anxious") == "anxiety" and esconv_emotion(None) == "unknown"
    with pytest.raises(ValueError):
        planner_features(vecs, ["user"], [], None, n_utterances=3)


# -- the trained planner -----------------------------------------------------------------------

def test_plan_returns_a_full_choice(planner):
    choice = planner.plan(DIALOGUE, emotion=EmotionReading(label="anxious", confidence=0.8))
    assert isinstance(choice, StrategyChoice) and choice.source == "trained"
    assert choice.strategy in STRATEGIES and choice.stage in STAGES
    probs = dict(choice.distribution)
    assert set(probs) == set(STRATEGIES)
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-3)
    assert choice.strategy == max(probs, key=probs.get)


def test_forbidden_is_never_returned(planner):
    first = planner.plan(DIALOGUE).strategy
    second = planner.plan(DIALOGUE, forbidden=[first])
    assert second.strategy != first and dict(second.distribution)[first] == 0.0
    only = planner.plan(DIALOGUE, forbidden=[s for s in STRATEGIES if s != "Information"])
    assert only.strategy == "Information"
    with pytest.raises(ValueError, match="every strategy"):
        planner.plan(DIALOGUE, forbidden=STRATEGIES)
    with pytest.raises(ValueError, match="unknown strategy"):
        planner.plan(DIALOGUE, forbidden=["Advice"])


def test_bad_dialogues(planner):
    with pytest.raises(ValueError, match="non-empty"):
        planner.plan([])
    with pytest.raises(ValueError, match="Utterance"):
        planner.plan([{"role": "user", "text": "hi"}])
    # No supporter turn yet: fine, and the history is empty.
    assert planner.plan([U("user", "hello")]).strategy in STRATEGIES
    assert planner.plan_opening().strategy in STRATEGIES


def test_long_history_is_truncated():
    enc = FakeEncoder()
    p = TrainedPlanner.load(encoder=enc, max_history=64)
    long = [U("user" if k % 2 == 0 else "assistant", f"utterance {k}") for k in range(1001)]
    p.plan(long)                                    # tags the assistant turns of the last 64
    assert sum(len(c) for c in enc.calls) == 64
    enc.calls.clear()
    p.plan(long, previous_strategies=["Question"] * 500)  # history given: only the last SLOTS
    assert sum(len(c) for c in enc.calls) == SLOTS


def test_encoding_vectors_are_reused(planner):
    enc = FakeEncoder()
    p = TrainedPlanner.load(encoder=enc)

    class Encoding:
        utterances = FakeEncoder().encode_texts([u.text for u in DIALOGUE])

    a = p.plan(DIALOGUE, encoding=Encoding(), previous_strategies=["Question"])
    assert enc.calls == []
    b = p.plan(DIALOGUE, previous_strategies=["Question"])   # same vectors, encoded here
    assert a == b


def test_decoding_by_hand():
    # A network that outputs zeros: the distribution is the offsets alone; offsets -log(prior)
    # (prior correction 1) give p proportional to 1 / prior (2.5, 5, 10, 10, 20, 20, 20, 20).
    prior = np.array([0.4, 0.2, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05])
    params = {"feature_version": np.array("planner-features-v1"), "w1": np.zeros((FEATURE_DIM, 4), np.float32),
              "b1": np.zeros(4, np.float32), "w2": np.zeros((4, 8), np.float32), "b2": np.zeros(8, np.float32),
              "mu": np.zeros(FEATURE_DIM, np.float32), "sigma": np.ones(FEATURE_DIM, np.float32),
              "prior": prior, "offsets": -np.log(prior), "recency_penalty": np.array(0.0),
              "temperature": np.array(1.0), "tagger_w": np.zeros((384, 8), np.float32),
              "tagger_b": np.zeros(8, np.float32)}
    p = TrainedPlanner(params)
    probs = p.decode(np.zeros(8))
    assert probs == pytest.approx((1 / prior) / (1 / prior).sum())
    assert TrainedPlanner(params, prior_correction=1.0).decode(np.zeros(8)) == pytest.approx(probs)
    # Recency penalty 1: the last strategy's logit drops by 1, the one before by 1/2.
    p = TrainedPlanner(params, prior_correction=0.0, recency_penalty=1.0)
    probs = p.decode(np.zeros(8), ["Question", "Information"])
    expected = softmax(np.array([-0.5, 0, 0, 0, 0, 0, -1.0, 0]))
    assert probs == pytest.approx(expected)


def test_ensemble_logits_are_the_members_mean_by_hand():
    # Two one-unit networks on the first feature x0: member a gives logit 2*x0 to Question,
    # member b gives 4*relu(x0) to Others; the ensemble's logits are their mean.
    base = {"feature_version": np.array("planner-features-v1"), "mu": np.zeros(FEATURE_DIM, np.float32),
            "sigma": np.ones(FEATURE_DIM, np.float32), "prior": np.full(8, 0.125), "offsets": np.zeros(8),
            "recency_penalty": np.array(0.0), "temperature": np.array(1.0),
            "tagger_w": np.zeros((384, 8), np.float32), "tagger_b": np.zeros(8, np.float32)}
    w1 = np.zeros((2, FEATURE_DIM, 1), np.float32)
    w1[:, 0, 0] = 1.0
    w2 = np.zeros((2, 1, 8), np.float32)
    w2[0, 0, STRATEGIES.index("Question")] = 2.0
    w2[1, 0, STRATEGIES.index("Others")] = 4.0
    ensemble = TrainedPlanner({**base, "w1": w1, "b1": np.zeros((2, 1), np.float32), "w2": w2,
                               "b2": np.zeros((2, 8), np.float32)})
    x = np.zeros((2, FEATURE_DIM), np.float32)
    x[0, 0], x[1, 0] = 3.0, -1.0
    expected = np.zeros((2, 8))
    expected[0, STRATEGIES.index("Question")], expected[0, STRATEGIES.index("Others")] = 3.0, 6.0
    assert ensemble.logits(x) == pytest.approx(expected)
    assert ensemble.logits(x[0]) == pytest.approx(expected[0])
    # A single network stored unstacked is an ensemble of one.
    single = TrainedPlanner({**base, "w1": w1[0], "b1": np.zeros(1, np.float32), "w2": w2[0],
                             "b2": np.zeros(8, np.float32)})
    assert single.logits(x[0]) == pytest.approx(np.eye(8)[STRATEGIES.index("Question")] * 6.0)


def test_stage_from_distribution():
    probs = np.zeros(8)
    probs[STRATEGIES.index("Providing Suggestions")] = 0.4
    probs[STRATEGIES.index("Others")] = 0.6
    assert stage_from_distribution(probs, 0) == "exploration"     # "Others" early -> exploration
    assert stage_from_distribution(probs, 14) == "action"


def test_recency_penalty_lowers_repeat(planner):
    base = TrainedPlanner.load(encoder=FakeEncoder(), recency_penalty=0.0)
    strong = TrainedPlanner.load(encoder=FakeEncoder(), recency_penalty=3.0)
    hist = ["Question", "Question"]
    p0 = dict(base.plan(DIALOGUE, previous_strategies=hist).distribution)["Question"]
    p1 = dict(strong.plan(DIALOGUE, previous_strategies=hist).distribution)["Question"]
    assert p1 < p0


# -- LLM planner, prior, factory ---------------------------------------------------------------

class ScriptedModel(ChatModel):
    name = "scripted"

    def __init__(self, answer):
        self.answer = answer
        self.seen_choices = None

    def _complete(self, messages, options):
        self.seen_choices = options.choices
        return self.answer

    def _stream(self, messages, options):
        yield self.answer


def test_llm_planner_choice_and_fallback():
    model = ScriptedModel("Reflection of feelings")
    llm = LLMPlanner(model, fallback=PriorPlanner.load())
    choice = llm.plan(DIALOGUE, forbidden=["Question"])
    assert choice.strategy == "Reflection of feelings" and choice.stage == "comforting" and choice.source == "llm"
    assert "Question" not in model.seen_choices and len(model.seen_choices) == 7
    malformed = LLMPlanner(ScriptedModel("I would give them a hug"), fallback=PriorPlanner.load())
    choice = malformed.plan(DIALOGUE, forbidden=["Question"])
    assert choice.source == "llm-fallback:prior" and choice.strategy != "Question"
    assert malformed.fallbacks == 1
    with pytest.raises(MalformedOutput):
        LLMPlanner(ScriptedModel("hug")).plan(DIALOGUE)
    prompt = llm.messages(DIALOGUE)[0]["content"]
    assert "Seeker: I keep failing" in prompt and "Affirmation and Reassurance" in prompt


def test_prior_planner_follows_position():
    prior = PriorPlanner.load()
    early = prior.plan([U("user", "hi")])
    late = prior.plan([U("user", "ok")], previous_strategies=["Others"] * 20)
    assert early.source == "prior"
    assert dict(early.distribution)["Question"] > dict(late.distribution)["Question"]


def test_factory():
    assert isinstance(load_planner("trained"), TrainedPlanner)
    assert isinstance(load_planner("prior"), PriorPlanner)
    assert isinstance(load_planner("llm", chat_model=ScriptedModel("Others")), LLMPlanner)
    with pytest.raises(ValueError):
        load_planner("llm")
    with pytest.raises(ValueError):
        load_planner("oracle")
    stored = load_planner("trained").recency_penalty
    assert load_planner("trained", settings=Settings.load(config_file=None)).recency_penalty == stored
    explicit = Settings.load(config_file=None, planner={"recency_penalty": 2.5})
    assert load_planner("trained", settings=explicit).recency_penalty == 2.5


def test_esconv_valid_examples(data_dir):
    ex = load_examples(data_dir, "valid")
    assert len(ex) == 2722 and {e.strategy for e in ex} == set(STRATEGIES)


def test_an_uncertain_emotion_is_averaged_over_the_types_seen_in_training():
    """ESConv gives one known emotion type per dialogue; the agent has only the detector's reading.
    A reading that names no type (a positive label, no reading) must not reach the network as the
    "unknown" column, constant in training, which made the planner ask Questions regardless."""
    from agent.planner.features import ESCONV_EMOTIONS

    planner = TrainedPlanner.load()
    k = {e: i for i, e in enumerate(ESCONV_EMOTIONS)}
    prior = planner.emotion_mixture(None)
    assert prior[k["unknown"]] == 0.0 and prior.sum() == pytest.approx(1.0)
    assert prior[k["anxiety"]] > prior[k["guilt"]] > 0  # training shares
    assert planner.emotion_mixture("Anxiety")[k["anxiety"]] == 1.0  # a gold label stays one-hot
    reading = EmotionReading(label="anxious", confidence=0.5, top_k=(("anxious", 0.5), ("joyful", 0.3), ("sad", 0.1)))
    w = planner.emotion_mixture(reading)
    assert w.sum() == pytest.approx(1.0) and w[k["unknown"]] == 0.0
    assert w[k["anxiety"]] == pytest.approx(0.5 + 0.4 * prior[k["anxiety"]])

    x = planner_features(np.zeros((1, 384), np.float32), ["user"], [], "anxiety", n_utterances=1)
    fields = ngram_fields([Utterance("user", "I can't stop worrying about my exams.")])
    one_hot = planner.mixed_logits(x, "anxiety", fields)
    plain = planner.logits(x, [fields])
    assert np.allclose(softmax(one_hot), softmax(plain))  # a one-hot changes nothing

    dialogue = [Utterance("user", "I got the job!"), Utterance("assistant", "Congratulations!"),
                Utterance("user", "But I'm worried I won't be good enough.")]
    joyful = planner.plan(dialogue, emotion=EmotionReading(label="joyful", confidence=0.9))
    none = planner.plan(dialogue, emotion=None)
    assert joyful.distribution == none.distribution
