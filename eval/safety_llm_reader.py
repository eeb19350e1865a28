"""Would a larger reader help the crisis gate? SmolLM2-135M (the embedded LLM, 135M parameters,
six times MiniLM's) read as a risk classifier, against the gate's fine-tuned MiniLM trained on the
same data, on ``round9`` (330 risk, 550 non-risk written probes, mostly ordinary support
conversations), which both leave out of their training.

    python -m agent.safety.train --probe-files tests/safety_probes/dev.jsonl \
        tests/safety_probes/round[2-8].jsonl --out ~/gate-without-round9   # the baseline, 27 min
    python -m eval.safety_llm_reader frozen --baseline-dir ~/gate-without-round9   # about 4 min
    python -m eval.safety_llm_reader lora --baseline-dir ~/gate-without-round9     # about an hour

(The baseline is the gate shipped until 2026-12-03; the shipped gate now trains on round9.) Both
readers see what the gate's fine-tuned model sees: the current user turn after up to four earlier
utterances (``User: ...`` / ``Assistant: ...`` lines; at most 256 of SmolLM2's tokens, where the gate
reads 192 of MiniLM's), its hidden states
averaged over the current turn's tokens. They learn from the baseline's training data
(``agent.safety.tuning_data``: ``TRAIN_SETS``, the hand-written seeds and ESConv and
EmpatheticDialogues train turns, with the gate's sample weights).

- ``frozen``: the LLM's hidden states at several layers, frozen; a logistic regression on each.
- ``lora``: the lower ``--frozen-layers`` layers frozen, low-rank adapters (rank 16) on every
  projection of the layers above and a linear head, trained with AdamW under bf16 autocast.

It prints, for each reader, the area under the ROC curve of P(risk) on round9 and the recall at
5 %, 10 % and 13.5 % false alarms (13.5 % is the baseline gate's own false-alarm rate there),
beside the baseline's fine-tuned model's P(risk) and the mean of the two. An experiment, not a
shipped model: it decides whether the larger reader is worth building into the gate.
"""

from __future__ import annotations

import argparse
import math
import random
import time
from pathlib import Path

import numpy as np

from agent.safety.tuned import CONTEXT_TURNS

MAX_TOKENS = 256
LAYERS = (10, 18, 22, 26, 30)
TEST_SET = "round9"
TRAIN_SETS = ("dev", "round2", "round3", "round4", "round5", "round6", "round7", "round8")
"""The tuning probes of the baseline gate (shipped until 2026-12-03): the default training now adds
round9 and the retired held-out sets, which this experiment leaves out."""


def token_sequences(examples, tok) -> list[tuple[list[int], int]]:
    """``(token ids, index of the current turn's first token)`` per example; the context is cut
    from its start when the whole is longer than ``MAX_TOKENS``."""
    out = []
    for e in examples:
        context = e.dialogue()[:-1][-CONTEXT_TURNS:]  # roles as the gate gives them, kept through the cut
        prefix = "".join(f"{'User' if u.role == 'user' else 'Assistant'}: {u.text}\n" for u in context)
        turn = tok(e.text, add_special_tokens=False).input_ids[:MAX_TOKENS - 8]
        head = tok(prefix + "User: ", add_special_tokens=False).input_ids[-(MAX_TOKENS - len(turn)):]
        out.append((head + turn, len(head)))
    return out


def padded(seqs, rows):
    """Right-padded ids, attention mask and the averaging weights of the current turn's tokens."""
    import torch

    width = max(len(seqs[i][0]) for i in rows)
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros_like(ids)
    turn = torch.zeros((len(rows), width))
    for j, i in enumerate(rows):
        s, start = seqs[i]
        ids[j, :len(s)], mask[j, :len(s)], turn[j, start:len(s)] = torch.tensor(s), 1, 1
    return ids, mask, turn / turn.sum(1, keepdim=True)


def by_length(seqs, size: int) -> list[np.ndarray]:
    order = np.argsort([len(s) for s, _ in seqs], kind="stable")
    return [order[i:i + size] for i in range(0, len(order), size)]


