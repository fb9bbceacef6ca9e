"""English questions read in Chinese: lexicon words, and places by the pinyin of the corpus's agency names."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from assistant.records import ReportMeta
from assistant.understand.intent import is_english
from assistant.understand.lexicon import Lexicon
from assistant.understand.scope import agency_table

_WORD = re.compile(r"[a-z]+(?:['’-][a-z]+)*")
_HAN = re.compile(r"^[\u4e00-\u9fff]+$")
_HAN_GAP = re.compile(r"(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff])")
_GLOSS = re.compile(r"\s*[(（]([\u4e00-\u9fff]+)[)）]")  # "the Education Bureau (石家庄市教育局)"
_BARRIER = "\x00"  # kept apart from the words before a place name (the gaps between Chinese words go)
MAX_PLACE_WORDS = 3  # "ping tan", "shang hai shi": a place name written as up to three words


@dataclass(frozen=True)
class English:
    """An English question as Chinese text, and how much of it was understood."""

    text: str  # the Chinese reading (words not understood are left out)
    understood: bool  # some lexicon word matched and no content word is left unknown
    places: tuple[str, ...] = ()  # the Chinese names the pinyin matched
    unknown: tuple[str, ...] = ()  # content words neither the lexicon nor the agency names know
    ambiguous: tuple[str, tuple[str, ...]] | None = None  # a pinyin several different names share


def pinyin_key(text: str) -> str:
    """The toneless pinyin of Chinese text, letters only ("龙泉市" -> "longquanshi"); pypinyin is loaded on
    the first English question (0.5 s and 55 MB that Chinese questions never need)."""
    from pypinyin import lazy_pinyin

    return "".join(lazy_pinyin(text)).lower()


@lru_cache(maxsize=64)
def _pinyin_table(names: tuple[str, ...]) -> dict[str, frozenset[str]]:
    table: dict[str, set[str]] = {}
    for name in names:
        if _HAN.match(name):
            table.setdefault(pinyin_key(name), set()).add(name)
    return {k: frozenset(v) for k, v in table.items()}


def place_pinyin(corpus: Mapping[str, ReportMeta]) -> dict[str, frozenset[str]]:
    """Pinyin -> the Chinese names of the corpus's agencies (every form a question may use) that sound so."""
    return _pinyin_table(tuple(sorted(agency_table(corpus))))


@lru_cache(maxsize=64)
def _opening_table(names: tuple[str, ...], units: str) -> dict[str, frozenset[str]]:
    table: dict[str, set[str]] = {}
    for name in names:
        opening = re.match(rf"^[\u4e00-\u9fff]+?[{units}]", name)
        if opening and opening.group(0) != name and len(opening.group(0)) >= 3:
            table.setdefault(pinyin_key(opening.group(0)), set()).add(opening.group(0))
    return {k: frozenset(v) for k, v in table.items()}


def _opening_place(corpus: Mapping[str, ReportMeta], key: str, after: str, lex: Lexicon) -> str | None:
    """The place that opens an agency's name ("Shijiazhuang" -> 石家庄市 of 石家庄市教育局), only when the
    Chinese read right after it completes that name (石家庄市 + 教育局): a place alone names no agency."""
    aliases = tuple(sorted(agency_table(corpus)))
    table = _opening_table(aliases, "".join(lex.place_units))
    places = _names(table, key, lex)
    following = re.match(r"\s*([\u4e00-\u9fff]+)", after)
    if len(places) != 1 or following is None:
        return None
    place = next(iter(places))
    return place if any((place + following.group(1)).startswith(a) for a in aliases if a.startswith(place)) else None


def _names(table: Mapping[str, frozenset[str]], key: str, lex: Lexicon) -> frozenset[str]:
    """The names a place word sounds like; the place with its unit first (Shanghai: 上海市, Longquan: 龙泉市),
    as English names a city or county by its bare name."""
    with_unit = frozenset().union(*(table.get(key + pinyin_key(u), frozenset()) for u in lex.place_units))
    return with_unit or table.get(key, frozenset())


def _key(word: str) -> str:
    """A word as pinyin letters: "longquan's" -> "longquan", "xi'an" -> "xian"."""
    return re.sub(r"[^a-z]", "", re.sub(r"['’]s$", "", word))


def from_english(text: str, corpus: Mapping[str, ReportMeta], lex: Lexicon) -> English | None:
    """The Chinese reading of an English question, or None when the question is not in English."""
    if not is_english(text):
        return None
    lowered = text.lower()
    known = 0
    for phrase in sorted(lex.english, key=len, reverse=True):  # longest first: "how many" before "many"
        pattern = rf"(?<![a-z]){re.escape(phrase)}(?![a-z])"
        lowered, n = re.subn(pattern, f" {lex.english[phrase]} ", lowered)
        known += n
    table = place_pinyin(corpus)
    places: list[str] = []
    ambiguous: tuple[str, tuple[str, ...]] | None = None
    words = list(_WORD.finditer(lowered))
    out, last, i = [], 0, 0
    while i < len(words):
        for size in range(min(MAX_PLACE_WORDS, len(words) - i), 0, -1):
            run = words[i: i + size]
            if size > 1 and lowered[run[0].end(): run[-1].start()].strip(" -"):
                continue  # the words of one name sit side by side
            key = "".join(_key(w.group(0)) for w in run)
            names = _names(table, key, lex)
            if not names and (opening := _opening_place(corpus, key, lowered[run[-1].end():], lex)):
                names = frozenset({opening})
            if not names:
                continue
            if len(names) > 1:
                ambiguous = ambiguous or (lowered[run[0].start(): run[-1].end()], tuple(sorted(names)))
            else:
                places.append(next(iter(names)))
                out += [lowered[last: run[0].start()], f"{_BARRIER}{places[-1]} "]  # 申请|上海市: two words
                last = run[-1].end()
                rest = lowered[last:]
                if places[-1][-1] in lex.place_units and rest.lstrip().startswith(places[-1][-1]):
                    last += len(rest) - len(rest.lstrip()) + 1  # "Longquan City": 龙泉市, not 龙泉市市
            i += size
            break
        else:
            i += 1
    reading = "".join(out) + lowered[last:]
    unknown = [w for w in _WORD.findall(reading) if w not in lex.english_stop_words]
    reading = " ".join(_HAN_GAP.sub("", " ".join(_WORD.sub(" ", reading).split())).replace(_BARRIER, " ").split())
    reading = _GLOSS.sub(lambda m: "" if m.group(1) in _GLOSS.sub("", reading) else m.group(0), reading).strip()
    return English(text=reading, understood=known > 0 and not unknown and ambiguous is None,
                   places=tuple(places), unknown=tuple(dict.fromkeys(unknown)), ambiguous=ambiguous)
