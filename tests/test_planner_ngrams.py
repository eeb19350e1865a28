"""The planner's n-gram reader: fields, TF-IDF rows (checked by hand and against scikit-learn),
the linear model's storage, and its place in the trained planner's logits."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agent.planner.features import CONTEXT_FEATURES, FEATURE_DIM, planner_features
from agent.planner.model import TrainedPlanner, mlp_logits, softmax
from agent.planner.ngrams import EMPTY, FIELDS, NgramReader, NgramVocabulary, fit_ngram_reader, grams, ngram_fields
from agent.planner.strategies import STRATEGIES
from agent.records import Utterance


def U(role, text):
    return Utterance(role, text)


def test_fields_read_the_right_utterances():
    assert ngram_fields([]) == (EMPTY, EMPTY, EMPTY)                     # a supporter who opens
    context = [U("user", "a"), U("assistant", "b?"), U("user", "c"), U("user", "d"),
               U("assistant", "e"), U("user", "f"), U("user", "g")]
    seeker, supporter, recent = ngram_fields(context)
    assert seeker == "f g"                      # the seeker's words since the supporter spoke
    assert supporter == "e"                     # the supporter's last utterance
    assert recent == "d f g"                    # the seeker's last three utterances
    # The supporter spoke last (it speaks twice in a row): nothing new from the seeker.
    assert ngram_fields(context[:5])[0] == EMPTY


def test_grams_and_a_row_by_hand():
    assert grams("Why? Why not!") == ["why", "?", "why", "not", "!", "why ?", "? why", "why not", "not !"]
    texts = ["why not", "why", "not now"]
    vocab = NgramVocabulary.fit(texts, min_df=2)
    assert vocab.terms == ["not", "why"]                                  # each in 2 of 3 texts
    assert vocab.idf == pytest.approx([math.log(4 / 3) + 1] * 2)
    idx, val = vocab.row("why why not")       # tf 2 and 1: (1 + ln 2) and 1, same idf, unit length
    raw = {vocab.terms[i]: v for i, v in zip(idx, val)}
    norm = math.hypot(1 + math.log(2), 1)
    assert raw == pytest.approx({"why": (1 + math.log(2)) / norm, "not": 1 / norm})
    assert vocab.row("nothing known")[0].size == 0                       # unknown words only


def test_rows_match_scikit_learns_tfidf():
    sklearn_text = pytest.importorskip("sklearn.feature_extraction.text")
    texts = ["I feel so lost, what should I do?", "Thank you! That helps.", "what should I do now?? I am lost",
             EMPTY, "ok ok ok", "rare words"] * 2 + ["once only"]
    ours = NgramVocabulary.fit(texts, min_df=2)
    theirs = sklearn_text.TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True,
                                          token_pattern=r"(?u)\b\w+\b|[?!]").fit(texts)
    assert ours.terms == sorted(theirs.vocabulary_)
    columns = [theirs.vocabulary_[t] for t in ours.terms]
    assert ours.rows(texts).toarray() == pytest.approx(theirs.transform(texts).toarray()[:, columns])


def _reader():
    """A reader fitted on a small set where only the supporter's last words name the strategy."""
    pytest.importorskip("sklearn")
    fields, y = [], []
    for k, s in enumerate(STRATEGIES):
        for j in range(6):
            fields.append((f"seeker words {j}", f"cue{k} {s.lower()}", f"seeker words {j}"))
            y.append(k)
    context = np.zeros((len(y), FEATURE_DIM - CONTEXT_FEATURES.start), np.float32)
    return fit_ngram_reader(fields, context, np.array(y), c=10.0, min_df=2), context


def test_reader_learns_words_and_survives_storage():
    reader, context = _reader()
    lp = reader.log_probs(("x", "cue3 self-disclosure", "x"), context[:1])
    assert lp.shape == (1, 8) and np.exp(lp).sum() == pytest.approx(1.0)
    assert STRATEGIES[int(lp.argmax())] == "Self-disclosure"
    params = {k: np.asarray(v) for k, v in reader.to_params().items()}
    again = NgramReader.from_params(params)
    assert [v.terms for v in again.vocabularies] == [v.terms for v in reader.vocabularies]
    # Weights are stored in float16: the same distribution to about three decimals.
    assert np.exp(again.log_probs(("x", "cue3 self-disclosure", "x"), context[:1])) == pytest.approx(np.exp(lp), abs=2e-3)
    assert NgramReader.from_params({}) is None                                 # weights without a reader
    with pytest.raises(ValueError, match="fields"):
        reader.batch_log_probs([("a", "b", "c")], context[:2])


def test_planner_adds_the_readers_log_probs():
    reader, _ = _reader()
    base = {"feature_version": np.array("planner-features-v1"), "w1": np.zeros((FEATURE_DIM, 4), np.float32),
            "b1": np.zeros(4, np.float32), "w2": np.zeros((4, 8), np.float32), "b2": np.zeros(8, np.float32),
            "mu": np.zeros(FEATURE_DIM, np.float32), "sigma": np.ones(FEATURE_DIM, np.float32),
            "prior": np.full(8, 0.125), "offsets": np.zeros(8), "recency_penalty": np.array(0.0),
            "temperature": np.array(1.0), "tagger_w": np.zeros((384, 8), np.float32), "tagger_b": np.zeros(8, np.float32)}
    planner = TrainedPlanner({**base, **reader.to_params(), "ngram_mix": np.array(2.0)})
    x = planner_features(np.zeros((1, 384), np.float32), ["assistant"], ["Question"], "sadness", n_utterances=1)
    fields = ngram_fields([U("assistant", "cue6 information")])
    expected = mlp_logits(planner.p, x[None])[0] + 2.0 * planner.ngrams.log_probs(fields, x[CONTEXT_FEATURES])[0]
    assert planner.logits(x, [fields]) == pytest.approx(expected)
    # The emotion mixture reads the same n-grams: a one-hot type gives the plain distribution.
    assert softmax(planner.mixed_logits(x, "sadness", fields)) == pytest.approx(softmax(expected))
    with pytest.raises(ValueError, match="ngram_fields"):
        planner.logits(x)
    # The words decide here (the MLP outputs zeros): the supporter's last words name the strategy.
    choice = planner.plan([U("assistant", "cue6 information"), U("user", "ok")], previous_strategies=["Question"])
    assert choice.strategy == "Information"
    assert len(FIELDS) == 3
    # Weights without a reader (older artefacts, hand-built tests) ignore the words.
    assert TrainedPlanner(base).ngram_mix == 0.0


def test_the_shipped_planner_reads_the_words():
    planner = TrainedPlanner.load()
    assert planner.ngrams is not None and planner.ngram_mix > 0
