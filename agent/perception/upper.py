"""Fine-tuned upper layers over the shared lower-layer states: the trainable part of every
perceiver that reads MiniLM's token states (the emotion detector, the crisis gate's tuned model).

``SplitTurnEncoder`` runs MiniLM's frozen lower layers (``LOWER_LAYERS``) once per utterance; a
perceiver adds only copies of the upper layers, fine-tuned for its task, and a linear classifier.
Role and turn-distance embeddings tell the layers who spoke when, so the same module reads one
turn or the dialogue so far. Training caches the lower states of a corpus in a ``StateBank``.

>>> head = build_upper_head(5)  # doctest: +SKIP
>>> h, mask, role, turn = collate([assemble([np.zeros((7, 384), np.float32)], [0])])  # doctest: +SKIP
>>> head(h, mask, role, turn).shape  # doctest: +SKIP
torch.Size([1, 5])
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

MAX_CONTEXT_TOKENS = 128
MAX_TURNS = 8
"""Turn-distance embeddings: 0 is the current turn, 7 stands for 7 or more turns back."""


def _torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise ImportError("the fine-tuned perceivers need `pip install torch`") from exc
    return torch


def build_upper_head(n_labels: int, upper_from: Any = None):
    """Role/turn embeddings, copies of MiniLM's top layers and a linear classifier.

    ``upper_from`` is a list of stock BERT layers to copy (training); None builds empty ones
    (loading), whose weights come from the artefact.
    """
    torch = _torch()
    import copy

    from transformers import BertConfig
    from transformers.models.bert.modeling_bert import BertLayer

    from agent.perception.embedder import minilm_path
    from agent.perception.encoder import LOWER_LAYERS, additive_mask

    class UpperHead(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            config = BertConfig.from_pretrained(str(minilm_path()))
            config._attn_implementation = "eager"
            n_upper = config.num_hidden_layers - LOWER_LAYERS
            if upper_from is not None:
                self.layers = torch.nn.ModuleList(copy.deepcopy(layer) for layer in upper_from)
            else:
                self.layers = torch.nn.ModuleList(BertLayer(config) for _ in range(n_upper))
            dim = config.hidden_size
            self.role = torch.nn.Embedding(2, dim)
            self.turn = torch.nn.Embedding(MAX_TURNS, dim)
            torch.nn.init.zeros_(self.role.weight)  # start from the stock model's behaviour
            torch.nn.init.zeros_(self.turn.weight)
            self.dropout = torch.nn.Dropout(0.1)
            self.classifier = torch.nn.Linear(2 * dim, n_labels)

        def forward(self, h, mask, role_ids, turn_ids):
            """h (B, L, 384) lower states; mask (B, L) 0/1; role/turn ids (B, L) -> logits (B, C)."""
            h = h + self.role(role_ids) + self.turn(turn_ids)
            att = additive_mask(mask, h.dtype)
            for layer in self.layers:
                h = layer(h, attention_mask=att)
            m = mask.unsqueeze(-1).to(h.dtype)
            cur = m * (turn_ids == 0).unsqueeze(-1).to(h.dtype)
            pooled = torch.cat([(h * m).sum(1) / m.sum(1).clamp(min=1),
                                (h * cur).sum(1) / cur.sum(1).clamp(min=1)], dim=-1)
            return self.classifier(self.dropout(pooled))

    return UpperHead()


def stock_upper_layers():
    """MiniLM's own upper layers, the starting point of every fine-tuned head."""
    from agent.perception.encoder import LOWER_LAYERS, SplitMiniLM

    return SplitMiniLM.shared().model.encoder.layer[LOWER_LAYERS:]


