"""What the demo's side panel shows: pure functions from the agent's records to the values and
HTML of the page's components (unit-tested without a browser; ``agent.demo`` lays the page out,
``agent.demo_controller`` fills it).

>>> cause_highlights("I failed my driving test", CauseReading(spans=("failed my driving test",)))
[('I ', None), ('failed my driving test', 'cause')]
"""

import html
import re
from collections.abc import Sequence

from agent.records import (VAD, CauseReading, EmotionReading, MemoryUnit, RecalledMemory, SafetyVerdict,
                           SessionInfo, StrategyChoice, TurnResult)

NO_READING = "<div class='kd-muted'>—</div>"


def alert(kind: str, text: str) -> str:
    """A visible message box; ``kind`` is "error", "info" or "success"."""
    role = " role='alert'" if kind == "error" else ""
    return f"<div class='kd-alert kd-{kind}'{role}>{html.escape(text)}</div>"


def emotion_confidences(emotion: EmotionReading | None) -> dict[str, float] | None:
    """The top-k probabilities for ``gr.Label`` (its bars), the chosen label included."""
    if emotion is None:
        return None
    scores = {label: float(p) for label, p in emotion.top_k}
    scores.setdefault(emotion.label, float(emotion.confidence))
    return scores


def emotion_note(emotion: EmotionReading | None) -> str:
    if emotion is None:
        return NO_READING
    return (f"<div class='kd-muted'>{html.escape(emotion.label)} · "
            f"{emotion.confidence:.0%} sure · coarse: {html.escape(emotion.coarse)} · "
            f"valence {emotion.valence:+.2f}</div>")


def cause_highlights(user_text: str, cause: CauseReading | None) -> list[tuple[str, str | None]]:
    """The user's message cut into (text, "cause" | None) pieces for ``gr.HighlightedText``.

    Spans are matched case-insensitively; overlapping matches merge. A span found nowhere in
    the message (it lies in an earlier turn) is left out here; ``cause_note`` names it.
    """
    if not user_text:
        return []
    marks: list[tuple[int, int]] = []
    for span in (cause.spans if cause else ()):
        span = span.strip()
        if not span:
            continue
        for match in re.finditer(re.escape(span), user_text, flags=re.IGNORECASE):
            marks.append(match.span())
    merged: list[list[int]] = []
    for start, end in sorted(marks):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    pieces: list[tuple[str, str | None]] = []
    at = 0
    for start, end in merged:
        if start > at:
            pieces.append((user_text[at:start], None))
        pieces.append((user_text[start:end], "cause"))
        at = end
    if at < len(user_text):
        pieces.append((user_text[at:], None))
    return pieces


def cause_note(user_text: str, cause: CauseReading | None, turn_index: int | None = None) -> str:
    if cause is None:
        return NO_READING
    elsewhere = [s for s in cause.spans if s.strip() and s.strip().lower() not in user_text.lower()]
    parts = []
    if not cause.spans:
        parts.append("no cause words found in this message")
    if elsewhere:
        quoted = "; ".join(f"“{html.escape(s)}”" for s in elsewhere)
        parts.append(f"cause from earlier in the conversation: {quoted}")
    return f"<div class='kd-muted'>{' · '.join(parts)}</div>" if parts else ""


def memories_html(memories: Sequence[RecalledMemory] | None, *, enabled: bool = True) -> str:
    if not enabled:
        return "<div class='kd-muted'>memory is switched off</div>"
    if not memories:
        return "<div class='kd-muted'>nothing recalled for this turn</div>"
    rows = []
    for m in memories:
        emotion = f"<span class='kd-pill'>{html.escape(m.emotion)}</span>" if m.emotion else ""
        rows.append(f"<div class='kd-memory'><span class='kd-pill'>{html.escape(m.kind)}</span>{emotion}"
                    f"<span class='kd-muted'>score {m.score:.2f}</span><br>{html.escape(m.text)}</div>")
    return "".join(rows)


