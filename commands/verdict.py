"""From what each node said to one sentence an admin can act on. Pure functions, no I/O.

    A1002: on vna with 412 images, on pacs with 300 — 112 missing on pacs
    A9999: not found on any node
    A1004: on vna with 40 images — not on pacs; pacs has the same patient and date under
           another accession (A1005) — possibly mis-identified

Every sentence here is PHI-free (accession numbers, node names, counts, dates of studies):
it may be shown to anyone allowed to run the command, logged and audited.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pacsbot.commands.query import LocateQuery
from pacsbot.commands.results import Finding, NodeLocate, Severity, StudyInfo, Verdict

_RANK: dict[str, int] = {"ok": 0, "info": 1, "warn": 2, "bad": 3}
MAX_LISTED = 5


_PLURALS = {"study": "studies", "series": "series", "match": "matches", "person": "people"}


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {_PLURALS.get(word, word + 's')}"


def most_severe(findings: Sequence[Finding]) -> Finding | None:
    """The first of the worst findings (a "bad" before a "warn" before an "info")."""
    return max(findings, key=lambda f: _RANK[f.severity], default=None)


def _worst(*severities: Severity) -> Severity:
    return max(severities, key=lambda s: _RANK[s])


def names(nodes: Iterable[NodeLocate]) -> str:
    items = [n.node.name for n in nodes]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def total_images(studies: Sequence[StudyInfo]) -> int | None:
    counts = [s.instance_count for s in studies]
    if not counts or any(c is None for c in counts):
        return None
    return sum(c for c in counts if c is not None)


def _exact(studies: Sequence[StudyInfo]) -> bool:
    return all(s.counts_exact for s in studies)


def _images(count: int | None, exact: bool = True) -> str:
    if count is None:
        return "an unknown number of images"
    return ("at least " if not exact else "") + plural(count, "image")


def _uid_tail(uid: str) -> str:
    return "…" + uid[-8:] if len(uid) > 10 else uid


def _listed(items: list[str]) -> str:
    shown = items[:MAX_LISTED]
    more = len(items) - len(shown)
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


# ----------------------------------------------------------------------------------------
# comparing one study (an accession) across nodes


def _compare(holdings: list[tuple[NodeLocate, list[StudyInfo]]], absent: list[NodeLocate]) -> tuple[Severity, str, list[Finding]]:
    """``holdings``: nodes that hold the study, with what they hold; ``absent``: answered without it."""
    findings: list[Finding] = []
    totals = {h[0].node.name: total_images(h[1]) for h in holdings}
    known = {name: t for name, t in totals.items() if t is not None}
    reference = max(known.values()) if known else None
    # The most complete copy first; ties keep the configured order.
    ordered = sorted(holdings, key=lambda h: -(totals[h[0].node.name] or -1))
    parts = []
    for node, studies in ordered:
        count = totals[node.node.name]
        if count is None:
            parts.append(f"on {node.node.name} (image count not available)")
        elif not parts or len(holdings) == 1:
            parts.append(f"on {node.node.name} with {_images(count, _exact(studies))}")
        else:
            parts.append(f"on {node.node.name} with {count}" + ("" if _exact(studies) else "+"))
    severity: Severity = "ok"
    tails: list[str] = []
    shortfalls = [(h, reference - known[h[0].node.name]) for h in ordered
                  if reference is not None and h[0].node.name in known and known[h[0].node.name] < reference]
    if len(holdings) > 1 and not shortfalls and reference is not None and len(known) == len(holdings):
        first = ordered[0][1]
        series = sum(s.series_count or 0 for s in first)
        sentence = f"on {names(h[0] for h in holdings)}, complete on each: {_images(reference, _exact(first))}" + (
            f" in {plural(series, 'series')}" if series else "")
    else:
        sentence = ", ".join(parts)
    for (node, studies), missing in shortfalls:
        tails.append(f"{missing} missing on {node.node.name}")
        severity = "bad"
        findings.extend(_series_differences(ordered[0], (node, studies)))
    for node in absent:
        tails.append(f"not on {node.node.name}")
        severity = "bad"
    if tails:
        sentence += " — " + ", ".join(tails)
    if reference is None or len(known) < len(holdings):
        severity = _worst(severity, "info")
        findings.append(Finding("info", "Some nodes did not report image counts, so completeness could not be compared everywhere."))
    findings.extend(_split_findings(holdings))
    for finding in findings:
        severity = _worst(severity, finding.severity)
    return severity, sentence, findings


def _series_differences(reference: tuple[NodeLocate, list[StudyInfo]], other: tuple[NodeLocate, list[StudyInfo]]) -> list[Finding]:
    ref_series = {s.uid: s for study in reference[1] for s in (study.series or ())}
    node_series = {s.uid: s for study in other[1] for s in (study.series or ())}
    if not ref_series or not node_series:
        return []
    name, ref_name = other[0].node.name, reference[0].node.name
    out: list[Finding] = []
    missing = [s for uid, s in ref_series.items() if uid not in node_series]
    if missing:
        items = [f"series {s.number or '?'} ({' '.join(p for p in (s.modality, s.description) if p) or 'no description'}, "
                 f"{_images(s.instances, s.instances_exact)})" for s in missing]
        out.append(Finding("bad", f"Missing on {name}: " + _listed(items) + "."))
    partial = []
    for uid, s in ref_series.items():
        mine = node_series.get(uid)
        if mine is not None and s.instances is not None and mine.instances is not None and mine.instances < s.instances:
            partial.append(f"series {s.number or '?'} has {mine.instances} of {s.instances} images")
    if partial:
        out.append(Finding("bad", f"Incomplete on {name}: " + _listed(partial) + "."))
    extra = [s for uid, s in node_series.items() if uid not in ref_series]
    if extra:
        out.append(Finding("info", f"{name} has {plural(len(extra), 'series')} that {ref_name} does not."))
    return out


def _split_findings(holdings: list[tuple[NodeLocate, list[StudyInfo]]]) -> list[Finding]:
    out: list[Finding] = []
    for node, studies in holdings:
        uids = list(dict.fromkeys(s.uid for s in studies))
        if len(uids) > 1:
            items = [f"{_uid_tail(s.uid)} with {_images(s.instance_count, s.counts_exact)}" for s in studies]
            out.append(Finding(
                "warn",
                f"Split study: {node.node.name} holds it under {len(uids)} study UIDs ({_listed(items)}). "
                f"It may need merging on {node.node.name}.",
            ))
    uid_sets = [(node, {s.uid for s in studies}) for node, studies in holdings]
    for i, (node, node_uids) in enumerate(uid_sets):
        for other, other_uids in uid_sets[:i]:
            if node_uids and other_uids and not node_uids & other_uids:
                out.append(Finding(
                    "warn",
                    f"{node.node.name} holds it under a different study UID than {other.node.name}: "
                    "it may have been edited or re-sent as a new study.",
                ))
    return out


def _sibling_text(node: NodeLocate) -> str:
    accessions = list(dict.fromkeys(s.accession or "no accession" for s in node.siblings))
    counted = [f"{a}" for a in accessions]
    return (f"{node.node.name} has the same patient and date under another accession "
            f"({', '.join(counted[:MAX_LISTED])}) — possibly mis-identified")


# ----------------------------------------------------------------------------------------
# the verdicts


def _common(nodes: Sequence[NodeLocate], cap: int) -> tuple[list[Finding], Severity]:
    findings: list[Finding] = []
    severity: Severity = "ok"
    for node in nodes:
        if node.failure is not None:
            findings.append(Finding("bad", f"Could not check {node.node.name}: {node.failure.message}."))
            severity = "warn"
        elif node.truncated:
            if node.truncated_by == "node":
                text = (f"{node.node.name} stopped its answer at its own result limit after {len(node.studies)} "
                        "matches: the list from it is incomplete.")
            else:
                text = (f"{node.node.name} has more than {cap} matches; I stopped the query there (C-CANCEL), "
                        "so the list from it is incomplete. Narrow the search (a date, or one node).")
            findings.append(Finding("warn", text))
            severity = "warn"
    return findings, severity


PATIENT_SEARCH = "patient-search"


def locate_verdict(query: LocateQuery, nodes: Sequence[NodeLocate], *, cap: int) -> Verdict:
    if query.accession is not None:
        return _accession_verdict(query.accession, nodes, cap)
    return _patient_verdict(query, nodes, cap)


def _accession_verdict(accession: str, nodes: Sequence[NodeLocate], cap: int) -> Verdict:
    findings, severity = _common(nodes, cap)
    answered = [n for n in nodes if n.ok]
    failed = [n for n in nodes if not n.ok]
    unchecked = f" ({names(failed)} could not be checked)" if failed else ""
    if not answered:
        return Verdict("bad", f"Could not check {accession}: no node answered.", tuple(findings))
    holdings = [(n, list(n.studies)) for n in answered if n.studies]
    if not holdings:
        where = "any node" if not failed else names(answered)
        findings.append(Finding("info", "Accession numbers must match exactly, capital letters included"
                                + (f". Did you mean {accession.upper()}?" if accession != accession.upper()
                                   else "; a mistyped number is the usual cause.")))
        findings.append(Finding("info", "To search by patient instead: locate --patient <id> --date YYYYMMDD.", hint=PATIENT_SEARCH))
        return Verdict(_worst(severity, "warn"), f"{accession}: not found on {where}{unchecked}", tuple(findings))
    absent = [n for n in answered if not n.studies]
    compared, sentence, more = _compare(holdings, absent)
    for node in answered:
        if node.siblings:
            if node.studies:
                more.append(Finding("warn", _sibling_text(node) + "."))
            else:
                sentence += f"; {_sibling_text(node)}"
                compared = _worst(compared, "warn")
    findings = more + findings
    return Verdict(_worst(severity, compared), f"{accession}: {sentence}{unchecked}", tuple(findings))


def _group_key(study: StudyInfo) -> str:
    return study.accession or f"(no accession, study {_uid_tail(study.uid)})"


def _patient_verdict(query: LocateQuery, nodes: Sequence[NodeLocate], cap: int) -> Verdict:
    findings, severity = _common(nodes, cap)
    answered = [n for n in nodes if n.ok]
    failed = [n for n in nodes if not n.ok]
    unchecked = f" ({names(failed)} could not be checked)" if failed else ""
    when = f" on {query.dates}" if query.dates else ""
    if not answered:
        return Verdict("bad", "Could not check: no node answered.", tuple(findings))
    groups: dict[str, dict[str, list[StudyInfo]]] = {}
    dates: dict[str, str] = {}
    for node in answered:
        for study in node.studies:
            key = _group_key(study)
            groups.setdefault(key, {}).setdefault(node.node.name, []).append(study)
            dates.setdefault(key, study.study_date)
    if not groups:
        where = "any node" if not failed else names(answered)
        return Verdict(_worst(severity, "warn"), f"No studies for this patient{when} on {where}{unchecked}", tuple(findings))
    by_name = {n.node.name: n for n in answered}
    lines: list[Finding] = []
    problems = 0
    for key in sorted(groups, key=lambda k: (dates[k], k), reverse=True):  # newest first
        held = groups[key]
        holdings = [(by_name[name], studies) for name, studies in held.items()]
        holdings.sort(key=lambda h: [n.node.name for n in answered].index(h[0].node.name))
        absent = [n for n in answered if n.node.name not in held]
        compared, sentence, more = _compare(holdings, absent)
        for node in absent:
            # The same date under another accession on the node that lacks this one.
            others = sorted({k for k, h in groups.items() if k != key and node.node.name in h and dates[k] == dates[key]
                             and not any(n in h for n in held)})
            if others:
                sentence += f"; {node.node.name} has {', '.join(others)} on the same date — possibly mis-identified"
        first = holdings[0][1][0]
        label = f"{key} ({first.pretty_date}{', ' + '/'.join(first.modalities) if first.modalities else ''})"
        if compared in ("warn", "bad"):
            problems += 1
        severity = _worst(severity, compared)
        lines.append(Finding(compared, f"{label}: {sentence}"))
        lines.extend(more)
    count = len(groups)
    if problems:
        headline = f"{plural(count, 'study')} for this patient{when}: {problems} with problems{unchecked}"
    elif len(answered) > 1:
        headline = f"{plural(count, 'study')} for this patient{when}, the same on {names(answered)}{unchecked}"
    else:
        headline = f"{plural(count, 'study')} for this patient{when} on {names(answered)}{unchecked}"
    return Verdict(severity, headline, tuple(lines + findings))
