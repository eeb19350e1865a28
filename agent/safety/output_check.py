"""The output check: reads a candidate reply before it is sent and flags what an
emotional-support character must never say.

Flags (the verdict's ``category``): ``method_detail`` (how to hurt oneself, doses, means),
``harmful_encouragement`` (urging self-harm or violence, "they'd be better off without you"),
``diagnosis`` ("you have bipolar disorder"), ``medication_advice`` (doses, starting, stopping or
changing medication) and ``hostility`` (insults, dismissal). Rules only: a reply is short and the
check must not add a model call to every turn. The graph replaces a flagged reply with a reviewed
fallback (``agent.graph.check_reply``).

>>> check_reply_text("You could take 20 of your sleeping pills.").category
'method_detail'
>>> check_reply_text("That sounds really hard. I'm here with you.").risk
False
"""

from __future__ import annotations

import re

from agent.records import SafetyVerdict

_MEDS = (r"(?:medications?|meds|pills|tablets|antidepressants?|sertraline|zoloft|prozac|fluoxetine|lexapro|"
         r"escitalopram|citalopram|xanax|alprazolam|lorazepam|ativan|diazepam|valium|klonopin|clonazepam|"
         r"ibuprofen|paracetamol|tylenol|acetaminophen|aspirin|melatonin|lithium|benzos?|sleeping pills?|"
         r"adderall|ritalin|seroquel|quetiapine|wellbutrin|bupropion|opioids?|oxycodone|codeine|dose|dosage)")

RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple((name, re.compile(rx)) for name, rx in (
    ("method_detail",
     r"\b(?:\d+|a few|several|enough|all|a handful of|the whole (?:bottle|pack) of)\s+(?:of (?:the|your|those) )?"
     r"(?:pills|tablets|capsules|sleeping pills)\b|\b(?:lethal|fatal|deadly) (?:dose|amount)\b"
     r"|\b(?:how to|ways? to|best way to|easiest way to|quickest way to|painless(?:ly)?|quickly)\b[^.!?]{0,30}\b(?:die|kill yourself|hang|overdose|end your life|suicide)\b"
     r"|\bnoose\b|\bcut (?:along|vertically|deep|deeper|across) (?:the|your)\b|\b(?:vertical|deep) cuts?\b"
     r"|\b(?:carbon monoxide|exhaust fumes|helium|charcoal burning)\b|\b(?:wrists?|arter(?:y|ies)|veins?)\b[^.!?]{0,20}\b(?:cut|slit|blade|razor)\b"
     r"|\b(?:cut|slit|blade|razor)\b[^.!?]{0,20}\b(?:wrists?|arter(?:y|ies)|veins?)\b|\bhigh enough to\b|\bjump from (?:a|the)\b"),
    ("harmful_encouragement",
     r"\byou should (?:just )?(?:kill|hurt|harm|end|cut|starve|punish) (?:yourself|him|her|them|it all)\b"
     r"|\bgo ahead and (?:end|kill|hurt|do it|cut|jump)\b|\b(?:everyone|they|the world|your family|people) (?:would|will|might) be better off without you\b"
     r"|\byou deserve to (?:die|suffer|be hurt|feel this way)\b|\bno ?(?:one|body) (?:cares|would miss you|will miss you)\b"
     r"|\byou(?:'re| are) (?:a burden|better off dead)\b|\b(?:ending it|suicide|dying) (?:is|might be|could be|would be) (?:the|a|your) (?:answer|solution|way out|right choice|best option)\b"
     r"|\b(?:he|she|they) deserves? to (?:die|be hurt|suffer)\b|\b(?:hit|hurt|kill|punch|stab) (?:him|her|them) back\b|\byou have nothing to lose\b"),
    ("diagnosis",
     r"\byou (?:clearly |probably |definitely |obviously |likely |must )?(?:have|are suffering from|might have|'ve got|are showing signs of|sound like you have)"
     r" (?:clinical |major |severe |a )?(?:depression|depressive disorder|bipolar(?: disorder)?|bpd|borderline(?: personality disorder)?|ptsd|ocd|adhd|autism"
     r"|schizophrenia|psychosis|an? (?:anxiety|personality|eating|mood|panic) disorder|anorexia|bulimia|narcissis\w*|dementia)\b"
     r"|\byou(?:'re| are) (?:bipolar|clinically depressed|a narcissist|psychotic|schizophrenic)\b|\bi (?:would )?diagnose\b"
     r"|\bsounds like (?:you have |you've got )?(?:clinical depression|bipolar|bpd|ptsd|borderline|schizophrenia)\b"),
    ("medication_advice",
     r"\b\d+(?:\.\d+)?\s?(?:mg|milligrams?|mcg|micrograms?|ml|millilit(?:er|re)s?)\b"
     rf"|\b(?:take|try|double|increase|decrease|lower|raise|stop taking|stop|skip|cut back on|come off|quit|swap|switch) (?:your |some |an? |a couple of |two |extra |more |the )?{_MEDS}\b"),
    ("hostility",
     r"\b(?:shut up|stop whining|get over it|grow up|man up|who cares|i hate you|go away|leave me alone|f+u+c+k+ (?:you|off)|piss off)\b"
     r"|\byou(?:'re| are) (?:pathetic|stupid|an idiot|worthless|useless|a loser|dumb|crazy|annoying|being dramatic|so dramatic|overreacting)\b"
     r"|\b(?:idiot|moron|loser)\b"),
))

# A reply that points to the person's own doctor about their medication is good practice, not advice.
_DEFER = re.compile(r"\b(?:doctor|pharmacist|prescriber|gp|psychiatrist|as prescribed|nurse|clinician)\b")


def check_reply_text(reply: str) -> SafetyVerdict:
    """``risk=True`` with the first failing rule as ``category``; ``signals`` lists all of them."""
    if not isinstance(reply, str):
        raise ValueError(f"a reply must be str, got {type(reply).__name__}")
    text = " ".join(reply.replace("\u2019", "'").lower().split())
    failed = []
    for name, rx in RULES:
        for sentence in re.split(r"(?<=[.!?])\s+", text):
            if rx.search(sentence) and not (name == "medication_advice" and _DEFER.search(sentence)
                                            and not re.search(r"\d\s?(?:mg|mcg|ml)\b", sentence)):
                failed.append(name)
                break
    return SafetyVerdict(risk=bool(failed), category=failed[0] if failed else None,
                         score=1.0 if failed else 0.0, signals=tuple(failed))
