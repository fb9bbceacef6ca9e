"""Commitments and problems of section 五, and whether the next year's report says they were kept."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

from assistant import segment
from assistant.ingest.enumerations import enumerations
from assistant.records import Commitment, Hit, Passage, Report

DONE, PARTLY, UNREPORTED, NO_REPORT = "已落实", "部分落实", "未见说明", "暂无下一年度报告"

# Follow-up scoring, tuned by a grid search on the samples. Positives: the six 2021 commitments of 青禾县
# and 澜溪市 against their 2022 reports. Negatives: ten made-up commitments of those two bodies on topics
# their 2022 reports never mention, and the seed's and the other bodies' commitments scored against
# 青禾县 and 澜溪市 2022. Chosen: key terms weighted by idf (power 1, power 2 scored a smaller margin),
# TITLE_WEIGHT 0.3, FOLLOW_UP_PART_BONUS 0.05, RANK_PRIOR 0.05: positives >= 0.47, negatives <= 0.32;
# MATCH_THRESHOLD sits mid-gap. The number bonus did not move the margin and is kept small.
FOLLOW_UP_HITS = 8  # passages of the next report ranked per commitment
QUERY_CHARS = 500  # the commitment's lead phrase and text, cut to this length, are the ranking query
MATCH_THRESHOLD = 0.38  # best segment below this: the next report says nothing about it (未见说明)
TITLE_WEIGHT = 0.3  # share of the lead phrase's terms in the score; the rest is the whole text's terms
RANK_PRIOR = 0.05  # added as RANK_PRIOR / rank of the best retrieval hit holding the segment
FOLLOW_UP_PART_BONUS = 0.05  # segment sits in 五's sub-part reporting on last year's commitments
NUMBER_BONUS = 0.05  # per number of the commitment that recurs in the segment (at most two)
EVIDENCE_RATIO = 0.6  # further (non-overlapping) segments cited when within this share of the best
MAX_EVIDENCE = 3  # segments cited per commitment

_PARTLY = re.compile(
    r"部分(?:完成|落实|实现|到位)|尚未(?:全面)?(?:完成|到位|落实)|未完成|仍在推进|正在推进|推进中|顺延|延期|推迟"
    r"|(?:还有|仍有|其余|剩余)\s*\d+\s*[个项件家]"
)
_SUBPART = re.compile(r"(?:^|(?<=[\n。；;]))\s*[（(]([一二三四五六七八九十])[)）]")
_FOLLOWUP_HEAD = re.compile(r"上年|上一年|去年|落实情况|整改情况|完成情况")
_PLAN_HEAD = re.compile(r"下一步|改进措施|整改措施|工作打算|工作计划|工作安排|改进方向|努力方向|工作思路")
_PROBLEM_HEAD = re.compile(r"问题|不足|差距")
_PLAN_START = re.compile(
    r"下一步|下阶段|下一阶段|今后|(?:19|20)\d{2}年[，,]?[^。：:；;，,\n]{0,20}?将|我(?:们|[局委办县市区厅])[^。：:；;，,\n]{0,12}?将"
)
_MARK = re.compile(r"\s*(?:[一二三四五六七八九十]是|[（(][一二三四五六七八九十][)）]|\d{1,2}[.、．])\s*")
_TAIL = re.compile(r"(?<=[。；;])\s*(?:同时|此外|另外)[，,]?")
_SENTENCE = re.compile(r"[^。；;！？!?\n]+[。；;！？!?]?")
_LEAD_IN = re.compile(r"(?:下一步|下阶段|下一阶段|今后)[，,]?(?:[^，,。]{0,12}?将)?")
_TITLE_END = re.compile(r"[。，,；;：:]")
_NUMBER = re.compile(r"\d+(?:\.\d+)?%?")
_YEAR = re.compile(r"((?:19|20)\d{2})年")
_CORE = re.compile(r"[^\s；;，,。](?:.*[^\s；;，,。])?", re.S)  # a span without surrounding blanks/punctuation
_STOP = frozenset({"的", "了", "和", "与", "及", "等", "在", "对", "为", "是", "将", "并", "中", "各", "年", "个",
                   "项", "次", "吗", "呢", "有", "政府", "信息", "公开", "工作", "情况", "政府信息公开",
                   "政府信息公开工作", "政务公开", "政务公开工作"})


@dataclass(frozen=True)
class Part:
    """A span of a report; kind is "problem", "plan" (next steps) or "followup" (last year's promises)
    for the parts of section 五, and for a segment (sentence or item) the kind of part it sits in."""

    kind: str
    start: int
    end: int
    text: str = ""


def section_parts(report: Report) -> list[Part]:
    """Section 五 cut into problems, next steps and follow-up; 下一步 paragraphs elsewhere as a fallback."""
    text, section = report.cleaned_text, report.section("五")
    parts = _split_parts(text, section.body_start, section.end) if section else []
    if not any(p.kind == "plan" for p in parts):
        prose = [s for s in report.sections if s.key in ("preamble", "一", "六")]
        parts += [Part("plan", m.start(), m.end()) for m in re.finditer(r"(?m)^\s*下一步[^\n]+", text)
                  if any(s.body_start <= m.start() < s.end for s in prose)]
    return parts


def _split_parts(text: str, start: int, end: int) -> list[Part]:
    heads: list[tuple[int, int, str]] = []
    for m in _SUBPART.finditer(text, start, end):
        head_end = _TITLE_END.search(text, m.end(), end)
        head = text[m.end(): head_end.start() if head_end else end]
        if len(head) > 25:
            continue
        kind = ("followup" if _FOLLOWUP_HEAD.search(head) else "plan" if _PLAN_HEAD.search(head)
                else "problem" if _PROBLEM_HEAD.search(head) else "")
        if kind:
            heads.append((m.start(), head_end.end() if head_end else m.end(), kind))
    if len(heads) < 2:
        return _split_at_plan(text, start, end)
    parts: list[Part] = []
    for i, (_, body, kind) in enumerate(heads):
        limit = heads[i + 1][0] if i + 1 < len(heads) else end
        parts += _split_at_plan(text, body, limit) if kind == "problem" else [Part(kind, body, limit)]
    return parts


def _split_at_plan(text: str, start: int, end: int) -> list[Part]:
    m = _PLAN_START.search(text, start, end)
    if not m:
        return [Part("problem", start, end)]
    cut = max(start, *(text.rfind(c, start, m.start()) + 1 for c in "。；;\n：:"))
    return [p for p in (Part("problem", start, cut), Part("plan", cut, end)) if text[p.start: p.end].strip()]


def _items(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Item spans of a part (markers left out): its numbered items, else its sentences."""
    groups = enumerations(text[start:end])
    if groups:
        starts = [start + s for s, _ in max(groups, key=lambda g: len(g[1]))[1]]
        spans = [(s, starts[i + 1] if i + 1 < len(starts) else end) for i, s in enumerate(starts)]
        last_start, last_end = spans[-1]
        tail = _TAIL.search(text, last_start, last_end)
        spans[-1] = (last_start, tail.start() if tail else last_end)
        spans = [(s + len(m.group(0)) if (m := _MARK.match(text, s, e)) else s, e) for s, e in spans]
    else:
        spans = []
        for m in _SENTENCE.finditer(text, start, end):
            s = m.start() + (m.group(0).rfind("：") + 1 if "：" in m.group(0) else 0)
            s += len(lead.group(0)) if (lead := _LEAD_IN.match(text, s, m.end())) else 0
            spans.append((s, m.end()))
    return _trim(text, spans)


def _trim(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Spans without surrounding blanks and punctuation; too short ones dropped."""
    cores = [_CORE.search(text, s, e) for s, e in spans]
    return [m.span() for m in cores if m and m.end() - m.start() >= 4]


def extract_commitments(report: Report) -> list[Commitment]:
    """The commitments (":c<n>") and problems (":q<n>") that the report's section 五 states."""
    text, year = report.cleaned_text, report.meta.year
    found: list[Commitment] = []
    for kind, suffix in (("problem", "q"), ("commitment", "c")):
        wanted = "problem" if kind == "problem" else "plan"
        for part in (p for p in section_parts(report) if p.kind == wanted):
            items = _items(text, part.start, part.end)
            lead_years = [int(y) for y in _YEAR.findall(text[part.start: items[0][0] if items else part.end])]
            target = next((y for y in lead_years if year and year < y <= year + 2), year + 1 if year else None)
            for start, end in items:
                n = sum(c.kind == kind for c in found) + 1
                title_end = _TITLE_END.search(text, start, end)
                found.append(Commitment(
                    commitment_id=f"{report.report_id}:{suffix}{n}", report_id=report.report_id,
                    agency=report.meta.agency, year=year, target_year=target if kind == "commitment" else None,
                    kind=kind, index=n, title=text[start: title_end.start() if title_end else end][:40],
                    text=text[start:end], start=start, end=end,
                ))
    return found


def segments(report: Report) -> list[Part]:
    """Numbered items (each up to the next marker) and sentences of the report's prose sections."""
    text = report.cleaned_text
    parts = section_parts(report)
    found: dict[tuple[int, int], Part] = {}
    for section in (s for s in report.sections if s.key not in ("二", "三", "四")):
        for para in (m for m in re.finditer(r"[^\n]+", text[: section.end]) if m.end() > section.body_start):
            start = max(para.start(), section.body_start)
            sentences = [(m.start(), m.end()) for m in _SENTENCE.finditer(text, start, para.end())]
            for s, e in _items(text, start, para.end()) + _trim(text, sentences):
                kind = next((p.kind for p in parts if p.start <= s < p.end), "")
                found.setdefault((s, e), Part(kind, s, e, text[s:e]))
    return sorted(found.values(), key=lambda seg: (seg.start, seg.end))


TokensOf = Callable[[Sequence[str]], list[list[str]]]  # texts -> their tokens, in order


def _segmented(texts: Sequence[str]) -> list[list[str]]:
    return [segment.tokenize(t) for t in texts]


def rarity(texts: Sequence[str], tokens_of: TokensOf = _segmented) -> dict[str, float]:
    """Inverse document frequency of the tokens of a report's segments: common words count for less. The normalised
    texts' tokens come from tokens_of (a build passes its token cache)."""
    normalized = [segment.normalize(t) for t in dict.fromkeys(texts)]
    tokens = {tok for token_list in tokens_of(normalized) for tok in token_list}
    total = len(normalized) + 1
    return {tok: math.log(total / (1 + sum(tok in t for t in normalized))) for tok in tokens}


@lru_cache(maxsize=256)
def _meaningful(text: str) -> tuple[str, ...]:
    """The text's tokens without stop words and numbers (a commitment's are asked for several times)."""
    return tuple(tok for tok in segment.tokenize(text) if tok not in _STOP and not _NUMBER.fullmatch(tok))


def key_terms(text: str, idf: Mapping[str, float] | None = None) -> dict[str, float]:
    """Tokens that carry meaning, weighted by length and (with idf) by rarity."""
    ceiling = max(idf.values(), default=1.0) if idf else 1.0
    return {tok: min(len(tok), 4) * (idf.get(tok, ceiling) if idf else 1.0) for tok in _meaningful(text)}


def coverage(weights: Mapping[str, float], text: str, normalized: bool = False) -> float:
    """Share of the weight whose tokens occur in the text (already segment.normalize()d when normalized)."""
    norm = text if normalized else segment.normalize(text)
    total = sum(weights.values())
    return sum(w for tok, w in weights.items() if tok in norm) / total if total else 0.0


def scorer(commitment: Commitment, idf: Mapping[str, float] | None = None) -> Callable[[str], float]:
    """Lexical match of texts against a commitment: its lead phrase, its key terms, its numbers (the commitment's
    terms weighted once, for every text scored)."""
    title, body = key_terms(commitment.title, idf), key_terms(commitment.text, idf)
    numbers = {n for n in _NUMBER.findall(commitment.text) if len(n) > 1 or "%" in n}

    def score(text: str) -> float:
        shared = sum(n in text for n in numbers)
        norm = segment.normalize(text)
        return (TITLE_WEIGHT * coverage(title, norm, True) + (1 - TITLE_WEIGHT) * coverage(body, norm, True)
                + NUMBER_BONUS * min(shared, 2))

    return score


class SegmentCache:
    """Later reports' segments and the rarity of their tokens, worked out once per report (tokens from tokens_of)."""

    def __init__(self, tokens_of: TokensOf = _segmented) -> None:
        self._tokens_of = tokens_of
        self._found: dict[str, tuple[list[Part], dict[str, float]]] = {}

    def of(self, report: Report) -> tuple[list[Part], dict[str, float]]:
        """The report's segments and their tokens' idf."""
        if report.report_id not in self._found:
            found = segments(report)
            self._found[report.report_id] = (found, rarity([seg.text for seg in found], self._tokens_of))
        return self._found[report.report_id]

    def keep_only(self, report_ids: Container[str]) -> None:
        """Forget the reports not in report_ids."""
        for report_id in [r for r in self._found if r not in report_ids]:
            del self._found[report_id]


# (query text, later report, k) -> up to k of the later report's passages with their scores, best first.
# The build passes a BM25 ranker over the report's stored keyword tokens (index/analysis.py).
Ranker = Callable[[str, Report, int], Sequence[tuple[Passage, float]]]


def next_report(commitment: Commitment, reports: Mapping[str, Report]) -> Report | None:
    """The same agency's report of the year after the commitment's, if collected (the first of several)."""
    year, agency = commitment.year, commitment.agency
    return next((r for r in reports.values() if year and agency and r.meta.agency == agency
                 and r.meta.year == year + 1), None)


def overlaps(a: Part | Hit | Passage, b: Part | Hit | Passage) -> bool:
    """Whether two spans of the same report share a character."""
    return a.start < b.end and b.start < a.end


def passage_hit(report: Report, passage: Passage, rank: int, score: float = 0.0) -> Hit:
    """A passage of a report as a cited hit (rank and score from the follow-up ranking)."""
    meta = report.meta
    return Hit(rank=rank, score=score, passage_id=passage.passage_id, text=passage.text, report_id=report.report_id,
               report_title=meta.title, agency=meta.agency, year=meta.year, section=passage.section,
               start=passage.start, end=passage.end, kind=passage.kind, source_file=meta.source_file,
               source_url=meta.source_url)


def follow_up(commitments: Sequence[Commitment], reports: Mapping[str, Report], ranker: Ranker) -> list[Commitment]:
    """Copies of the commitments with status and evidence from the same agency's next report in `reports`."""
    cache = SegmentCache()
    return [judge(c, next_report(c, reports) if c.kind == "commitment" else None, ranker, cache)
            for c in commitments]


def judge(commitment: Commitment, later: Report | None, ranker: Ranker,
          cache: SegmentCache | None = None) -> Commitment:
    """A copy of one commitment with its status and evidence from `later` (the agency's next report, or None
    when none is collected); problems are returned unchanged."""
    if commitment.kind != "commitment":
        return commitment
    if later is None:
        return replace(commitment, status=NO_REPORT, evidence=())
    return _judge(commitment, later, ranker, SegmentCache() if cache is None else cache)


def scored_segments(commitment: Commitment, later: Report, ranker: Ranker,
                    cache: SegmentCache) -> tuple[list[Hit], list[tuple[float, Part]]]:
    """The later report's best-ranked prose passages, and the segments under them scored against the commitment."""
    query = f"{commitment.title} {commitment.text}"[:QUERY_CHARS]
    # lexical ranking only: the segments are scored lexically below anyway, and embedding a long commitment as
    # a query costs about a second per commitment on a CPU
    hits = [passage_hit(later, p, rank, score) for rank, (p, score) in enumerate(ranker(query, later, FOLLOW_UP_HITS), 1)
            if p.kind == "text"]
    found, idf = cache.of(later)
    score = scorer(commitment, idf)
    scored: list[tuple[float, Part]] = []
    for seg in found:
        ranks = [h.rank for h in hits if overlaps(h, seg)]
        if ranks and seg.kind != "plan":  # the later report's own promises are no report of deeds
            bonus = FOLLOW_UP_PART_BONUS if seg.kind == "followup" else 0.0
            scored.append((score(seg.text) + bonus + RANK_PRIOR / min(ranks), seg))
    return hits, sorted(scored, key=lambda item: (-item[0], item[1].start))


def _judge(commitment: Commitment, later: Report, ranker: Ranker, cache: SegmentCache) -> Commitment:
    hits, scored = scored_segments(commitment, later, ranker, cache)
    strong = [(score, seg) for score, seg in scored if score >= MATCH_THRESHOLD]
    chosen: list[Part] = [] if strong else [seg for _, seg in scored[:1]]
    for score, seg in strong:
        if len(chosen) < MAX_EVIDENCE and score >= EVIDENCE_RATIO * strong[0][0] \
                and not any(overlaps(seg, other) for other in chosen):
            chosen.append(seg)
    # The best segment decides, unless 五's own report on last year's commitments says "partly".
    deciding = [seg for seg in chosen if seg is chosen[0] or seg.kind == "followup"]
    status = UNREPORTED if not strong else PARTLY if any(_PARTLY.search(s.text) for s in deciding) else DONE
    evidence: list[Hit] = [] if chosen else hits[:1]
    for passage in (p for seg in chosen for p in later.passages if p.kind == "text" and overlaps(p, seg)):
        if all(h.passage_id != passage.passage_id for h in evidence):
            hit = next((h for h in hits if h.passage_id == passage.passage_id), None)
            evidence.append(replace(hit or passage_hit(later, passage, 0), rank=len(evidence) + 1))
    quotes = _quotes(commitment, evidence, cache.of(later)[0])
    return replace(commitment, status=status, evidence=tuple(evidence), quotes=tuple((q.start, q.end) for q in quotes))


def _quotes(commitment: Commitment, evidence: Sequence[Hit], found: Sequence[Part]) -> list[Part]:
    """For each evidence passage, its sentence or item (of `found`, the later report's segments) that best matches
    the commitment; none overlapping another."""
    score = scorer(commitment)
    quoted: list[Part] = []
    for hit in evidence:
        candidates = [s for s in found if overlaps(s, hit) and s.kind != "plan"]
        best = max(candidates, key=lambda s: (score(s.text), -len(s.text)), default=None)
        if best and not any(overlaps(best, seen) for seen in quoted):
            quoted.append(best)
    return quoted