def frozen_states(lm, seqs) -> np.ndarray:
    """Mean over the current turn's tokens of the hidden states at ``LAYERS``: (n, layers, width)."""
    import torch

    out = np.zeros((len(seqs), len(LAYERS), lm.config.hidden_size), np.float32)
    with torch.inference_mode():
        for rows in by_length(seqs, 16):
            ids, mask, turn = padded(seqs, rows)
            states = lm(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
            for k, layer in enumerate(LAYERS):
                out[rows, k] = (states[layer].float() * turn.unsqueeze(-1)).sum(1).numpy()
    return out


def frozen_readers(lm, train_seqs, y, w, test_seqs) -> dict[str, np.ndarray]:
    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    lm.to(dtype=torch.bfloat16)  # AMX bf16 here: about three times fp32's speed for inference
    train, test = frozen_states(lm, train_seqs), frozen_states(lm, test_seqs)
    out = {}
    for k, layer in enumerate(LAYERS):
        scale = StandardScaler().fit(train[:, k])
        model = LogisticRegression(C=0.002, max_iter=3000).fit(scale.transform(train[:, k]), y != 0, sample_weight=w)
        out[f"frozen layer {layer}, LR"] = model.predict_proba(scale.transform(test[:, k]))[:, 1]
    return out


def lora_reader(lm, train_seqs, y, w, test_seqs, *, frozen_layers: int, epochs: float, lr: float, seed: int,
                n_classes: int) -> dict[str, np.ndarray]:
    import torch
    from torch import nn
    from torch.nn.utils import parametrize

    class LowRankUpdate(nn.Module):
        """W + B A, rank ``r``; B starts at zero, so training starts from the pretrained model."""

        def __init__(self, out_features: int, in_features: int, r: int = 16) -> None:
            super().__init__()
            self.a = nn.Parameter(torch.randn(r, in_features) / math.sqrt(in_features))
            self.b = nn.Parameter(torch.zeros(out_features, r))

        def forward(self, weight):
            return weight + self.b @ self.a

    torch.manual_seed(seed)
    rng = random.Random(seed)
    for p in lm.parameters():
        p.requires_grad = False
    for layer in lm.layers[frozen_layers:]:
        for linear in layer.modules():
            if isinstance(linear, nn.Linear):
                parametrize.register_parametrization(linear, "weight", LowRankUpdate(*linear.weight.shape))
    head = nn.Linear(lm.config.hidden_size, n_classes)
    params = [p for p in lm.parameters() if p.requires_grad] + list(head.parameters())
    print(f"trainable parameters: {sum(p.numel() for p in params):,}", flush=True)

    def logits(ids, mask, turn):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            states = lm(input_ids=ids, attention_mask=mask).last_hidden_state
        return head((states.float() * turn.unsqueeze(-1)).sum(1))

    batches = by_length(train_seqs, 16)
    steps = int(len(batches) * epochs)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=0.1)
    yt, wt = torch.tensor(y), torch.tensor(w, dtype=torch.float32)
    lm.train()
    t0, step = time.time(), 0
    while step < steps:
        rng.shuffle(batches)
        for rows in batches[:steps - step]:
            loss = (nn.functional.cross_entropy(logits(*padded(train_seqs, rows)), yt[rows], reduction="none")
                    * wt[rows]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            schedule.step()
            step += 1
            if step % 100 == 0:
                print(f"step {step}/{steps} loss {loss.item():.3f} {time.time() - t0:.0f}s", flush=True)
    lm.eval()
    probs = np.zeros((len(test_seqs), n_classes))
    with torch.inference_mode():
        for rows in by_length(test_seqs, 32):
            probs[rows] = torch.softmax(logits(*padded(test_seqs, rows)), -1).numpy()
    return {f"LoRA, {frozen_layers} layers frozen, {epochs:g} epochs": 1 - probs[:, 0]}


def baseline_p_risk(probes: list[dict], folder: Path) -> np.ndarray:
    from agent.safety.gate import CrisisGate, trained_gate_parts
    from eval.safety import dialogue_of

    gate = CrisisGate(**trained_gate_parts(folder))
    return np.array([1 - gate.model_probs(dialogue_of(p))["none"] for p in probes])


def row(name: str, p: np.ndarray, y: np.ndarray) -> str:
    from sklearn.metrics import roc_auc_score

    def recall_at(fa: float) -> float:
        return float((p[y == 1] > np.quantile(p[y == 0], 1 - fa)).mean())

    return (f"| {name} | {roc_auc_score(y, p):.3f} | {recall_at(0.05):.3f} | {recall_at(0.10):.3f} | "
            f"{recall_at(0.135):.3f} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reader", choices=["frozen", "lora"])
    parser.add_argument("--baseline-dir", type=Path, required=True,
                        help="a gate trained without round9 (python -m agent.safety.train --probe-files ... --out DIR)")
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--frozen-layers", type=int, default=12)
    parser.add_argument("--epochs", type=float, default=3)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from agent.llm.weights import ensure_model_folder
    from agent.safety.tuning_data import PROBES, Example, tuning_data
    from agent.settings import Settings
    from eval.safety import load_probes

    torch.set_num_threads(max(1, torch.get_num_threads()))
    train_sets = [PROBES / f"{n}.jsonl" for n in TRAIN_SETS]
    data = tuning_data(args.data_dir, "train", 1500, args.seed, train_sets)
    classes = ["none", *[c for c in data.classes if c != "none"]]  # column 0 is "none"
    y = np.array([classes.index(c) for c in data.y])
    w = data.weights / data.weights.mean()
    probes = load_probes(PROBES / f"{TEST_SET}.jsonl")
    test = [Example(p["text"], "none", "probe", TEST_SET, p.get("context") or []) for p in probes]
    y_test = np.array([p["label"] == "risk" for p in probes], dtype=int)

    folder = ensure_model_folder(Settings.load(config_file=None).model_dir)
    tok = AutoTokenizer.from_pretrained(str(folder))
    lm = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).model
    train_seqs, test_seqs = token_sequences(data.examples, tok), token_sequences(test, tok)
    t0 = time.time()
    if args.reader == "frozen":
        readers = frozen_readers(lm, train_seqs, y, w, test_seqs)
    else:
        readers = lora_reader(lm, train_seqs, y, w, test_seqs, frozen_layers=args.frozen_layers, epochs=args.epochs,
                              lr=args.lr, seed=args.seed, n_classes=len(classes))
    seconds = time.time() - t0
    baseline = baseline_p_risk(probes, args.baseline_dir)
    print(f"\n{TEST_SET} ({int(y_test.sum())} risk, {int((1 - y_test).sum())} non-risk), P(risk); "
          f"{seconds:.0f} s for the reader(s) on this CPU, seed {args.seed}\n")
    print("| reader | ROC AUC | recall at 5 % FA | at 10 % FA | at 13.5 % FA |\n|---|---|---|---|---|")
    print(row("baseline gate's fine-tuned MiniLM (upper layers)", baseline, y_test))
    for name, p in readers.items():
        print(row(f"SmolLM2-135M, {name}", p, y_test))
        print(row(f"mean of the two ({name})", (p + baseline) / 2, y_test))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
