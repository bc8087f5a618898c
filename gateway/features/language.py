"""Dominant language of user text: Unicode script counts first, lingua for Latin script.

Scripts settle most languages for free: kana means Japanese even among many kanji, Hangul
means Korean, Han alone means Chinese, Cyrillic/Arabic/Devanagari/Thai/... map to their
main language. Only Latin-script text needs a statistical detector, and we run lingua on
a bounded slice of it (``_LATIN_CHARS``), restricted to the Latin-script languages a
gateway is likely to see. See ``README.md`` for the measured accuracy and cost, and why
this hybrid beats lingua alone (which is slower and confuses short CJK-with-English turns).

Everything works on a bounded sample, so the cost does not grow with the prompt.
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:  # lingua is imported lazily: building a detector loads models
    from lingua import LanguageDetector

__all__ = ["LATIN_LANGUAGES", "SAMPLE_CHARS", "detect_language"]

# Upper bound of characters examined by detect_language (callers sample before that):
# script shares are stable long before this, and the cost stays ~0.1 ms.
SAMPLE_CHARS: Final = 2048
# Latin-script characters handed to lingua: enough for a confident answer on prose.
_LATIN_CHARS: Final = 600
# Below this many Latin letters (and no other script) we do not trust any detector:
# "ok", "thx", "lgtm" are English far more often than not in a gateway's traffic.
_MIN_LATIN_LETTERS: Final = 12
# lingua's confidence needed to override the English default for short text.
_MIN_CONFIDENCE: Final = 0.5

LATIN_LANGUAGES: Final = (
    "en", "es", "fr", "de", "pt", "it", "nl", "pl", "tr", "vi", "id", "sv", "cs", "ro",
)

# Code, URLs and emails carry Latin letters that say nothing about the user's language.
_NOISE_RE = re.compile(
    r"```.*?(?:```|\Z)|`[^`\n]*`|https?://\S+|[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+|<[^>\n]{1,80}>",
    re.DOTALL,
)

# (language or script tag, character class). CJK characters carry a syllable or a
# morpheme each, so they weigh like ~3 Latin letters when scripts are compared.
_SCRIPTS: Final = (
    ("han", "[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]", 3.0),
    ("kana", "[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]", 3.0),
    ("hangul", "[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]", 3.0),
    ("cyrillic", "[\u0400-\u04ff]", 1.0),
    ("arabic", "[\u0600-\u06ff\u0750-\u077f]", 1.0),
    ("hi", "[\u0900-\u097f]", 1.0),
    ("bn", "[\u0980-\u09ff]", 1.0),
    ("ta", "[\u0b80-\u0bff]", 1.0),
    ("te", "[\u0c00-\u0c7f]", 1.0),
    ("th", "[\u0e00-\u0e7f]", 1.0),
    ("he", "[\u0590-\u05ff]", 1.0),
    ("el", "[\u0370-\u03ff]", 1.0),
    ("ka", "[\u10a0-\u10ff]", 1.0),
    ("hy", "[\u0530-\u058f]", 1.0),
    ("km", "[\u1780-\u17ff]", 1.0),
    ("my", "[\u1000-\u109f]", 1.0),
)
_SCRIPT_RES: Final = tuple((tag, re.compile(cls + "+"), w) for tag, cls, w in _SCRIPTS)
_SCRIPT_TAGS: Final = tuple(tag for tag, _, _ in _SCRIPTS)
_WEIGHTS: Final = {tag: w for tag, _, w in _SCRIPTS}
_LATIN_RE: Final = re.compile("[A-Za-z\u00c0-\u024f]+")
_NON_LATIN_RE: Final = re.compile("[^\u0000-\u024f]+")
# Simplified-Chinese function characters that Japanese does not write (not 的 or 了:
# 具体的, 終了).
_CHINESE_ONLY_RE: Final = re.compile("[吗们这么呢吧没很说个]")
_UKRAINIAN_RE: Final = re.compile("[іїєґІЇЄҐ]")
_PERSIAN_RE: Final = re.compile("[پچژگ]")
_URDU_RE: Final = re.compile("[ٹڈڑںے]")

# A non-Latin script wins unless Latin text outweighs it this many times: people writing
# in CJK embed English terms, error messages and names; the reverse is rare.
_LATIN_DOMINANCE: Final = 2.0
_LATIN_MAX_DOMINANCE: Final = 4.0


def _count(regex: re.Pattern[str], text: str) -> int:
    return sum(map(len, regex.findall(text)))


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of the dominant language of ``text`` (a bounded sample), or None."""
    sample = text[:SAMPLE_CHARS]
    # Most prompts have none of the characters every noise pattern needs: skip the scan.
    noisy = "`" in sample or "@" in sample or "<" in sample or "://" in sample
    prose = _NOISE_RE.sub(" ", sample) if noisy else sample
    words = _LATIN_RE.findall(prose)
    # (ASCII text has letters iff it has Latin words: no need to look for them again)
    if not (words if prose.isascii() else _has_letters(prose)):
        prose = sample  # all code: better to judge the code's comments than nothing
        words = _LATIN_RE.findall(prose)
    # Only non-Latin characters need the per-script regexes; in Latin-script text that is
    # a handful of symbols, in CJK text the script counts are the whole answer anyway.
    other = "" if prose.isascii() else "".join(_NON_LATIN_RE.findall(prose))
    latin = sum(map(len, words))
    if not other:
        # Latin script only, most of a gateway's traffic: no other script to weigh, and
        # the words found are the ones the English check reads.
        return _latin_language(prose, latin, words) if latin else None
    counts = dict.fromkeys(_SCRIPT_TAGS, 0)
    cjk_total = 0
    for tag, rx, _ in _SCRIPT_RES[:3]:
        counts[tag] = n = _count(rx, other)
        cjk_total += n
    if cjk_total * 2 < len(other):  # otherwise no other script can outweigh CJK
        for tag, rx, _ in _SCRIPT_RES[3:]:
            counts[tag] = _count(rx, other)
    cjk = counts["han"] + counts["kana"] + counts["hangul"]
    best_tag, best = "", 0.0
    for tag, n in counts.items():
        if tag in ("han", "kana", "hangul"):
            continue
        if n * _WEIGHTS[tag] > best:
            best_tag, best = tag, n * _WEIGHTS[tag]
    if cjk * 3.0 > best:
        best_tag, best = "cjk", cjk * 3.0
    if best == 0 and latin == 0:
        return None
    if best > 0:
        if best * _LATIN_DOMINANCE >= latin:
            return _resolve_script(best_tag, counts, prose)
        # Latin text outweighs the other script, but not overwhelmingly: if the Latin
        # part reads as English sentences it is English asking about a foreign term;
        # if it is only names, identifiers and error messages, the grammar is the other
        # script's ("Spring BootとMyBatisでInvalid bound statementが出ます").
        if best * _LATIN_MAX_DOMINANCE >= latin and not _looks_english(words):
            return _resolve_script(best_tag, counts, prose)
    return _latin_language(prose, latin, words)


