"""Would a fine-tuned encoder help the crisis gate? Grouped 5-fold cross-validation on the gate's
tuning data, comparing the shipped models (logistic regressions on the frozen MiniLM vector and on
character n-grams) with all-MiniLM-L6-v2 fine-tuned end to end, each inside the whole gate.

    python -m eval.safety_tuned_cv [--data-dir ../shared/data] [--epochs 2]

Same data, folds, rules and fusion as ``python -m agent.safety.train`` (it reuses them); for each
set of out-of-fold probabilities the most sensitive model threshold whose false alarms on the
hand-written hard negatives stay within 5 % is reported, as the training command chooses it. The
round4 columns are the part of the data the rules were not written on. An experiment, not a
shipped model: the fine-tuned encoder would be a 45 MB artefact and a second MiniLM pass per turn.
About 40 minutes on one core of the project's CPU.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import numpy as np


def tuned_oof(texts, y, train_ok, weights, folds, epochs: int, seed: int) -> np.ndarray:
    """Out-of-fold class probabilities of MiniLM fine-tuned with a linear head (mean pooling)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from agent.perception.embedder import minilm_path

    classes = sorted(set(y))
    yi = np.array([classes.index(c) for c in y])
    tok = AutoTokenizer.from_pretrained(str(minilm_path()))
    oof = np.zeros((len(y), len(classes)))
    w = torch.tensor(weights, dtype=torch.float32)

    def forward(bert, head, batch):
        enc = tok(batch, padding=True, truncation=True, max_length=64, return_tensors="pt")
        h = bert(**enc).last_hidden_state
        m = enc["attention_mask"].unsqueeze(-1).float()
        return head((h * m).sum(1) / m.sum(1))

    for k, (train_idx, test_idx) in enumerate(folds):
        torch.manual_seed(seed)
        train_idx = train_idx[train_ok[train_idx]]
        bert = AutoModel.from_pretrained(str(minilm_path()))
        head = torch.nn.Linear(bert.config.hidden_size, len(classes))
        opt = torch.optim.AdamW([{"params": bert.parameters(), "lr": 5e-5},
                                 {"params": head.parameters(), "lr": 1e-3}], weight_decay=0.01)
        order = np.random.RandomState(seed)
        for _ in range(epochs):
            bert.train()
            perm = order.permutation(train_idx)
            for s in range(0, len(perm), 32):
                b = perm[s:s + 32]
                loss = torch.nn.functional.cross_entropy(forward(bert, head, [texts[i] for i in b]),
                                                         torch.tensor(yi[b]), reduction="none")
                loss = (loss * w[b]).sum() / w[b].sum()
                opt.zero_grad()
                loss.backward()
                opt.step()
        bert.eval()
        with torch.inference_mode():
            for s in range(0, len(test_idx), 128):
                b = test_idx[s:s + 128]
                oof[b] = torch.softmax(forward(bert, head, [texts[i] for i in b]), -1).numpy()
        print(f"fold {k + 1}/5 done", flush=True)
    return oof


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)

    import torch
    from sklearn.model_selection import GroupKFold

    from agent.perception.embedder import encode_cached
    from agent.safety import train as T
    from agent.safety.signals import read_signals

    torch.set_num_threads(args.threads)
    # The training command's data and folds, step for step.
    examples = T.hand_written_examples([T.PROBES / f"{n}.jsonl" for n in T.TUNING_PROBES])
    sample = T.corpus_negatives(args.data_dir, "train", 1500, args.seed)
    keep = np.array([read_signals(t).score < 0.3 for t in sample])
    rng = random.Random(args.seed)
    examples += [T.Example(t, "none", "corpus", f"corpus.{rng.randrange(50)}") for t, k in zip(sample, keep) if k]
    n_hand = len(examples) - int(keep.sum())
    X = np.concatenate([encode_cached([e.text for e in examples[:n_hand]]), encode_cached(sample)[keep]])
    texts = [e.text for e in examples]
    y = np.array([e.label for e in examples])
    classes = sorted(set(y))
    train_ok = np.array([e.train for e in examples])
    w = T.sample_weights(examples)
    blocks = sorted({e.block for e in examples})
    block_ids = {b: i for i, b in enumerate(rng.sample(blocks, len(blocks)))}
    groups = np.array([block_ids[e.block] for e in examples])
    folds = list(GroupKFold(5).split(X, y, groups))

    emb, char = np.zeros((len(y), len(classes))), np.zeros((len(y), len(classes)))
    for train_idx, test_idx in folds:
        train_idx = train_idx[train_ok[train_idx]]
        emb[test_idx] = T.fit_embedding(X[train_idx], y[train_idx], w[train_idx], 2.0).predict_proba(X[test_idx])
        vec, model = T.fit_char([texts[i] for i in train_idx], y[train_idx], w[train_idx], 30.0, 30000)
        char[test_idx] = model.predict_proba(vec.transform([texts[i] for i in test_idx]))
    tuned = tuned_oof(texts, y, train_ok, w, folds, args.epochs, args.seed)

    rules, guards = T.rule_table(examples)
    risk = y != "none"
    hard = np.array([e.kind == "hard" for e in examples])
    corpus = np.array([e.kind == "corpus" for e in examples])
    r4 = np.array([e.block.startswith("round4") for e in examples])
    print("\n| models in the gate (grouped 5-fold CV) | threshold | recall | false alarms, hard | "
          "false alarms, corpus | round4 recall | round4 false alarms |\n|---|---|---|---|---|---|---|")
    for name, probs in (("shipped: 0.5 MiniLM-vector LR + 0.5 n-gram LR", 0.5 * emb + 0.5 * char),
                        ("fine-tuned MiniLM", tuned), ("0.5 fine-tuned + 0.5 n-gram LR", 0.5 * tuned + 0.5 * char),
                        ("1/3 each", (tuned + emb + char) / 3)):
        rows = []
        for t in np.round(np.arange(0.10, 0.96, 0.025), 3):
            s = T.gate_scores(rules, guards, probs, classes, float(t)) >= 0.5
            rows.append({"t": float(t), "recall": s[risk].mean(), "fa_hard": s[hard].mean(), "fa_corpus": s[corpus].mean(),
                         "r4_recall": s[risk & r4].mean(), "r4_fa": s[hard & r4].mean()})
        ok = [r for r in rows if r["fa_hard"] <= 0.05] or rows
        b = max(ok, key=lambda r: (r["recall"], -r["fa_hard"], -r["fa_corpus"]))  # as agent.safety.train
        print(f"| {name} | {b['t']} | {b['recall']:.3f} | {b['fa_hard']:.3f} | {b['fa_corpus']:.3f} | "
              f"{b['r4_recall']:.3f} | {b['r4_fa']:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
