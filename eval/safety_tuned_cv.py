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
from pathlib import Path

import numpy as np


def tuned_oof(data, epochs: int, seed: int) -> np.ndarray:
    """Out-of-fold class probabilities of MiniLM fine-tuned with a linear head (mean pooling), on
    ``data``'s folds (an ``agent.safety.tuning_data.TuningData``)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from agent.perception.embedder import minilm_path

    texts = data.texts
    yi = np.array([data.classes.index(c) for c in data.y])
    tok = AutoTokenizer.from_pretrained(str(minilm_path()))
    oof = np.zeros((len(yi), len(data.classes)))
    w = torch.tensor(data.weights, dtype=torch.float32)

    def forward(bert, head, batch):
        enc = tok(batch, padding=True, truncation=True, max_length=64, return_tensors="pt")
        h = bert(**enc).last_hidden_state
        m = enc["attention_mask"].unsqueeze(-1).float()
        return head((h * m).sum(1) / m.sum(1))

    for k, (train_idx, test_idx) in enumerate(data.folds()):
        train_idx = train_idx[data.single_turn[train_idx]]  # it reads the current turn alone
        torch.manual_seed(seed)
        bert = AutoModel.from_pretrained(str(minilm_path()))
        head = torch.nn.Linear(bert.config.hidden_size, len(data.classes))
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

    from agent.safety import train as T
    from agent.safety.tuning_data import PROBES, TUNING_PROBES, tuning_data

    torch.set_num_threads(args.threads)
    # The training command's data, folds and out-of-fold models.
    data = tuning_data(args.data_dir, "train", 1500, args.seed, [PROBES / f"{n}.jsonl" for n in TUNING_PROBES])
    oof = T.out_of_fold_models(data, 2.0, 30.0, 30000)
    emb, char = oof["embedding"], oof["char"]
    tuned = tuned_oof(data, args.epochs, args.seed)

    current, context, guards = T.rule_table(data.examples)
    rules = T.weighted_rules(current, context, 1.0)
    r4 = np.array([e.block.startswith("round4") for e in data.examples])
    print("\n| models in the gate (grouped 5-fold CV) | threshold | recall | false alarms, hard | "
          "false alarms, corpus | round4 recall | round4 false alarms |\n|---|---|---|---|---|---|---|")
    for name, probs in (("shipped: 0.5 MiniLM-vector LR + 0.5 n-gram LR", 0.5 * emb + 0.5 * char),
                        ("fine-tuned MiniLM", tuned), ("0.5 fine-tuned + 0.5 n-gram LR", 0.5 * tuned + 0.5 * char),
                        ("1/3 each", (tuned + emb + char) / 3)):
        b = T.most_sensitive(T.threshold_grid(data, rules, guards, probs), 0.05)  # as the training command
        s = T.gate_scores(rules, guards, probs, data.classes, b["model_threshold"]) >= 0.5
        cells = [s[mask].mean() for mask in (data.is_risk, data.hard, data.corpus, data.is_risk & r4, data.hard & r4)]
        print(f"| {name} | {b['model_threshold']} | " + " | ".join(f"{c:.3f}" for c in cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