def _has_letters(s: str) -> bool:
    return any(c.isalpha() for c in s)


def _resolve_script(tag: str, counts: dict[str, int], prose: str) -> str:
    if tag == "cjk":
        han, kana, hangul = counts["han"], counts["kana"], counts["hangul"]
        if hangul and hangul >= 0.25 * (han + kana + hangul) and hangul >= kana:
            return "ko"
        # Japanese text is ~30-70% kana, but names of institutions, laws and places are
        # kanji joined by a single の. Chinese has no kana, bar a stray "の" in slang among
        # its own function characters: so any kana is Japanese unless those outnumber it.
        if kana:
            chinese = len(_CHINESE_ONLY_RE.findall(prose))
            if chinese < 2 or (kana >= 0.08 * (han + kana) and kana > chinese):
                return "ja"
        if han:
            return "zh"
        return "ja" if kana else "ko"
    if tag == "cyrillic":
        return "uk" if _UKRAINIAN_RE.search(prose) else "ru"
    if tag == "arabic":
        if _URDU_RE.search(prose):
            return "ur"
        return "fa" if _PERSIAN_RE.search(prose) else "ar"
    return tag


def _latin_language(prose: str, letters: int, all_words: list[str]) -> str:
    """``all_words``: ``_LATIN_RE.findall(prose)``."""
    if letters < _MIN_LATIN_LETTERS:
        return "en"
    # Latin words only, from the start of the sample (the caller puts the latest user
    # turn first).
    head = _LATIN_CHARS * 2
    words = all_words if len(prose) <= head else _LATIN_RE.findall(prose[:head])
    if _looks_english(words):
        return "en"
    voted, votes = _vote(prose)
    if voted is not None:
        return voted
    detector = _latin_detector()
    text = " ".join(words)[:_LATIN_CHARS]
    values = detector.compute_language_confidence_values(text)
    if not values:
        return "en"
    top = values[0]
    code = top.language.iso_code_639_1.name.lower()
    if len(votes) == 1 and code not in votes:
        return next(iter(votes))  # one language's own word against lingua's guess
    if code != "en" and top.value < _MIN_CONFIDENCE:
        return "en"
    return code


# Function words that are frequent in English and rare as words of the other Latin-script
# languages we detect (so no "in", "a", "die", "on", "do", "me"). When they make up a
# good share of the words the text is English, and lingua (~0.4 ms per call, ~450 MB of
# models) is not consulted at all: most gateway traffic in Latin script is English.
_ENGLISH_WORDS: Final = frozenset("""
the and you to of what how why this that with my can for it are does be was your have
will not at please thanks thank is there from should would could get if when which we
they their our about just also want need use using i it's i'm don't doesn't can't
let's help tell write explain show make give find fix create add like some these those
them its has were been into only very who where than then more or by any all
""".split())  # noqa: SIM905 - a paragraph of words reads better than 90 quoted strings
_ENGLISH_SHARE: Final = 0.3


def _looks_english(words: list[str]) -> bool:
    if len(words) < 3:
        return False
    hits = sum(map(_ENGLISH_WORDS.__contains__, map(str.lower, words[:120])))
    return hits >= 2 and hits >= _ENGLISH_SHARE * min(len(words), 120)


