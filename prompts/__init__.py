"""Prompt templates, shipped as package data and rendered with Jinja2.

Templates live beside this file (``*.j2`` for prompts, ``*.yaml`` for structured text such as
the strategy descriptions and crisis resources) and are found with ``importlib.resources``, so an
installed SDK finds them too.

>>> "{{" not in render("system.j2", character_name="Ada", character_profile="", memories=[])
True
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any


@cache
def _environment():
    import jinja2

    # Autoescape is off because the output is a prompt, not HTML; StrictUndefined makes a
    # missing variable an error instead of a silently empty prompt.
    return jinja2.Environment(loader=jinja2.FunctionLoader(_load), autoescape=False,
                              undefined=jinja2.StrictUndefined, trim_blocks=True,
                              lstrip_blocks=True, keep_trailing_newline=False)


def _load(name: str) -> str:
    return files(__name__).joinpath(name).read_text(encoding="utf-8")


def render(name: str, **variables: Any) -> str:
    """Render the template ``name`` (e.g. ``"system.j2"``) with ``variables``."""
    return _environment().get_template(name).render(**variables).strip()


@cache
def load_yaml(name: str) -> Any:
    """Parse the YAML file ``name`` shipped with the prompts (cached)."""
    import yaml

    return yaml.safe_load(_load(name))
