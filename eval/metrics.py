"""Reference-overlap and diversity metrics for generated replies, as the ESC/ED papers report them.

All functions are pure and take plain strings; every score is on the 0-100 scale except the
reply length (tokens).

- **Tokenizer** (``tokenize``): lowercase, then the regex ``[a-z0-9]+(?:'[a-z0-9]+)*|[^\\sa-z0-9]``
  (words with inner apostrophes kept whole, e.g. "don't"; every other non-space character is its
  own token). No NLTK data download is needed (``word_tokenize`` needs punkt), and the result is
  the same on every machine. Non-ASCII letters count as punctuation-like single tokens; both
  data sets are English.
- **BLEU-n** (``bleu``): corpus BLEU from ``nltk.translate.bleu_score.corpus_bleu`` with uniform
  weights over 1..n-grams (``(1/n,)*n``), one reference per reply, ``SmoothingFunction().method3``,
  x100.
- **ROUGE-L** (``rouge_l``): sentence-level LCS F-measure (Lin 2004) with ``beta = 1.2`` (the value
  of pycocoevalcap / nlg-eval, which the ESConv papers use), averaged over replies, x100.
  ``F = (1 + beta^2) P R / (R + beta^2 P)`` with ``P = LCS/len(candidate)``, ``R = LCS/len(reference)``.
- **Distinct-n** (``distinct``): distinct n-grams / all n-grams over *all* replies together
  (corpus level), x100.

>>> distinct(["i am sad", "i am happy"], 1)   # 4 distinct of 6 unigrams
66.66666666666667
>>> round(rouge_l(["police kill the gunman"], ["police killed the gunman"]), 2)   # LCS 3 of 4
75.0
"""

from __future__ import annotations

import re
from collections.abc import Sequence

ROUGE_BETA = 1.2
TOKEN_PATTERN = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*|[^\sa-z0-9]")


def tokenize(text: str) -> list[str]:
    """Lowercased word and punctuation tokens. ``tokenize("I'm OK, thanks!")`` ->
    ``["i'm", "ok", ",", "thanks", "!"]``."""
    return TOKEN_PATTERN.findall(text.lower())


def _check_pairs(hypotheses: Sequence[str], references: Sequence[str]) -> None:
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} replies but {len(references)} references")
    if not hypotheses:
        raise ValueError("no replies to score")


def bleu(hypotheses: Sequence[str], references: Sequence[str], n: int) -> float:
    """Corpus BLEU-n (uniform weights, smoothing method 3), x100.

    >>> bleu(["the cat sat on the mat"], ["the cat sat on the mat"], 4)
    100.0
    """
    from nltk.translate.bleu_score import SmoothingFunction, corpus_bleu

    _check_pairs(hypotheses, references)
    if n < 1:
        raise ValueError(f"BLEU order must be >= 1, got {n}")
    hyps = [tokenize(h) for h in hypotheses]
    refs = [[tokenize(r)] for r in references]
    if not any(hyps):  # nltk divides by the hypothesis length
        return 0.0
    score = corpus_bleu(refs, hyps, weights=(1.0 / n,) * n,
                        smoothing_function=SmoothingFunction().method3)
    return 100.0 * float(score)


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence (dynamic programming, O(len(a) * len(b)))."""
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l_pair(hypothesis: str, reference: str, beta: float = ROUGE_BETA) -> float:
    """ROUGE-L F-measure of one reply against one reference, on the 0-1 scale."""
    hyp, ref = tokenize(hypothesis), tokenize(reference)
    if not hyp or not ref:
        return 0.0
    lcs = lcs_length(hyp, ref)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(hyp), lcs / len(ref)
    return (1 + beta**2) * precision * recall / (recall + beta**2 * precision)


def rouge_l(hypotheses: Sequence[str], references: Sequence[str], beta: float = ROUGE_BETA) -> float:
    """Mean sentence-level ROUGE-L F-measure, x100."""
    _check_pairs(hypotheses, references)
    return 100.0 * sum(rouge_l_pair(h, r, beta) for h, r in zip(hypotheses, references)) / len(hypotheses)


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def distinct(hypotheses: Sequence[str], n: int) -> float:
    """Corpus-level Distinct-n, x100 (0 when the replies hold no n-gram at all)."""
    if n < 1:
        raise ValueError(f"Distinct order must be >= 1, got {n}")
    grams = [g for h in hypotheses for g in ngrams(tokenize(h), n)]
    return 100.0 * len(set(grams)) / len(grams) if grams else 0.0


def mean_length(hypotheses: Sequence[str]) -> float:
    """Mean reply length in tokens (same tokenizer)."""
    if not hypotheses:
        raise ValueError("no replies to measure")
    return sum(len(tokenize(h)) for h in hypotheses) / len(hypotheses)


def generation_scores(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Every generation metric at once: B-1/2/4, R-L, D-1/2, reply length and reference length."""
    _check_pairs(hypotheses, references)
    return {
        "bleu_1": bleu(hypotheses, references, 1),
        "bleu_2": bleu(hypotheses, references, 2),
        "bleu_4": bleu(hypotheses, references, 4),
        "rouge_l": rouge_l(hypotheses, references),
        "distinct_1": distinct(hypotheses, 1),
        "distinct_2": distinct(hypotheses, 2),
        "reply_length": mean_length(hypotheses),
        "reference_length": mean_length(references),
    }