# Short questions and requests (a dozen words, half of them names or technical terms) are
# where lingua's low-accuracy models guess wrong ("Write a regex for..." as Portuguese,
# "Perché il cielo è blu?" as French). Function words and common verbs that belong to
# one of these languages only (a word listed for two languages counts for neither) and a
# few letters settle most of them; lingua decides the rest.
_LEXICONS: Final = {
    "en": """the and you to of what how why this that with my can for it are does be was your
        have will not at please is there from should would could get if when which we they
        our about just also want need use using it's i'm don't doesn't can't let's help tell
        write explain show make give find fix create add like some these them its has were
        been into only very who where than then more or by any all convert implement
        generate build parse validate mock optimize refactor rename serialize normalize
        collect grouping ignore each row rows between versus vs set up shows short long
        client cursor handlers cancellation string strings milliseconds async
        generator that paginates matrix addresses color codes file files query
        validating validators into script daily function method array list dictionary
        schema database table column columns search input output""",
    "fr": """le les des du est et pour qui dans sur avec pas ne je tu il nous vous ce cette
        ces mon ma mes ton ta quel quelle quels quelles comment pourquoi où c'est est-ce
        au aux très faire peux veux voudrais s'il plaît merci bonjour écris traduis donne
        explique-moi peux-tu fera-t-il aide-moi sont une un il faut n'arrive qu' c' j' n'
        cet trois pourriez-vous""",
    "it": """il lo gli di del della dei degli nel nella con non mi ti ci sono questo questa
        qual quale come perché dove cosa cos'è puoi vorrei ho scrivi traduci dammi spiegami
        per favore grazie che chi un' dell' nell' all' cos' farà si dice riesco vediamo
        quanti è devo voglio installo""",
    "pt": """os do da dos das um uma é em no na não eu você meu minha este esta deste
        desta qual como por porque onde pode posso gostaria tem estou obrigado escreva
        traduza explique me dê preciso consigo vai fica se diz quantos""",
    "es": """el los las del un una es con no yo tú mi mis este esta cuál cómo por qué
        dónde puedes quiero está escribe traduce dame explica necesito puedo se dice
        arreglo cuántos él qué""",
    "de": """der die das und ist nicht ich du mit für ein eine wie was warum wo kann ich
        mein meine bitte danke schreib hilf sagt man behebe möchte wir uns im um""",
}


def _unique_lexicons() -> dict[str, frozenset[str]]:
    words = {lang: set(text.split()) for lang, text in _LEXICONS.items()}
    seen: dict[str, int] = {}
    for ws in words.values():
        for w in ws:
            seen[w] = seen.get(w, 0) + 1
    return {lang: frozenset(w for w in ws if seen[w] == 1) for lang, ws in words.items()}


_LEXICON_OF: Final = {w: lang for lang, ws in _unique_lexicons().items() for w in ws}
# Letters only one of these languages uses.
_LETTER_OF: Final = {"ñ": "es", "¿": "es", "¡": "es", "ã": "pt", "õ": "pt", "ß": "de"}
_WORD_RE: Final = re.compile(r"[A-Za-z\u00c0-\u024f]+(?:'[A-Za-z\u00c0-\u024f]+|-[a-z]+)*")


def _vote(prose: str) -> tuple[str | None, dict[str, float]]:
    """The language whose own words clearly dominate ``prose``, if one does, and the votes."""
    votes: dict[str, float] = {}
    for w in _WORD_RE.findall(prose[:_LATIN_CHARS]):
        w = w.lower()
        lang = _LEXICON_OF.get(w)
        if lang is None and "'" in w:  # an elided article or pronoun: "un'API", "qu'il"
            lang = _LEXICON_OF.get(w[:w.index("'") + 1])
        if lang is not None:
            votes[lang] = votes.get(lang, 0) + 1
    for ch, lang in _LETTER_OF.items():
        if ch in prose:
            votes[lang] = votes.get(lang, 0) + 2
    if not votes:
        return None, votes
    ranked = sorted(votes.items(), key=lambda kv: -kv[1])
    top, n = ranked[0]
    second = ranked[1][1] if len(ranked) > 1 else 0
    return (top if n >= 2 and n >= 2 * second + 1 else None), votes


_lock = threading.Lock()
_detector: LanguageDetector | None = None


def _latin_detector() -> LanguageDetector:
    """Build the lingua detector once (first use), shared by all threads."""
    global _detector
    if _detector is None:
        with _lock:
            if _detector is None:
                from lingua import IsoCode639_1, LanguageDetectorBuilder

                codes = [getattr(IsoCode639_1, c.upper()) for c in LATIN_LANGUAGES]
                # Low-accuracy mode (trigram models only): about 10x less memory than
                # the full models (~450 MB per process), and what reaches lingua here is
                # already known not to be CJK or common English, where it matters most.
                _detector = (
                    LanguageDetectorBuilder.from_iso_codes_639_1(*codes)
                    .with_low_accuracy_mode()
                    .with_preloaded_language_models()
                    .build()
                )
    return _detector


def warm_up() -> None:
    """Load the lingua models now (e.g. at server start) instead of on the first request."""
    _latin_detector()