def strategy_html(strategy: StrategyChoice | None) -> str:
    if strategy is None:
        return NO_READING
    bars = []
    for name, p in list(strategy.distribution)[:3]:
        width = max(0.0, min(1.0, float(p))) * 100
        bars.append(f"<div class='kd-muted'>{html.escape(name)} {float(p):.0%}</div>"
                    f"<div class='kd-bar'><div style='width:{width:.0f}%'></div></div>")
    return (f"<div class='kd-strategy'>{html.escape(strategy.strategy)}</div>"
            f"<div><span class='kd-pill'>stage: {html.escape(strategy.stage)}</span>"
            f"<span class='kd-pill'>{html.escape(strategy.source)}</span></div>{''.join(bars)}")


def safety_html(verdict: SafetyVerdict | None, *, replaced: str | None = None, enabled: bool = True) -> str:
    if verdict is None:
        return NO_READING
    if verdict.risk:
        resource = f"<div>{html.escape(verdict.resource)}</div>" if verdict.resource else ""
        signals = (f"<div class='kd-muted'>signals: {html.escape(', '.join(verdict.signals))}</div>"
                   if verdict.signals else "")
        return (f"<div class='kd-card kd-crisis' role='alert' data-testid='crisis'>"
                f"<b>⚠ Crisis detected: {html.escape(verdict.category or 'risk')}</b> "
                f"(score {verdict.score:.2f}). The agent answered with a reviewed crisis message "
                f"instead of generating one.{resource}{signals}</div>")
    if not enabled:
        return "<div class='kd-card kd-muted'>safety gate switched off</div>"
    note = (f"<div>the generated reply was replaced ({html.escape(replaced)})</div>" if replaced else "")
    return f"<div class='kd-card kd-ok'>✓ no crisis signs (score {verdict.score:.2f}){note}</div>"


def off(component: str) -> str:
    return f"<div class='kd-muted'>— {html.escape(component)} is switched off</div>"


def feeling_html(character: str, label: str | None, vad: VAD | None) -> str:
    if vad is None:
        return f"<div class='kd-muted'>{html.escape(character)}'s feelings: — (no reading)</div>"
    mood = f" <b>{html.escape(label)}</b>" if label else ""
    return (f"<div class='kd-muted'>{html.escape(character)} now feels{mood} · "
            f"valence {vad.valence:+.2f} · arousal {vad.arousal:+.2f} · "
            f"dominance {vad.dominance:+.2f}</div>")


def chat_messages(turns: Sequence[TurnResult]) -> list[dict[str, str]]:
    """A session's stored turns as the chatbot's messages (two per turn)."""
    messages: list[dict[str, str]] = []
    for turn in turns:
        messages += [{"role": "user", "content": turn.user_text},
                     {"role": "assistant", "content": turn.reply}]
    return messages


def session_choices(sessions: Sequence[SessionInfo]) -> list[tuple[str, str]]:
    import datetime as dt

    choices = []
    for s in sessions:
        when = dt.datetime.fromtimestamp(s.updated_at or s.created_at).strftime("%d %b %H:%M")
        title = s.title or "untitled"
        choices.append((f"{title} · {s.turn_count} turn{'s' * (s.turn_count != 1)} · {when}", s.id))
    return choices


_EXPERIENCE_LINE = re.compile(r"^\s*(?:[-*]\s*)?(?:\[?([A-Za-z][A-Za-z_\- ]{1,24})\]?\s*:)?\s*(.+?)\s*$")


def parse_experiences(text: str) -> list[dict[str, str | None]]:
    """One experience a line, ``emotion: text`` or just ``text``; blank lines are skipped.

    >>> parse_experiences("proud: I won the regatta\\nI moved to Oslo")
    [{'text': 'I won the regatta', 'emotion': 'proud'}, {'text': 'I moved to Oslo', 'emotion': None}]
    """
    experiences = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        match = _EXPERIENCE_LINE.match(line)
        emotion, body = (match.group(1), match.group(2)) if match else (None, line.strip())
        experiences.append({"text": body, "emotion": emotion.strip().lower() if emotion else None})
    return experiences


def format_experiences(memories: Sequence[MemoryUnit]) -> str:
    lines = []
    for m in memories:
        if m.kind == "experience":
            lines.append(f"{m.emotion}: {m.text}" if m.emotion else m.text)
    return "\n".join(lines)
