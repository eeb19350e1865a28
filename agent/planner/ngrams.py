"""The planner's second reader: word n-grams of the last utterances under a linear model.

MiniLM's sentence vectors blur the surface cues that often decide a supporter's next move (a
question mark in its own last reply, the seeker's "thank you", "what should I do"); a bag of
unigrams and bigrams keeps them. Three fields of the dialogue so far (``ngram_fields``), each its
own TF-IDF block (lower-cased word tokens plus "?" and "!", sublinear term frequency, smoothed
idf, unit length per field):

- the seeker's words since the supporter last spoke;
- the supporter's last utterance;
- the seeker's last three utterances;

plus the non-vector part of the planner's features (strategy lags and histogram, position,
emotion type; ``agent.planner.features.CONTEXT_FEATURES``), standardised. A multinomial logistic
regression maps them to log-probabilities over the eight strategies; the planner adds them, times
a mixing weight chosen on out-of-fold training predictions, to its MLPs' logits. Inference is
numpy only; ``fit_ngram_reader`` (training) needs scikit-learn.

>>> grams("Is it OK?")
['is', 'it', 'ok', '?', 'is it', 'it ok', 'ok ?']
>>> ngram_fields([Utterance("user", "Hi."), Utterance("assistant", "Hello!"), Utterance("user", "I'm sad.")])
("I'm sad.", 'Hello!', "Hi. I'm sad.")
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from itertools import pairwise

import numpy as np

from agent.planner.strategies import STRATEGIES
from agent.records import Utterance

FIELDS = ("seeker", "supporter", "seeker_recent")
RECENT_SEEKER_UTTERANCES = 3
EMPTY = "<none>"
"""The text of an absent field (no supporter turn yet): a token of its own, as in training."""
_TOKEN = re.compile(r"\b\w+\b|[?!]")


def grams(text: str) -> list[str]:
    """Lower-cased word tokens (and "?", "!"), then the bigrams of consecutive tokens."""
    tokens = _TOKEN.findall(text.lower())
    return tokens + [f"{a} {b}" for a, b in pairwise(tokens)]


def ngram_fields(context: Sequence[Utterance]) -> tuple[str, ...]:
    """The three texts the reader reads, in ``FIELDS`` order, from the dialogue before the turn."""
    since: list[str] = []
    for u in reversed(context):
        if u.role != "user":
            break
        since.append(u.text)
    supporter = next((u.text for u in reversed(context) if u.role != "user"), "")
    recent = [u.text for u in context if u.role == "user"][-RECENT_SEEKER_UTTERANCES:]
    return (" ".join(reversed(since)) or EMPTY, supporter or EMPTY, " ".join(recent) or EMPTY)


class NgramVocabulary:
    """Terms and their idf for one field; ``rows`` turns texts into unit-length TF-IDF rows."""

    def __init__(self, terms: Sequence[str], idf: np.ndarray) -> None:
        if len(terms) != len(idf):
            raise ValueError(f"{len(terms)} terms but {len(idf)} idf values")
        self.terms = list(terms)
        self.idf = np.asarray(idf, np.float64)
        self.index = {t: k for k, t in enumerate(self.terms)}

    @classmethod
    def fit(cls, texts: Sequence[str], min_df: int) -> NgramVocabulary:
        """Terms found in at least ``min_df`` texts (sorted); idf = ln((1 + n) / (1 + df)) + 1."""
        df = Counter(g for text in texts for g in set(grams(text)))
        terms = sorted(t for t, c in df.items() if c >= min_df)
        idf = np.log((1 + len(texts)) / (1 + np.array([df[t] for t in terms], np.float64))) + 1
        return cls(terms, idf)

    def row(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(term indices, weights) of one text: (1 + ln tf) x idf, scaled to unit length."""
        counts = Counter(k for k in map(self.index.get, grams(text)) if k is not None)
        if not counts:
            return np.zeros(0, np.int64), np.zeros(0)
        idx = np.fromiter(counts, np.int64, len(counts))
        val = (1 + np.log(np.fromiter(counts.values(), np.float64, len(counts)))) * self.idf[idx]
        return idx, val / np.linalg.norm(val)

    def rows(self, texts: Sequence[str]):
        """A scipy CSR matrix (len(texts), len(terms)) of ``row`` for each text (training)."""
        from scipy import sparse

        parts = [self.row(t) for t in texts]
        indptr = np.cumsum([0] + [len(i) for i, _ in parts])
        indices = np.concatenate([i for i, _ in parts]) if parts else np.zeros(0, np.int64)
        data = np.concatenate([v for _, v in parts]) if parts else np.zeros(0)
        return sparse.csr_matrix((data, indices, indptr), shape=(len(texts), len(self.terms)))


