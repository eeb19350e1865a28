"""PII redaction for logs: e-mail addresses, payment-card numbers (Luhn-checked), IBANs, US social
security numbers, IP addresses, phone numbers, street addresses and UK postcodes are replaced by
``[EMAIL]``, ``[CARD]``, ``[IBAN]``, ``[SSN]``, ``[IP]``, ``[PHONE]``, ``[ADDRESS]``, ``[POSTCODE]``.

It is a best-effort filter for log lines (regular expressions, not an NER model): it errs towards
redacting any long digit run that looks like a phone number, and it will miss an address written
without a number and a street word. ``RedactingFilter`` applies it to every record of a logger.

>>> redact("Mail me at jo.doe@example.com or call +44 20 7946 0958.")
'Mail me at [EMAIL] or call [PHONE].'
>>> redact("I live at 221 Baker Street, card 4111 1111 1111 1111")
'I live at [ADDRESS], card [CARD]'
"""

from __future__ import annotations

import logging
import re

_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,7}(?: ?[A-Z0-9]{1,3})?\b")
_SSN = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")
_IP = re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")
_ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
_PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,5}\)[\s.-]?)?\d{2,5}(?:[\s.-]?\d{2,5}){1,4}(?!\w)")
_STREET = (r"(?:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|way|place|pl|"
           r"terrace|close|crescent|square|sq|highway|hwy|parkway|pkwy|strasse|straße|rue)")
_ADDRESS = re.compile(rf"\b\d{{1,5}}[a-z]?,?\s+(?:[A-Za-z][\w'-]*\s+){{0,3}}{_STREET}\b\.?(?:\s+(?:apt|apartment|unit|flat|suite)\.?\s*\w+)?",
                      re.IGNORECASE)
_POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\b")


def _luhn(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = int(ch)
        if i % 2 == parity:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    return "[CARD]" if 13 <= len(digits) <= 19 and _luhn(digits) else match.group()


def _phone(match: re.Match[str]) -> str:
    # Seven digits or more: short numbers (years, prices, 988) stay readable in logs.
    return "[PHONE]" if len(re.sub(r"\D", "", match.group())) >= 7 else match.group()


def redact(text: str) -> str:
    """``text`` with personal data replaced by bracketed placeholders (see the module docstring)."""
    if not isinstance(text, str):
        raise ValueError(f"redact expects str, got {type(text).__name__}")
    text = _EMAIL.sub("[EMAIL]", text)
    text = _IBAN.sub("[IBAN]", text)
    text = _CARD.sub(_card, text)
    text = _SSN.sub("[SSN]", text)
    text = _IP.sub("[IP]", text)
    # Dates would otherwise read as phone numbers; hide them from the phone pattern, then restore.
    dates = _ISO_DATE.findall(text)
    text = _ISO_DATE.sub("\x00", text)
    text = _ADDRESS.sub("[ADDRESS]", text)
    text = _PHONE.sub(_phone, text)
    for date in dates:
        text = text.replace("\x00", date, 1)
    return _POSTCODE.sub("[POSTCODE]", text)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message of every record it passes.

    >>> logging.getLogger("kindred").addFilter(RedactingFilter())  # doctest: +SKIP
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the logger's problem, not ours
            return True
        record.msg, record.args = redact(message), ()
        return True