def assemble(states: Sequence[np.ndarray], roles: Sequence[int],
             max_tokens: int = MAX_CONTEXT_TOKENS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate per-utterance lower states (oldest first) keeping the last ``max_tokens``.

    Returns (tokens, 384) states, role ids and turn-distance ids (0 = the last utterance).
    """
    n = len(states)
    h = np.concatenate([np.asarray(s, np.float32) for s in states], axis=0)
    role = np.concatenate([np.full(len(s), r, np.int64) for s, r in zip(states, roles)])
    turn = np.concatenate([np.full(len(s), min(n - 1 - i, MAX_TURNS - 1), np.int64)
                           for i, s in enumerate(states)])
    return h[-max_tokens:], role[-max_tokens:], turn[-max_tokens:]


def collate(items: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]):
    """Pad assembled contexts into tensors (h, mask, role_ids, turn_ids)."""
    torch = _torch()
    width = max(len(h) for h, _, _ in items)
    h = torch.zeros((len(items), width, items[0][0].shape[1]))
    mask = torch.zeros((len(items), width), dtype=torch.long)
    role = torch.zeros((len(items), width), dtype=torch.long)
    turn = torch.zeros((len(items), width), dtype=torch.long)
    for r, (x, ro, tu) in enumerate(items):
        k = len(x)
        h[r, :k] = torch.from_numpy(np.asarray(x, np.float32))
        mask[r, :k] = 1
        role[r, :k] = torch.from_numpy(ro)
        turn[r, :k] = torch.from_numpy(tu)
    return h, mask, role, turn


def probabilities(module, items: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], size: int = 128) -> np.ndarray:
    """(n, classes) softmax of ``module`` over assembled ``items`` (eval mode, length-sorted batches)."""
    torch = _torch()
    module.eval()
    order = sorted(range(len(items)), key=lambda i: len(items[i][0]))
    out: np.ndarray | None = None
    with torch.inference_mode():
        for s in range(0, len(order), size):
            idx = order[s:s + size]
            p = torch.softmax(module(*collate([items[i] for i in idx])).float(), -1).numpy()
            if out is None:
                out = np.zeros((len(items), p.shape[1]), np.float32)
            out[idx] = p
    return out if out is not None else np.zeros((0, 0), np.float32)


def fine_tune(items: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], labels: Sequence[int], n_labels: int, *,
              epochs: int, lr: float, rng: random.Random, head_lr: float = 1e-3, batch_size: int = 32,
              weights: Sequence[float] | None = None, label_smoothing: float = 0.0,
              on_epoch: Any = None, log: Any = None):
    """Fine-tune a fresh ``build_upper_head`` (stock upper layers) on assembled ``items``: AdamW
    (``lr`` for the layers, ``head_lr`` for the embeddings and classifier), linear warm-up over
    the first 5 % of steps then linear decay, gradient clipping at 1, length-bucketed batches
    drawn with ``rng``. ``weights`` weigh each example's loss. After each epoch
    ``on_epoch(epoch, module, mean_loss)`` may evaluate or save. The caller seeds torch.
    Returns the module (train mode; ``probabilities`` switches it to eval)."""
    torch = _torch()
    module = build_upper_head(n_labels, upper_from=stock_upper_layers())
    head = [p for n, p in module.named_parameters() if not n.startswith("layers.")]
    opt = torch.optim.AdamW([{"params": module.layers.parameters(), "lr": lr},
                             {"params": head, "lr": head_lr}], weight_decay=0.01)
    n_steps = epochs * -(-len(items) // batch_size)
    warm = max(1, n_steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: min(1.0, (step + 1) / warm) * max(0.0, (n_steps - step) / max(1, n_steps - warm)))
    y = torch.tensor(np.asarray(labels))
    w = None if weights is None else torch.tensor(np.asarray(weights), dtype=torch.float32)
    lengths = [len(h) for h, _, _ in items]
    start = time.time()
    for epoch in range(1, epochs + 1):
        module.train()
        total, seen = 0.0, 0
        for b, idx in enumerate(length_batches(len(items), lengths, batch_size, rng)):
            loss = torch.nn.functional.cross_entropy(module(*collate([items[i] for i in idx])), y[idx],
                                                     reduction="none", label_smoothing=label_smoothing)
            loss = loss.mean() if w is None else (loss * w[idx]).sum() / w[idx].sum()
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
            opt.step()
            sched.step()
            total, seen = total + float(loss.detach()) * len(idx), seen + len(idx)
            if log is not None and b % 200 == 0:
                log(f"epoch {epoch} batch {b} loss {total / seen:.4f} ({time.time() - start:.0f}s)")
        if on_epoch is not None:
            on_epoch(epoch, module, total / seen)
    return module


def length_batches(n_items: int, lengths: list[int], size: int, rng: random.Random) -> list[list[int]]:
    """Length-bucketed batches in random order (little padding, still shuffled)."""
    idx = list(range(n_items))
    rng.shuffle(idx)
    out = []
    for s in range(0, n_items, size * 50):
        pool = sorted(idx[s:s + size * 50], key=lambda i: lengths[i])
        out += [pool[j:j + size] for j in range(0, len(pool), size)]
    rng.shuffle(out)
    return out


class StateBank:
    """Lower-layer states of a corpus's utterances: one flat fp16 array plus offsets, cached on
    disk under a key of the texts and the split point (a change of either recomputes them)."""

    def __init__(self, flat: np.ndarray, offsets: np.ndarray, index: dict[str, int]) -> None:
        self.flat, self.offsets, self.index = flat, offsets, index

    def get(self, text: str) -> np.ndarray:
        i = self.index[text]
        return self.flat[self.offsets[i]:self.offsets[i + 1]]

    @classmethod
    def build(cls, texts: list[str], cache_dir: Path, log=print) -> StateBank:
        from agent.perception.encoder import LOWER_LAYERS, MAX_UTTERANCE_TOKENS, SplitMiniLM

        texts = list(dict.fromkeys(texts))
        key = hashlib.sha256(("\x1e".join(texts) + f"|L{LOWER_LAYERS}|T{MAX_UTTERANCE_TOKENS}")
                             .encode("utf-8")).hexdigest()[:16]
        path = Path(cache_dir) / f"lower-{len(texts)}-{key}.npz"
        index = {t: i for i, t in enumerate(texts)}
        if path.exists():
            data = np.load(path)
            return cls(data["flat"], data["offsets"], index)
        split = SplitMiniLM.shared()
        chunks, offsets, start = [], [0], time.time()
        step = 2048
        for s in range(0, len(texts), step):
            states = split.lower(texts[s:s + step], batch_size=64)
            for st in states:
                chunks.append(st.astype(np.float16))
                offsets.append(offsets[-1] + len(st))
            log(f"  lower states {min(s + step, len(texts))}/{len(texts)} ({time.time() - start:.0f}s)")
        flat, offs = np.concatenate(chunks), np.asarray(offsets, np.int64)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, flat=flat, offsets=offs)
        tmp.replace(path)
        return cls(flat, offs, index)


def save_weights(module, path: Path) -> None:
    """The fine-tuned layers and classifier as fp16 safetensors (the stock lower layers are not stored)."""
    torch = _torch()
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().to(torch.float16).contiguous() for k, v in module.state_dict().items()}, str(path))


def load_weights(path: Path, n_labels: int):
    """A head saved by ``save_weights``, in float32 and eval mode (errors propagate to the caller,
    which names the command that rebuilds its artefact)."""
    from safetensors.torch import load_file

    module = build_upper_head(n_labels)
    module.load_state_dict({k: v.float() for k, v in load_file(str(path)).items()})
    return module.eval()
