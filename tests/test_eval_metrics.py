"""Generation metrics, each against a case computed by hand (and BLEU against nltk directly)."""

from __future__ import annotations

import math

import pytest

from eval.metrics import (bleu, distinct, generation_scores, lcs_length, mean_length, rouge_l,
                          rouge_l_pair, tokenize)


def test_tokenizer_keeps_contractions_and_splits_punctuation():
    assert tokenize("I'm OK, thanks!") == ["i'm", "ok", ",", "thanks", "!"]
    assert tokenize("  ") == []


def test_distinct_on_two_sentences_by_hand():
    replies = ["i am sad", "i am happy"]
    # unigrams: i am sad i am happy -> 4 distinct of 6; bigrams: (i am)(am sad)(i am)(am happy) -> 3 of 4
    assert distinct(replies, 1) == pytest.approx(100 * 4 / 6)
    assert distinct(replies, 2) == pytest.approx(100 * 3 / 4)
    assert distinct(["ok"], 2) == 0.0  # no bigram at all


def test_rouge_l_textbook_pair():
    # Lin (2004): reference "police killed the gunman"; LCS with "police kill the gunman" = 3
    assert lcs_length("police kill the gunman".split(), "police killed the gunman".split()) == 3
    assert rouge_l_pair("police kill the gunman", "police killed the gunman") == pytest.approx(0.75)
    # "the gunman kill police": LCS = "the gunman" = 2 -> P = R = 0.5
    assert rouge_l_pair("the gunman kill police", "police killed the gunman") == pytest.approx(0.5)


def test_rouge_l_beta_weights_recall():
    # candidate "a b" vs reference "a b c d": LCS 2, P = 1, R = 0.5, beta 1.2
    beta = 1.2
    expected = (1 + beta**2) * 1.0 * 0.5 / (0.5 + beta**2 * 1.0)
    assert rouge_l_pair("a b", "a b c d") == pytest.approx(expected)
    assert rouge_l(["a b", "x"], ["a b c d", "y"]) == pytest.approx(100 * expected / 2)


def test_bleu_equals_nltk_on_the_same_tokens():
    from nltk.translate.bleu_score import SmoothingFunction, corpus_bleu

    hyps = ["I am so sorry to hear that.", "Have you talked to your boss about it?", "that sounds hard"]
    refs = ["I'm sorry to hear that, it sounds hard.", "Did you talk to your manager?", "That must be hard for you."]
    for n in (1, 2, 4):
        expected = corpus_bleu([[tokenize(r)] for r in refs], [tokenize(h) for h in hyps],
                               weights=(1 / n,) * n, smoothing_function=SmoothingFunction().method3)
        assert bleu(hyps, refs, n) == pytest.approx(100 * expected)


def test_bleu_1_by_hand():
    # hyp "the cat" vs ref "the cat sat": unigram precision 1, brevity penalty exp(1 - 3/2)
    assert bleu(["the cat"], ["the cat sat"], 1) == pytest.approx(100 * math.exp(1 - 3 / 2))


def test_empty_and_mismatched_inputs():
    assert bleu([""], ["hello"], 2) == 0.0
    assert rouge_l_pair("", "hello") == 0.0
    with pytest.raises(ValueError):
        bleu(["a"], ["a", "b"], 2)
    with pytest.raises(ValueError):
        mean_length([])


def test_generation_scores_has_every_figure():
    scores = generation_scores(["i hear you"], ["i hear you too"])
    assert set(scores) == {"bleu_1", "bleu_2", "bleu_4", "rouge_l", "distinct_1", "distinct_2",
                           "reply_length", "reference_length"}
    assert scores["reply_length"] == 3 and scores["reference_length"] == 4
