"""Validation of what users send: the SDK's first line of defence against bad input.

>>> clean_message("  Hello\\x00 there  ")
'Hello there'
>>> clean_message("   ")
Traceback (most recent call last):
...
agent.messages.InvalidMessage: the message is empty
"""

from __future__ import annotations

import re
import unicodedata

MAX_MESSAGE_CHARS = 4000
"""Longer messages are refused rather than cut: a silent cut could drop what matters most."""

# C0/C1 control characters except tab and newline; they carry no meaning in chat and can break
# terminals, logs and prompt templates.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class InvalidMessage(ValueError):
    """The user's message cannot be processed; the text says why."""


def clean_message(text: object, *, max_chars: int = MAX_MESSAGE_CHARS) -> str:
    """The message as the agent will read it: decoded, NFC-normalised, without control
    characters, stripped. Raises ``InvalidMessage`` for non-text, invalid UTF-8, empty or
    over-long input."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidMessage(f"the message is not valid UTF-8 (byte {exc.start})") from exc
    if not isinstance(text, str):
        raise InvalidMessage(f"the message must be text, not {type(text).__name__}")
    # Lone surrogates come from broken decoders and cannot be encoded for storage.
    text = text.encode("utf-8", errors="replace").decode("utf-8")
    text = unicodedata.normalize("NFC", _CONTROL.sub("", text)).strip()
    if not text:
        raise InvalidMessage("the message is empty")
    if len(text) > max_chars:
        raise InvalidMessage(f"the message is too long ({len(text)} characters; the limit is {max_chars})")
    return text
