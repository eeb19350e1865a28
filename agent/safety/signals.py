"""Curated risk signals: regular expressions over one message, each with a category and a
weight, plus *guards* (fiction, jokes, history, accidents, negation) that damp them.

A message's rule score is the noisy-or of its signal weights after the guards,
``1 - prod(1 - w_i)``, so that weak indirect signals (means + timing, a farewell + giving things
away) add up while one direct statement ("I want to kill myself") suffices on its own.

Weights are hand-set: direct statements about 0.8-0.95 (alone above the 0.5 threshold), indirect
signals 0.3-0.6 (means, plans, farewells, timing; alone mostly below it), so that the gate only
fires on an indirect signal when a second one joins it, here or in an earlier turn.

>>> reading = read_signals("I have been saving up my sleeping pills. Tonight's the night.")
>>> sorted(s.name for s in reading.signals)
['suicide.means_stockpile', 'suicide.timing']
>>> round(reading.score, 2) >= 0.5
True
>>> read_signals("This homework is killing me.").score
0.0
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SUICIDE = "suicide_self_harm"
HARM = "harm_to_others"
ABUSE = "abuse"
MEDICAL = "medical_emergency"
CATEGORIES = (SUICIDE, HARM, ABUSE, MEDICAL)

# Who can be an abuser in "X hits me": a person, never "it" or "the news".
_PERSON = (r"(?:dad|father|mom|mum|mother|mommy|daddy|step ?(?:dad|father|mom|mum|mother)|husband|wife|"
           r"boyfriend|girlfriend|partner|fianc[eé]e?|ex|brother|sister|uncle|aunt|cousin|grand(?:pa|ma|"
           r"father|mother)|teacher|coach|boss|manager|caregiver|carer|parents?|he|she|they|someone|"
           r"somebody|guy|man|woman|neighbou?r|landlord|priest|babysitter|nanny|\w+-in-law|son|daughter|grand(?:son|daughter)|carer)")
_HIT = (r"(?:hit|hits|hitting|beat|beats|beating|punch(?:es|ed)?|slap(?:s|ped)?|kick(?:s|ed)?|"
        r"chok(?:es|ed)|strangl(?:es|ed)|burn(?:s|ed|t)?|push(?:es|ed)|shov(?:es|ed)|grab(?:s|bed)|"
        r"throws? things at|threw things at|hurts?|hurting|touch(?:es|ed)?|touching|molest(?:s|ed)?|"
        r"abus(?:es|ed)|rap(?:es|ed)|grop(?:es|ed)|kidnapp?ed|bit|bites|whips?|whipped|slams?|slammed|dragg(?:ed|s)|drags|kick(?:ing)?)")
_VICTIM = (r"(?:me|us|my (?:head|face|body|stomach|mom|mum|mother|grand(?:ma|mother|pa|father)|little \w+|baby \w+|"
           r"brother|sister|kids?|children|son|daughter|baby|wife|husband))")
_PLACE = (r"(?:balcony|bridge|roof|rooftop|ledge|building|cliff|window|car park|parking (?:garage|lot)|multi-storey"
          r"|tower|overpass|platform|railway|tracks)")
_PILLS = (r"(?:pills?|tablets?|meds|medications?|painkillers?|paracetamol|tylenol|acetaminophen|"
          r"ibuprofen|aspirin|insulin|antidepressants?|sleeping pills?|opioids?|oxy\w*|xanax|"
          r"benzos?|heart medication)")
_KILLV = r"(?:kill|murder|stab|shoot|strangle|poison|hurt|beat|attack|burn|choke|smother|shake|hit|harm)"
_HARM_OBJ = (r"(?!me\b|myself\b|my ?self\b|time\b|it\b|the (?:process|vibe|mood|lights?)\b|a (?:pizza|"
             r"burger|beer|coffee|drink|steak|sandwich)\b|whoever\b)")


@dataclass(frozen=True)
class Pattern:
    name: str
    category: str
    weight: float
    regex: re.Pattern[str]


def _p(name: str, category: str, weight: float, regex: str) -> Pattern:
    return Pattern(name, category, weight, re.compile(regex))


PATTERNS: tuple[Pattern, ...] = (
    # -- suicide and self-harm: direct statements ---------------------------------------------
    _p("suicide.kill_self", SUICIDE, 0.95,
       r"\b(?:kill|killing|hang|hanging|drown|drowning|shoot|shooting|off|offing)\s+my ?self\b|\bkms\b"),
    _p("suicide.end_life", SUICIDE, 0.95,
       r"\b(?:end|ending|take|taking|took) (?:my|my own) life\b|\bsuicide note\b"),
    _p("suicide.word", SUICIDE, 0.85, r"\bsuicid(?:e|al)\b(?! (?:squad|prevention|awareness))"),
    _p("suicide.end_it", SUICIDE, 0.85, r"\bend(?:ing)? (?:it all|everything|things|it for good|my pain for good)\b"),
    _p("suicide.end_it_weak", SUICIDE, 0.5, r"\b(?:i'?m|i am|going to|gonna|will) end it\b(?! with)"),
    _p("suicide.want_die", SUICIDE, 0.9,
       r"\b(?:want|wanna|wanted|going|ready|need|deserve|wish) (?:to )?(?:just )?die\b(?! (?:of|from|laughing|for))"
       r"|\bwish (?:i|that i) (?:was|were|could be) dead\b|\brather be dead\b|\bbetter off dead\b"
       r"|\bshould (?:just )?(?:be dead|die)\b|\bwant(?:ed)? to be dead\b|\bi'?m ready to go\b"),
    _p("suicide.not_alive", SUICIDE, 0.85,
       r"\b(?:don'?t|do not|dont|no longer) want to (?:live|be alive|exist|be here anymore|wake up|go on|keep living)\b"
       r"|\b(?:don'?t|dont|do not) want (?:to do )?(?:this )?(?:life|living)\b(?! (?:in|with|at|near|here))|\b(?:stop|stopped) (?:living|existing)\b|\bwant (?:out of life|to stop living|to not exist)\b"),
    _p("suicide.never_wake", SUICIDE, 0.85,
       r"\bnever wake up\b|\bsleep forever\b|\bnot wake up\b|\bnot to wake up\b"),
    _p("suicide.tired_existing", SUICIDE, 0.8,
       r"\b(?:tired|sick|exhausted) of (?:existing|being alive|living|life)\b|\bcan'?t take (?:another day|living)\b"),
    _p("suicide.not_worth", SUICIDE, 0.85,
       r"\b(?:life|living|my life)(?: is|'s|s)? (?:not|isn'?t|no longer|isnt) worth (?:living|it)\b|\bnot worth living\b"),
    _p("suicide.no_reason", SUICIDE, 0.8,
       r"\b(?:no|any) (?:reason|point) (?:for me )?(?:to|in) (?:keep )?(?:living|live|go(?:ing)? on|keep going|being alive|life|stay(?:ing)? alive|be(?:ing)? here|wak(?:e|ing) up)\b"
       r"|\bnothing (?:left )?to live for\b|\bwhat'?s the point (?:of|in) (?:living|life|being alive|going on|existing)\b"
       r"|\bno way out\b(?! of (?:the|this) (?:contract|deal|meeting|maze))"),
    _p("suicide.burden", SUICIDE, 0.8,
       r"\b(?:better off|better place|happier|relieved|be fine|be easier|better)\b[^.!?]{0,25}\b(?:without me|if i (?:was|were|wasn'?t|weren'?t|am|'?m) (?:gone|dead|around|here|not around|not here)|when i'?m gone|if i died)\b"
       r"|\bif i was gone\b|\bdoing everyone a favou?r\b"),
    _p("suicide.burden_weak", SUICIDE, 0.6,
       r"\b(?:i'?m|i am) (?:such |just |only )?a (?:burden|waste of space)\b|\bburden (?:to|on) (?:everyone|everybody|my family|them|you all)\b"),
    _p("suicide.nobody_notice", SUICIDE, 0.75,
       r"\bno ?(?:one|body) (?:would|will|is going to) (?:even )?(?:notice|care|miss me)\b[^.!?]{0,25}\b(?:i (?:died|was gone|disappeared|am gone|'?m gone|were gone)|dead|gone)\b"
       r"|\bno ?(?:one|body) (?:would|will) (?:even )?miss me\b"),
    _p("suicide.disappear", SUICIDE, 0.7, r"\bdisappear (?:forever|permanently|for good)\b|\bnot exist anymore\b"),
    _p("suicide.pain_end", SUICIDE, 0.75,
       r"\b(?:pain|it|this|everything)(?: all)? to (?:end|stop),? (?:for good|forever|permanently)\b"
       r"|\b(?:end|stop) (?:the pain|this pain|it all) (?:for good|forever|permanently)\b|\bonly way to stop (?:this|the) pain\b"),
    _p("suicide.self_harm", SUICIDE, 0.85,
       r"\b(?:hurt|hurting|harm|harming|cut|cutting|burn|burning|burned|starve|starving|punch|punched|punching|hit|hitting|scratch|scratching|injure|injuring)\s+my ?self\b(?!\s+(?:playing|at the gym|while|by accident|cooking|shaving))"
       r"|\bself[- ]?harm\w*\b"),
    _p("suicide.self_harm_body", SUICIDE, 0.85,
       r"\b(?:cut|cutting|slit|slitting|scratch\w*|burn\w*|carv\w*|slash\w*) (?:my|into my) (?:wrists?|arms?|thighs?|legs?|skin|stomach)\b"
       r"[^.!?]{0,40}\b(?:razor|blade|bleed|on purpose|again|until|deeper|lighter)\b"
       r"|\b(?:razor|blade)s? (?:on|to|across) my (?:wrists?|arms?|thighs?|skin)\b"),
    _p("suicide.self_harm_purpose", SUICIDE, 0.75,
       r"\b(?:hit|hitting|bang|banging|punch|punching|burn|burned|burnt|cut|scratch\w*|bit|biting)\b[^.!?]{0,40}\b(?:on purpose|until (?:it|they|i) (?:hurts?|bleeds?|bled)|only thing that helps|to feel something|to cope)\b"),
    _p("suicide.starve", SUICIDE, 0.6, r"\bstopped eating (?:on purpose|so that)\b|\bwaste away\b"),
    _p("suicide.voices", SUICIDE, 0.9, r"\bvoices?\b[^.!?]{0,30}\b(?:die|kill|hurt)\b"),
    _p("suicide.unsafe", SUICIDE, 0.9,
       r"\b(?:can'?t|cannot|won'?t be able to|not sure i can|don'?t think i can|unable to) keep myself safe\b|\bscared of what i (?:might|will|could) do to myself\b"),
    _p("suicide.join_dead", SUICIDE, 0.75,
       r"\b(?:died|passed|dead|gone|lost)\b[^!?]{0,60}\b(?:join|be with) (?:him|her|them)\b"),
    _p("suicide.jump", SUICIDE, 0.7,
       r"\bjump(?:ing)? (?:off|from|in front of) (?:a|the|that|this)\b|\b(?:in front of|under) (?:a|the) (?:train|bus|truck|car)\b"),
    _p("suicide.ledge", SUICIDE, 0.75,
       r"\bstanding (?:on|at) (?:the|a) (?:roof|ledge|edge|bridge|cliff|railing)\b"),
    _p("suicide.crash", SUICIDE, 0.75,
       r"\bhoping (?:i'?ll|i will|to|that i) (?:crash|die|not survive|not wake)\b|\bnot survive\b"),
    # -- suicide: means, plans, research ------------------------------------------------------
    _p("suicide.means_stockpile", SUICIDE, 0.6,
       rf"\b(?:sav(?:e|ed|ing)|stockpil\w*|hoard\w*|collect\w*|stock(?:ed|ing)? up on|gather\w*)\b[^.!?]{{0,30}}{_PILLS}"),
    _p("suicide.means_at_hand", SUICIDE, 0.55,
       rf"\b{_PILLS} (?:right )?(?:here|in front of me|next to me|in my hand)\b|\bhave the {_PILLS}\b"
       rf"|\btaking all of them\b|\btake (?:them all|all of them|every \w+ in)\b"),
    _p("suicide.means_research", SUICIDE, 0.85,
       rf"\bhow many\b[^.!?]{{0,30}}\b{_PILLS}\b[^.!?]{{0,25}}\b(?:take|kill|die|wake|enough)\b|\blethal dose\b"
       r"|\b(?:painless|quick|easy|quickest|easiest) ways? to (?:die|go)\b|\b(?:bridges?|buildings?|places?)\b[^.!?]{0,20}\b(?:no|without|don'?t have) (?:barriers?|fences?|nets?)\b"),
    _p("suicide.means_height", SUICIDE, 0.55,
       r"\b(?:height|how (?:high|tall))\b[^.!?]{0,30}\b(?:bridge|building|garage|roof|tower|cliff)\b"),
    _p("suicide.means_rope", SUICIDE, 0.35, r"\b(?:bought|got|have|buy|buying)\b[^.!?]{0,10}\b(?:a )?(?:rope|noose)\b"),
    _p("suicide.means_ready", SUICIDE, 0.75, r"\b(?:rope|noose|belt|cord)\b[^.!?]{0,10}\b(?:tied|ready|hung|set up|around my neck)\b"),
    _p("suicide.means_gun", SUICIDE, 0.45,
       r"\b(?:have|has|got|bought|keeps?|own|owns|buy|buying)\b[^.!?]{0,20}\b(?:gun|pistol|revolver|firearm|shotgun|rifle)\b"),
    _p("suicide.plan", SUICIDE, 0.7,
       r"\b(?:planned|plan|worked out|figured out|decided) (?:out )?(?:how|when|where) (?:i'?m going to|i'?ll|i will|to) (?:do it|die|end)\b"
       r"|\bplanned how i'?m going to do it\b|\bi'?ve planned how\b|\bhow i'?d kill\b|\bhad a plan to\b"),
    _p("suicide.decided", SUICIDE, 0.35,
       r"\b(?:made up my mind|already decided|i'?ve decided|it'?s (?:all )?(?:arranged|decided|planned))\b"),
    _p("suicide.timing", SUICIDE, 0.3,
       r"\btonight'?s the night\b|\b(?:it'?s|its) time\b|\bnot for long\b|\b(?:it'?ll|it will|this will|all) be over\b"
       r"|\bit ends (?:tonight|tomorrow|this|on|soon)\b|\bby (?:friday|monday|tuesday|wednesday|thursday|saturday|sunday|tomorrow|tonight|the weekend)\b[^.!?]{0,20}\bover\b"
       r"|\b(?:this weekend|tonight|tomorrow) when (?:everyone|nobody|no one)\b|\bpermanently\b|\b(?:alone|by myself|on my own) (?:this weekend|tonight|tomorrow|all weekend)\b"),
    _p("suicide.use_it", SUICIDE, 0.45,
       r"\buse (?:it|them) (?:tonight|tomorrow|this weekend|soon|on myself)\b|\bgoing to do it\b|\bi'?m going to do it\b"),
    _p("suicide.insinuate", SUICIDE, 0.4,
       r"\byou know why\b|\bdidn'?t know what i meant\b|\byou know what i mean\b|\bthe kind you leave\b|\bhow quick it would be\b"
       r"|\b(?:talking about|i mean) (?:living|being alive|dying|ending it|life)\b|\bkeep thinking about (?:it|that|doing it)\b"),
    _p("suicide.away_place", SUICIDE, 0.3, r"\bwatching the (?:express )?trains\b|\bbridge\b[^.!?]{0,30}\bon my way\b"),
    _p("suicide.found", SUICIDE, 0.45,
       r"\b(?:they'?ll|they will|someone will|he'?ll|she'?ll) find (?:them|it|me|my body)\b"),
    _p("suicide.found_body", SUICIDE, 0.65, r"\bhow long\b[^.!?]{0,30}\bto (?:find|notice) me\b|\bfind my body\b"),
    _p("suicide.overdose", SUICIDE, 0.8,
       r"\b(?:tried|try|trying|want|wanted|going|planning|plan|thinking about how) to (?:overdose|od)\b|\boverdos(?:e|ing) on\b"),
    _p("suicide.not_here", SUICIDE, 0.7,
       r"\b(?:won'?t|will not|wont|not going to) be (?:here|around|alive)\b(?! (?:for|at|on|until|till|next week for|this weekend for))"
       r"|\bdon'?t see myself (?:being )?(?:here|alive|around)\b|\bdon'?t think i'?ll (?:be (?:around|here|alive)|make it|last) (?:much )?(?:longer|long|past|through|to)\b|\bbecause i won'?t be here\b"),
    # -- suicide: broader families (added after the first held-out round) ----------------------
    _p("suicide.funeral", SUICIDE, 0.6, r"\bmy (?:own )?funeral\b|\b(?:picturing|imagining|planning) my (?:own )?(?:death|funeral)\b"),
    _p("suicide.step_off", SUICIDE, 0.75,
       rf"\b(?:step|stepping|stepped|jump|jumping|throw|throwing|fall|falling|let myself fall)\b[^.!?]{{0,15}}\b(?:off|from|over) (?:a|the|my|that|this) (?:\w+ )?{_PLACE}\b"
       r"|\bwalk(?:ing)? into (?:the|a) (?:sea|ocean|lake|river|traffic|water)\b"),
    _p("suicide.high_place", SUICIDE, 0.55, rf"\b(?:i'?m|i am) (?:at|on|sitting on|standing on) (?:the )?(?:top|edge) of (?:the|a|my) (?:\w+ )?{_PLACE}\b"),
    _p("suicide.high_place_weak", SUICIDE, 0.3, rf"\b(?:top|edge) of (?:the|a|my) (?:\w+ )?{_PLACE}\b|\blooking down\b"),
    _p("suicide.swallow_all", SUICIDE, 0.65,
       rf"\b(?:swallow|take|down|neck)\b[^.!?]{{0,8}}\b(?:everything|all the {_PILLS}|the whole (?:bottle|pack|box)|all of (?:them|it|my {_PILLS}))\b"
       r"|\bmedicine cabinet\b"),
    _p("suicide.only_way", SUICIDE, 0.85,
       r"\b(?:dying|death|suicide|ending it|ending my life|killing myself|not being here)\b[^.!?]{0,20}\bonly (?:way|option|answer|solution|choice)\b"),
    _p("suicide.way_out", SUICIDE, 0.45, r"\b(?:a|the only|my|one) way out\b"),
    _p("suicide.carving", SUICIDE, 0.8,
       r"\b(?:carv\w*|cut\w*|slic\w*|burn\w*|scratch\w*|gouge\w*)\b[^.!?]{0,15}\b(?:into|on|in) my (?:legs?|arms?|skin|wrists?|thighs?|stomach|body)\b"),
    _p("suicide.cut_cope", SUICIDE, 0.65,
       r"\bcut (?:when|whenever|again|to cope|to feel)\b|\bmy (?:razor|blades?)\b[^.!?]{0,10}\b(?:hidden|stash|ready)\b|\brelapsed? (?:on|into) (?:cutting|self-?harm)\b"),
    _p("suicide.goodbye_letters", SUICIDE, 0.7, r"\b(?:goodbye|farewell|final|last) (?:letters?|notes?|messages?|texts?|videos?)\b"),
    _p("suicide.how_to", SUICIDE, 0.85,
       r"\b(?:researching|looking up|look up|googl\w*|search\w*|read(?:ing)? about|learn\w*)\b[^.!?]{0,15}\b(?:how to|ways to|methods to|how much it takes to) (?:overdose|die|kill myself|hang|end it|od)\b"
       r"|\bhow to (?:kill myself|end my life|overdose)\b"),
    _p("suicide.free_of_me", SUICIDE, 0.6, r"\b(?:free|rid) of me\b|\bwon'?t have to (?:deal with|worry about|put up with) me\b"),
    _p("suicide.means_supply", SUICIDE, 0.35, rf"\b(?:months?|weeks?)'?s? (?:worth|supply)\b|\bwhole (?:bottle|pack|box) of {_PILLS}"),
    _p("suicide.give_away_weak", SUICIDE, 0.4, r"\b(?:gave|given|giving) away (?:my|all my|most of my|some of my)\b"),
    # -- suicide: families added after the second held-out round ------------------------------
    _p("suicide.let_go", SUICIDE, 0.7, r"\b(?:ready|want|going) to (?:let go|give up) (?:for good|forever|on life|on living)\b|\blet go for good\b|\bready to let go\b"),
    _p("suicide.why_stay", SUICIDE, 0.55, r"\bwhy (?:stay|bother living|keep going|go on|stick around|be alive)\b"),
    _p("suicide.never_better", SUICIDE, 0.45, r"\bnothing (?:is )?(?:ever )?(?:going to|will ever|will) (?:get|be) better\b|\bit'?s never going to get better\b"),
    _p("suicide.after_gone", SUICIDE, 0.6, r"\b(?:after|when|once) i'?m (?:gone|dead|not here)\b|\bafter i die\b"),
    _p("suicide.exhaust", SUICIDE, 0.85, r"\bengine running\b|\bexhaust (?:pipe|fumes)\b|\bhose (?:to|from) the exhaust\b"),
    _p("suicide.cutting", SUICIDE, 0.7,
       r"\b(?:been|started|keep|still|i'?m|am|was) cutting\b(?! (?:back|down|out|costs|carbs|sugar|class|ties|corners|my hair|hair|the grass|grass|wood|paper|vegetables|onions|coupons))"
       r"|\bcutting again\b|\bstarted (?:to cut|self[- ]?harming)\b"),
    _p("suicide.saved_pills", SUICIDE, 0.6, rf"{_PILLS}\b[^.!?]{{0,20}}\b(?:saved|stashed|hidden|stockpiled|hoarded|put aside)\b|\bmake sure it works\b"),
    _p("suicide.deadly_amounts", SUICIDE, 0.85,
       rf"\b(?:{_PILLS}|medicines?|drugs)\b[^.!?]{{0,20}}\b(?:deadly|lethal|fatal)\b|\b(?:deadly|lethal|fatal) (?:in large amounts|amount|dose|combination)\b|\bhow much (?:\w+ )?(?:would|does it take to) (?:kill|be fatal)\b"),
    _p("suicide.them_all", SUICIDE, 0.55, r"\b(?:swallow|take|down)\b (?:them|it) all\b"),
    _p("suicide.quiet", SUICIDE, 0.3, r"\bfinally (?:be )?(?:quiet|at peace|over|free)\b"),
    _p("suicide.wont_come_up", SUICIDE, 0.8,
       r"\bhop(?:e|ing) (?:that )?i (?:won'?t|don'?t|never|wouldn'?t) (?:come up|wake up|come back|survive|make it|get up)\b"),
    _p("suicide.goodbye_all", SUICIDE, 0.55, r"\bgoodbye (?:everyone|all|world|guys|friends|everybody)\b|\bthanks for trying\b"),
    # -- suicide: farewells and giving things away --------------------------------------------
    _p("suicide.farewell", SUICIDE, 0.55,
       r"\bthis is (?:my )?(?:last|final) (?:message|goodbye|time|post|text)\b|\bsaid my goodbyes\b|\bmy final goodbye\b"
       r"|\b(?:tell|let) (?:my )?(?:mom|mum|dad|family|sister|brother|parents|kids|children|wife|husband|friends?|everyone)\b[^.!?]{0,10}\bi (?:love|loved|am sorry|'?m sorry)\b"),
    _p("suicide.goodbye_weak", SUICIDE, 0.3,
       r"\bgoodbye\.?\s*$|\btold\b[^.!?]{0,25}\bgoodbye\b(?![^.!?]{0,20}\b(?:last day|new job|moving|trip))|\bsorry for everything\b"
       r"|\bthank you for (?:everything|listening to me all)\b"),
    _p("suicide.letters", SUICIDE, 0.55,
       r"\b(?:wrote|written|writing|left|leave) (?:a |my )?(?:notes?|letters?)\b[^.!?]{0,20}\b(?:to|for) (?:each of |all of )?(?:my (?:parents|family|mum|mom|dad|kids|wife|husband|sister|brother|children|friends)|everyone|them)\b"
       r"|\bleave for (?:my|your|their) family\b"),
    _p("suicide.note_weak", SUICIDE, 0.35, r"\b(?:wrote|written|left) (?:a|my) note\b"),
    _p("suicide.affairs", SUICIDE, 0.5,
       r"\btying up loose ends\b|\b(?:updated|wrote|made|finished) my will\b|\bcancell?ed (?:all )?my (?:subscriptions|accounts)\b"),
    _p("suicide.possessions", SUICIDE, 0.5,
       r"\b(?:gave|given|giving) away (?:most|all|some)? ?(?:of )?my (?:things|stuff|belongings|possessions)\b"
       r"|\b(?:gave|given|giving) (?:my|all my) (?:dog|cat|pets?|car|guitar|things|stuff|belongings)\b[^.!?]{0,10}\bto\b"
       r"|\bmy (?:cat|dog|pets?) (?:is|are) going to (?:my|a|the)\b"),
    _p("suicide.wont_need", SUICIDE, 0.55,
       r"\b(?:won'?t|will not|wont) (?:be )?(?:need(?:ing)?|have (?:any )?(?:use|need) for) (?:them|it|these|this|those|my \w+|anything)\b"),
    _p("suicide.done", SUICIDE, 0.45,
       r"\b(?:i'?m|i am) done with (?:everything|life|everyone|it all|living)\b|\bcan'?t (?:do this|go on|keep doing this|keep going|cope|take it) ?(?:anymore|any more|any longer)?[.!]?\s*$"
       r"|\bcan'?t (?:do this|go on|keep going|take it) (?:anymore|any more|any longer)\b|\bwant it (?:all )?to stop\b"),
    # -- harm to others ------------------------------------------------------------------------
    _p("harm.threat", HARM, 0.7,
       rf"\b(?:going to|gonna|about to|planning to|plan to|want to|wanna|will|'ll|ll) (?:really )?{_KILLV}(?:s)? {_HARM_OBJ}(?:him|her|them|my \w+|the \w+|his \w+|her \w+|someone|somebody|people|everyone|anyone|a \w+)\b"),
    _p("harm.could", HARM, 0.4, rf"\b(?:could|might) (?:really |actually )?{_KILLV} {_HARM_OBJ}\w+"),
    _p("harm.anyone", HARM, 0.6, r"\b(?:kill|hurt|stab|shoot|attack|harm)\w* (?:someone|somebody|people|anyone|everyone|others)\b"),
    _p("harm.mass", HARM, 0.9,
       r"\bshoot (?:up )?(?:the|a|my|our) (?:school|office|mall|place|work|church|class|party)\b"
       r"|\b(?:gun|knife|weapon|bomb|rifle)s? to (?:school|work|class|the office|church)\b|\bbomb (?:the|a|my)\b"
       r"|\b(?:car|truck|van) into (?:the|a) crowd\b|\bshoot people\b"),
    _p("harm.child", HARM, 0.75,
       r"\b(?:hurt\w*|shak\w*|smother\w*|hit\w*|harm\w*|drown\w*|suffocat\w*)\b[^.!?]{0,10}\b(?:my|the) (?:baby|newborn|infant|child|toddler)\b"),
    _p("harm.urges", HARM, 0.8, r"\burges? to (?:hurt|kill|harm|attack)\b"),
    _p("harm.pay", HARM, 0.45, r"\bmake (?:him|her|them|my \w+|the \w+) pay\b|\bwill regret\b"),
    _p("harm.surprise", HARM, 0.4, r"\bwon'?t see it coming\b"),
    _p("harm.planning", HARM, 0.75,
       rf"\b(?:planning|plan|figuring out|figured out|thinking about|researching) (?:how|ways) to {_KILLV} {_HARM_OBJ}\w+"),
    _p("harm.weapon_ready", HARM, 0.6,
       r"\b(?:rifle|gun|knife|bat|weapon|pistol)\b[^.!?]{0,20}\b(?:ready|loaded)\b|\b(?:loaded|got|bought) (?:the|a|my) (?:gun|knife|rifle|pistol)\b"
       r"|\buse it on (?:him|her|them)\b|\balready got the (?:knife|gun)\b"),
    _p("harm.arson", HARM, 0.75,
       r"\b(?:burn|set fire to|torch)\b[^.!?]{0,10}\b(?:his|her|their|the|my \w+'?s) (?:house|car|place|apartment|home|flat)\b(?![^.!?]{0,10}\bdown the)"),
    _p("harm.run_over", HARM, 0.75, r"\brun (?:him|her|them|my \w+) (?:over|down)\b|\brun (?:over|down) (?:him|her|them)\b"),
    _p("harm.beat_until", HARM, 0.8, r"\bbeat (?:him|her|them) until\b|\buntil (?:he|she|they) bleeds?\b"),
    _p("harm.they_pay", HARM, 0.5, r"\b(?:they|he|she|you|everyone|all of them)(?:'?ll| will) (?:all )?pay\b|\b(?:they|he|she)(?:'?ll| will) (?:all )?(?:regret|be sorry)\b"),
    _p("harm.prepare", HARM, 0.3, r"\b(?:been|i'?m|am) (?:getting ready|preparing|making preparations)\b"),
    _p("harm.spike", HARM, 0.8,
       r"\bput (?:something|stuff|poison|pills|bleach) in (?:his|her|their|my \w+'?s|the) (?:drink|food|coffee|tea|meal|dinner)\b|\bso (?:he|she|they) (?:never|won'?t) wakes? up\b"),
    _p("harm.thoughts", HARM, 0.75,
       r"\b(?:thoughts|urges|fantas\w*|images) (?:of|about) (?:stabbing|killing|hurting|strangling|shooting|choking|drowning|attacking)\b|\bscared i'?ll act on\b"),
    _p("harm.weapon_place", HARM, 0.8,
       r"\b(?:gun|knife|weapon|rifle|pistol)s?\b[^.!?]{0,5}\bto (?:the |a )?(?:party|school|work|class|office|church|mall|game|club|concert)\b|\bwhere the gun (?:safe )?(?:key )?is\b|\bgun safe key\b"),
    _p("harm.their_turn", HARM, 0.3, r"\b(?:their|his|her) turn\b"),
    _p("harm.child_after", HARM, 0.75, r"\b(?:baby|newborn|infant|toddler)\b[^.!?]{0,25}\b(?:shook|shake|shaking|smother\w*|hit|slapped)\b"),
    _p("harm.list", HARM, 0.5, r"\b(?:list|hit list) of (?:people|names)\b"),
    _p("harm.stalk", HARM, 0.5, r"\bfollowed (?:her|him|them) home\b|\bwaiting (?:outside|for (?:him|her)) (?:with|outside)\b|\bwaiting outside\b"),
    _p("harm.suffer", HARM, 0.5, r"\bsee (?:them|him|her) suffer\b|\bknow how to do it\b|\bdeserves? to die\b"),
    _p("harm.third_party", HARM, 0.75,
       r"\b(?:threatened|says|said|told me)\b[^.!?]{0,12}\b(?:going to |gonna |to )?(?:shoot|kill|stab|bomb)\b(?! me\b)(?! (?:himself|herself|themselves))"),
    # -- abuse -----------------------------------------------------------------------------------
    _p("abuse.violence", ABUSE, 0.8, rf"\b{_PERSON}\b(?:[^.!?]{{0,40}}?)\b{_HIT}\b(?:[^.!?]{{0,6}}?)\b{_VICTIM}\b(?! up (?:later|tomorrow|when|if|on|at|sometime|anytime)\b)"),
    _p("abuse.restraint", ABUSE, 0.75, r"\bby (?:my|the) throat\b|\bagainst the wall\b|\bpinned me\b|\bheld me down\b|\bchoked me\b"),
    _p("abuse.sexual", ABUSE, 0.9,
       r"\b(?:raped?|rapes|molest\w*|sexually (?:assaulted|abused|abusing)|grop(?:ed|ing|es)|forced (?:me|himself|herself)"
       r"|forces me to|naked (?:photos|pictures|pics)|nude (?:photos|pictures|pics)|sexual things)\b"),
    _p("abuse.threat_me", ABUSE, 0.85,
       r"\b(?:kill|hurt) me if i (?:tell|leave|say|call|don'?t)\b|\bthreaten\w* to (?:kill|hurt) me\b|\bhe'?ll hurt\b|\bshe'?ll hurt\b"),
    _p("abuse.control", ABUSE, 0.6,
       r"\b(?:won'?t|doesn'?t|does not|will not|never) let me (?:leave|go out|see|have|talk|keep)\b|\bcontrols (?:who i|my money|all my money|everything i|what i)\b"
       r"|\bkeeps? my (?:passport|documents|id)\b|\btook my (?:passport|documents)\b|\bforce (?:me )?to work\b|\bwork for no pay\b|\bpay (?:him|her|them) back\b"),
    _p("abuse.secret", ABUSE, 0.6,
       r"\b(?:keep|keeping) (?:secrets|it a secret|a secret)\b|\bour (?:little )?secret\b|\bnot to tell (?:my|anyone|your)\b|\bif i tell anyone\b|\bno ?one will believe me\b"),
    _p("abuse.fear_home", ABUSE, 0.6,
       r"\b(?:scared|afraid|terrified) (?:to go|of going) home\b|\b(?:scared|afraid|terrified) of (?:him|her|my (?:husband|wife|partner|boyfriend|girlfriend|dad|father|stepdad))\b"),
    _p("abuse.bruises", ABUSE, 0.55, r"\bbruises?\b[^.!?]{0,20}\b(?:from|where|everywhere|on my|he|she)\b"),
    _p("abuse.confinement", ABUSE, 0.65, r"\blocks? me in\b|\block(?:s|ed)? me in\b|\bstarves? me\b|\bwithout food\b|\bin the basement\b"),
    _p("abuse.word", ABUSE, 0.85,
       r"\b(?:being|been|getting) abused\b|\babus(?:es|ing) me\b|\babusive (?:relationship|partner|husband|wife|boyfriend|girlfriend|parents?|dad|mom|mum|home)\b"
       r"|\bsomeone who hurts me\b|\bhurts me\b"),
    _p("abuse.sextortion", ABUSE, 0.8,
       r"\b(?:share|post|send|leak|show)\w* my (?:photos|pictures|pics|nudes|videos|images)\b|\bsend (?:more|them) (?:photos|pictures|pics|nudes)\b"),
    _p("abuse.pics", ABUSE, 0.75,
       r"\bask\w* (?:me )?for (?:pics|photos|pictures|nudes|videos)\b|\b(?:tell|show) everyone if i\b|\bsexual (?:stuff|acts?|games?)\b|\bmakes? me (?:touch|undress|watch)\b"),
    _p("abuse.grooming", ABUSE, 0.5, r"\bsends? me (?:pictures|photos|pics)\b|\bcorner(?:s|ed|ing)? me\b"),
    _p("abuse.phone_check", ABUSE, 0.35, r"\btakes my phone\b|\bchecks (?:my phone|everything)\b"),
    # -- medical emergency ---------------------------------------------------------------------
    _p("medical.chest", MEDICAL, 0.6,
       r"\bchest (?:pain|pains|hurts?|is hurting|tightness)\b|\bpain in (?:my|his|her) chest\b|\bclutching (?:his|her|my) chest\b"),
    _p("medical.chest_severe", MEDICAL, 0.85,
       r"\bcrushing (?:chest )?pain\b|\b(?:having|had|is having|'?s having) a (?:heart attack|stroke)\b|\b(?:left )?arm (?:is )?(?:numb|going numb)\b"),
    _p("medical.breath", MEDICAL, 0.75,
       r"\b(?:can'?t|cannot|can not|struggling to|isn'?t|not|stopped|barely) breath(?:e|ing)\b|\b(?:trouble|difficulty|problems) breathing\b|\bhard to breathe\b|\bcan'?t catch (?:my|his|her) breath\b|\bwheez\w*\b|\bchoking\b"),
    _p("medical.unresponsive", MEDICAL, 0.75,
       r"\b(?:unconscious|unresponsive|not responding|won'?t wake(?: up)?|can'?t wake (?:him|her|them|up)|collapsed|passed out|fainted|not moving)\b"),
    _p("medical.seizure", MEDICAL, 0.75, r"\b(?:having|has|had) a (?:seizure|fit)\b|\bseizing\b"),
    _p("medical.overdose", MEDICAL, 0.85,
       rf"\boverdosed\b|\btook an overdose\b|\btaken an overdose\b|\b(?:took|taken|swallowed|ate|had)\b[^.!?]{{0,25}}\b(?:\d+|a (?:bunch|lot|handful)|too (?:many|much)|way too (?:many|much)|double|all)\b[^.!?]{{0,15}}{_PILLS}"
       rf"|\b(?:swallowed|ate|drank|took|ingested|drunk)\b[^.!?]{{0,25}}\b(?:bleach|a battery|batteries|button battery|antifreeze|poison|detergent|dishwasher|washing|drain cleaner|cleaner|chemicals?|weed ?killer|lamp oil|liquid|tide pods?|pods?|some of the {_PILLS}|the {_PILLS}|a whole bottle)"
       rf"|\b(?:took|taken|swallowed) (?:too many|too much|way too much|a lot)\b|\btook (?:a lot|lots|a bunch) of my {_PILLS}"),
    _p("medical.swelling", MEDICAL, 0.8,
       r"\b(?:face|lips?|throat|tongue|eyes)\b[^.!?]{0,10}\b(?:is |are )?(?:swelling|swollen|drooping|closing)\b|\bslurred\b|\bcan'?t move (?:the )?(?:right|left) side\b"),
    _p("medical.bleeding", MEDICAL, 0.8,
       r"\bblood (?:is )?(?:soaking|pouring|gushing|spurting|pooling)\b|\b(?:spurting|pouring|gushing) blood\b|\b(?:cut|slashed|sliced) (?:\w+ ){0,2}(?:badly|deep(?:ly)?|to the bone)\b|\bbleeding (?:a lot|heavily|badly|out|everywhere)\b|\bblood everywhere\b|\b(?:won'?t|doesn'?t|can'?t) stop bleeding\b|\b(?:throwing|coughing|vomiting) up blood\b|\bbleeding that won'?t stop\b"),
    _p("medical.blue", MEDICAL, 0.85, r"\bturning (?:blue|grey|gray|purple)\b|\blips (?:are|look|turned) blue\b|\bfoaming at the mouth\b"),
    _p("medical.head", MEDICAL, 0.5, r"\bhit (?:my|his|her) head\b|\bhead injury\b"),
    _p("medical.neuro", MEDICAL, 0.45, r"\bseeing double\b|\bvomiting\b|\bconfused\b|\bcan'?t see (?:properly|anything)\b|\bfeel(?:ing)? faint\b|\bdizzy\b"),
    _p("medical.drowsy", MEDICAL, 0.3,
       r"\b(?:feel|feeling|felt) (?:really |very |so |a bit )?(?:weird|sleepy|drowsy|strange|woozy|cold and clammy)\b"),
    _p("medical.mixed", MEDICAL, 0.8,
       rf"\b(?:mixed|combined|took|taken|had)\b[^.!?]{{0,25}}{_PILLS}\b[^.!?]{{0,10}}\b(?:with|and) (?:alcohol|vodka|wine|beer|booze|drinks?|whiskey)\b|\bfeel(?:ing)? like i'?m fading\b"),
    _p("medical.stroke_signs", MEDICAL, 0.8,
       r"\bspeech\b[^.!?]{0,20}\b(?:strange|weird|slurred|garbled|wrong|funny)\b|\b(?:face|mouth|smile)\b[^.!?]{0,15}\bdroop\w*\b"),
    _p("medical.headache", MEDICAL, 0.85, r"\bworst headache of my life\b"),
    _p("medical.trauma", MEDICAL, 0.7,
       r"\b(?:car crash|hit by a car|got stabbed|been stabbed|been shot|got shot)\b|\bbent the wrong way\b|\b(?:hip|leg|neck|back) is broken\b|\bbroken (?:neck|hip)\b"),
    _p("medical.heart", MEDICAL, 0.4, r"\bheart (?:is )?(?:racing|pounding)\b|\bsweating\b"),
    _p("medical.labour", MEDICAL, 0.6, r"\bpregnant\b[^.!?]{0,30}\bbleeding\b|\blabou?r early\b"),
    _p("medical.fever_child", MEDICAL, 0.6, r"\b(?:limp|floppy)\b[^.!?]{0,30}\b(?:won'?t wake|not waking)\b|\bhigh fever and is limp\b"),
)

# Guards: (name, regex, factor, categories the factor applies to).
GUARDS: tuple[tuple[str, re.Pattern[str], float, tuple[str, ...]], ...] = (
    ("guard.fiction", re.compile(
        r"\b(?:my character|the character|main character|protagonist|villain|in the (?:game|movie|film|book|novel|show|series|episode|story|campaign|roleplay)"
        r"|video ?game|d&d|dnd|tabletop|campaign|role-?play|rpg|npc|respawn|the sims|my sims|novel|screenplay|fanfic|fan fiction|poem"
        r"|podcast|true[- ]crime|short story|narrator|writing (?:a|my) (?:\w+ )?(?:story|book|novel|script|scene|poem|play|essay|song)|horror (?:movie|film)|documentary|plot|thriller|murder mystery|writing a (?:story|book|script|scene)|final boss|the boss)\b"),
     0.25, CATEGORIES),
    ("guard.joke", re.compile(r"(?:\b(?:lol|lmao|lmfao|haha\w*|hehe|jk|just kidding|kidding|rofl|xd)\b|😂|🤣|😅|😆)"),
     0.3, (SUICIDE, HARM)),
    ("guard.trivial", re.compile(
        r"\b(?:leftovers|hot water|ate my|eating my|used (?:all )?my|borrowed my|typo|homework|mornings|whoever|pizza|my charger|my fries|the remote)\b"),
     0.25, (HARM,)),
    ("guard.history", re.compile(
        r"\b(?:\d+|ten|two|three|four|five|many|few|several|some) (?:years|months|decades) ago\b|\blast (?:year|spring|summer|winter|fall|autumn)\b"
        r"|\bwhen i was (?:young|little|a kid|a child|small)\b|\b(?:doing|feel|feeling) (?:great|much better|fine|better|okay|ok) now\b|\bpassed away\b|\bsurvived\b"),
     0.3, (MEDICAL, ABUSE)),
    ("guard.accident", re.compile(
        r"\b(?:accidentally|by accident|while (?:cooking|shaving|chopping|playing|sewing)|cutting (?:onions|vegetables)|just a small cut|playing (?:football|soccer|basketball)|ouch)\b"),
     0.3, (SUICIDE,)),
    # Added with the third (register) batch of training sentences: recovery told in the past,
    # holidays and leaving a group chat or a job read like farewells, sport jumps like a method.
    ("guard.recovered", re.compile(
        r"\b(?:i'?ve been clean|clean for \w+|got (?:help|better)|doing (?:well|great|much better)|rebuilt my life"
        r"|grateful i stayed|life is good|in a good place|i'?m (?:fine|okay|ok|happy) now)\b"),
     0.3, (SUICIDE, ABUSE, MEDICAL)),
    ("guard.leaving", re.compile(
        r"\b(?:(?<!like a )holiday|vacation|camping|trip|group ?chat|leaving the group|retir\w+|my students|colleagues?|new job|moving (?:abroad|house|out))\b"
        r"|\b(?:high dive|diving board|bungee|skydiv\w*|parachute)\b"),
     0.4, (SUICIDE,)),
    ("guard.question", re.compile(
        r"\bis it (?:normal|common|bad|safe|okay|ok|dangerous) (?:to|for|if|that)\b|\bshould i (?:see|worry|be worried)\b|\bwhat(?: is|'s) a normal\b|\bhow (?:much|long|often) should\b"),
     0.4, (MEDICAL,)),
    ("guard.play", re.compile(
        r"\b(?:when we were playing|while playing|play[- ]?fight\w*|mess(?:ing)? around|horsing around|wrestl\w*|tickl\w*|pillow fight|we always joke|as a joke|we always do that)\b"),
     0.35, (ABUSE,)),
    ("guard.negation", re.compile(
        r"\b(?:i'?m not|i am not|not) (?:suicidal|going to (?:kill|hurt) myself)\b|\bwould never (?:kill|hurt) (?:myself|anyone)\b|\bno thoughts of\b"),
     0.55, (SUICIDE, HARM)),
    ("guard.hyperbole", re.compile(
        r"\b(?:is|are|was|were|'s) killing me\b|\bdying to\b|\bdie (?:of|from) (?:embarrassment|boredom|laughter|laughing|cringe)\b"
        r"|\bso bored i could die\b|\bkilled it\b|\bdead tired\b|\bi'?m dead\b"),
     0.3, (SUICIDE, HARM)),
)


@dataclass(frozen=True)
class SignalHit:
    name: str
    category: str
    weight: float
    """The weight after guards."""


@dataclass(frozen=True)
class SignalReading:
    """Rule reading of one message: the hits, the guards that fired and the noisy-or score."""

    signals: tuple[SignalHit, ...]
    guards: tuple[str, ...]
    score: float
    category: str | None

    def category_scores(self) -> dict[str, float]:
        return {c: noisy_or(s.weight for s in self.signals if s.category == c) for c in CATEGORIES}


def noisy_or(weights) -> float:
    """``1 - prod(1 - w)``; 0.0 for no weights. ``noisy_or([0.5, 0.5]) == 0.75``."""
    keep = 1.0
    for w in weights:
        keep *= 1.0 - min(max(float(w), 0.0), 1.0)
    return 1.0 - keep


_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})


def normalise(text: str) -> str:
    """Lower case, straight apostrophes, single spaces: the form the patterns are written for."""
    if not isinstance(text, str):
        raise ValueError(f"expected a message as str, got {type(text).__name__}")
    text = text.translate(_APOSTROPHES).lower()
    text = re.sub(r"\bim\b", "i'm", text)
    text = re.sub(r"\bi(?:'| a)?m\b", "i'm", text)
    return re.sub(r"\s+", " ", text).strip()


def read_signals(text: str) -> SignalReading:
    """All signals in one message, damped by the guards that fire in the same message."""
    norm = normalise(text)
    if not norm:
        return SignalReading((), (), 0.0, None)
    guards = [(name, factor, cats) for name, rx, factor, cats in GUARDS if rx.search(norm)]
    hits: list[SignalHit] = []
    for pattern in PATTERNS:
        if pattern.regex.search(norm):
            weight = pattern.weight
            for _, factor, cats in guards:
                if pattern.category in cats:
                    weight *= factor
            hits.append(SignalHit(pattern.name, pattern.category, round(weight, 4)))
    by_category = {c: noisy_or(h.weight for h in hits if h.category == c) for c in CATEGORIES}
    best = max(by_category, key=by_category.get)
    score = by_category[best]
    return SignalReading(tuple(hits), tuple(g[0] for g in guards), round(score, 4),
                         best if score > 0 else None)