class NgramReader:
    """Log-probabilities over ``STRATEGIES`` from the fields' n-grams and the context features.

    ``weight``: (sum of the vocabularies' sizes + context features, 8); ``mu``/``sigma``
    standardise the context features.
    """

    def __init__(self, vocabularies: Sequence[NgramVocabulary], weight: np.ndarray, bias: np.ndarray,
                 mu: np.ndarray, sigma: np.ndarray) -> None:
        if len(vocabularies) != len(FIELDS):
            raise ValueError(f"one vocabulary per field {FIELDS}")
        self.vocabularies = list(vocabularies)
        self.starts = np.cumsum([0] + [len(v.terms) for v in self.vocabularies])
        if weight.shape != (self.starts[-1] + len(mu), len(STRATEGIES)):
            raise ValueError(f"n-gram weights {weight.shape} do not fit the vocabularies and {len(mu)} context features")
        self.weight = np.asarray(weight, np.float32)
        self.bias = np.asarray(bias, np.float64)
        self.mu, self.sigma = np.asarray(mu, np.float32), np.asarray(sigma, np.float32)

    def text_scores(self, fields: Sequence[str]) -> np.ndarray:
        """(8,) the n-gram part of the logits for one turn's ``ngram_fields``."""
        out = np.zeros(len(STRATEGIES))
        for vocab, start, text in zip(self.vocabularies, self.starts, fields):
            idx, val = vocab.row(text)
            out += val @ self.weight[start + idx]
        return out

    def log_probs(self, fields: Sequence[str], context: np.ndarray) -> np.ndarray:
        """(k, 8) log-probabilities for one turn's fields under each of k rows of context features
        (several rows: the same turn under different emotion types)."""
        context = np.asarray(context, np.float32).reshape(-1, len(self.mu))
        z = self.text_scores(fields) + ((context - self.mu) / self.sigma) @ self.weight[self.starts[-1]:] + self.bias
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    def batch_log_probs(self, fields: Sequence[Sequence[str]], context: np.ndarray) -> np.ndarray:
        """(n, 8) log-probabilities of n turns: ``fields[i]`` read with the context row ``context[i]``."""
        if len(fields) != len(context):
            raise ValueError(f"{len(fields)} turns' fields but {len(context)} context rows")
        return np.stack([self.log_probs(f, c)[0] for f, c in zip(fields, context)]).reshape(-1, len(STRATEGIES))

    # -- storage in the planner's npz (numpy arrays only, no pickle) ---------------------------
    def to_params(self) -> dict[str, np.ndarray]:
        out = {"ngram_weight": self.weight.astype(np.float16), "ngram_bias": self.bias.astype(np.float32),
               "ngram_mu": self.mu, "ngram_sigma": self.sigma}
        for name, vocab in zip(FIELDS, self.vocabularies):
            out[f"ngram_terms_{name}"] = np.array(vocab.terms, dtype=str)
            out[f"ngram_idf_{name}"] = vocab.idf.astype(np.float32)
        return out

    @classmethod
    def from_params(cls, params: dict[str, np.ndarray]) -> NgramReader | None:
        """The reader stored in ``params``, or None for weights trained without one."""
        if "ngram_weight" not in params:
            return None
        vocabs = [NgramVocabulary([str(t) for t in params[f"ngram_terms_{name}"]], params[f"ngram_idf_{name}"])
                  for name in FIELDS]
        return cls(vocabs, params["ngram_weight"], params["ngram_bias"], params["ngram_mu"], params["ngram_sigma"])


def fit_ngram_reader(fields: Sequence[Sequence[str]], context: np.ndarray, y: np.ndarray, *,
                     c: float, min_df: int) -> NgramReader:
    """Fit the vocabularies and the logistic regression (L2, inverse strength ``c``) on training
    turns: ``fields[i]`` their ``ngram_fields``, ``context[i]`` their context features."""
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    vocabs = [NgramVocabulary.fit([f[k] for f in fields], min_df) for k in range(len(FIELDS))]
    mu = context.mean(0).astype(np.float32)
    sigma = (context.std(0) + 1e-3).astype(np.float32)  # constant columns (rare one-hots) stay near zero
    blocks = [v.rows([f[k] for f in fields]) for k, v in enumerate(vocabs)]
    x = sparse.hstack([*blocks, sparse.csr_matrix((context - mu) / sigma)]).tocsr()
    model = LogisticRegression(C=c, max_iter=3000).fit(x, y)
    if list(model.classes_) != list(range(len(STRATEGIES))):
        raise ValueError("every strategy must occur in the training turns")
    return NgramReader(vocabs, model.coef_.T, model.intercept_, mu, sigma)
