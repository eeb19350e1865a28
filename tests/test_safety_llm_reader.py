"""The larger-reader experiment's input: the turn after its context, cut from the start."""

import pytest

from agent.safety.tuning_data import Example


class WordTokenizer:
    """One token per whitespace-separated word (a stand-in for SmolLM2's tokenizer)."""

    def __call__(self, text, add_special_tokens=False):
        return type("Encoding", (), {"input_ids": [hash(w) % 1000 for w in text.split()]})()


def test_token_sequences_mark_the_current_turn_and_cut_the_context_first(monkeypatch):
    from eval import safety_llm_reader as reader

    tok = WordTokenizer()
    [(ids, start)] = reader.token_sequences([Example("pills are here", "none", "probe", "b", ["hi there", "hello"])], tok)
    # "User: hi there\nAssistant: hello\nUser: " is 6 words, then the turn's 3.
    assert (len(ids), start) == (9, 6)
    monkeypatch.setattr(reader, "MAX_TOKENS", 12)
    long = Example("a b c", "none", "probe", "b", [" ".join(["w"] * 20), "ok"])
    [(ids, start)] = reader.token_sequences([long], tok)
    assert len(ids) == 12 and start == 9 and ids[-3:] == tok("a b c").input_ids


def test_padded_averages_over_the_current_turn_only():
    torch = pytest.importorskip("torch")
    from eval.safety_llm_reader import padded

    ids, mask, turn = padded([([5, 6, 7], 1), ([8, 9], 0)], [0, 1])
    assert ids.tolist() == [[5, 6, 7], [8, 9, 0]] and mask.tolist() == [[1, 1, 1], [1, 1, 0]]
    assert torch.allclose(turn, torch.tensor([[0, 0.5, 0.5], [0.5, 0.5, 0]]))
