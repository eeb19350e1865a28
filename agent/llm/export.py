"""Export the embedded model's Hugging Face folder, so that vLLM serves the very same weights.

``export_model(settings, dest)`` converts the GGUF once (into ``settings.model_dir``, if that has
not happened yet) and copies the folder to ``dest``, atomically: it is written beside ``dest``
and renamed into place. ``dest`` must not exist, be an empty folder, or already hold the same
export (same files and sizes: then nothing is done, so CI can rerun it).

    python -m agent.llm.export ~/models/smollm2          # then:
    vllm serve ~/models/smollm2 --served-model-name SmolLM2-135M-Instruct   # on a GPU
    .ci/vllm.sh start ~/models/smollm2 8000                                # the CPU build here

>>> export_model(Settings.load(config_file=None), Path("/tmp/smollm2"))  # doctest: +SKIP
PosixPath('/tmp/smollm2')
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from agent.llm.weights import ensure_model_folder, is_model_folder

if TYPE_CHECKING:
    from agent.settings import Settings


def export_model(settings: Settings, dest: str | Path) -> Path:
    """Copy the embedded model's Hugging Face folder to ``dest`` and return ``dest``."""
    dest = Path(dest).expanduser().resolve()
    source = ensure_model_folder(settings.model_dir).resolve()
    if dest == source or _same_files(source, dest):
        return dest
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise FileExistsError(f"{dest} already exists and is not an empty folder; "
                              "choose a new path or remove it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.tmp-{os.getpid()}"
    try:
        shutil.copytree(source, tmp)
        if dest.exists():
            dest.rmdir()
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not is_model_folder(dest):  # pragma: no cover - a copy that lost files
        raise OSError(f"export to {dest} is incomplete")
    return dest


def _same_files(a: Path, b: Path) -> bool:
    def listing(folder: Path) -> set[tuple[str, int]]:
        return {(p.name, p.stat().st_size) for p in folder.iterdir() if p.is_file()}

    return b.is_dir() and is_model_folder(b) and listing(a) == listing(b)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m agent.llm.export",
        description="Write the embedded SmolLM2 model as a Hugging Face folder (for vLLM).")
    parser.add_argument("dest", type=Path, help="folder to create (must not exist, or be empty)")
    parser.add_argument("--config", default="auto",
                        help="settings file (TOML/YAML); default: $KINDRED_CONFIG or ./kindred.toml")
    args = parser.parse_args(argv)
    from agent.settings import Settings

    try:
        dest = export_model(Settings.load(config_file=args.config), args.dest)
    except (FileExistsError, OSError, ValueError, RuntimeError) as exc:
        print(f"export failed: {exc}", file=sys.stderr)
        return 1
    print(dest)
    print(f"serve it with: vllm serve {dest} --served-model-name SmolLM2-135M-Instruct",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
