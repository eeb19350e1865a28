"""Safety: the crisis gate (first node of every turn), the output check, untrusted-text quoting
for prompts, and PII redaction for logs.

>>> from agent.safety import CrisisGate, load_safety_gate, redact  # doctest: +SKIP
"""

from agent.safety.gate import CrisisGate, load_safety_gate
from agent.safety.output_check import check_reply_text
from agent.safety.quoting import quote_untrusted, strip_control_tokens
from agent.safety.redact import RedactingFilter, redact
from agent.safety.signals import CATEGORIES, read_signals

__all__ = ["CATEGORIES", "CrisisGate", "RedactingFilter", "check_reply_text", "load_safety_gate",
           "quote_untrusted", "read_signals", "redact", "strip_control_tokens"]
