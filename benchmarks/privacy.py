"""The patient-identifier detector (core/privacy.py) against the synthetic corpus (tests/phi_corpus.py).

    python3 dev.py bench privacy            (or: .venv/bin/python -m benchmarks privacy --rounds=5)

Prints, for the new detector (configured as the privacy gate configures it, and bare) and for
its peer — the ticket filter pacsbot had before the gate (``benchmarks/_phi_before.py``, with
its default MRN pattern) — how many identifiers leak, how
many keep tokens (accessions, AE titles, node names, modalities, times, ticket refs) survive,
how many clean messages are changed, how many of the known hard cases leak, and how many
messages per second each masks. Targets: no identifier leaks; keep tokens survive >= 99%.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

PEER_PATTERNS = [r"\b(?:MRN|MR#|medical record(?: number)?)\s*[:#]?\s*\d{5,12}\b"]


def _score(mask: Callable[[str], str], items, clean, hard) -> dict[str, object]:
    from tests.phi_corpus import kept, leaks

    leaked = 0
    by_shape: Counter[str] = Counter()
    survived = total = 0
    for item in items:
        masked = mask(item.text)
        bad = leaks(item.text, masked, item.identifiers)
        leaked += len(bad)
        by_shape.update(item.shape for _ in bad)
        ok, n, _ = kept(item.text, masked, item.keep)
        survived, total = survived + ok, total + n
    changed = 0
    for item in clean:
        masked = mask(item.text)
        changed += masked != item.text
        ok, n, _ = kept(item.text, masked, item.keep)
        survived, total = survived + ok, total + n
    hard_leaked = sum(len(leaks(i.text, mask(i.text), i.identifiers)) for i in hard)
    return {"leaked": leaked, "by_shape": by_shape, "keep": survived / total if total else 1.0,
            "changed": changed, "hard": hard_leaked}


def _throughput(mask: Callable[[str], str], texts: list[str], rounds: int) -> float:
    mask(texts[0])  # warm up (compiles, loads the name list)
    started = time.perf_counter()
    for _ in range(rounds):
        for text in texts:
            mask(text)
    return rounds * len(texts) / (time.perf_counter() - started)


def _peer() -> tuple[Callable[[str], str] | None, str]:
    """The filter pacsbot had before the gate (benchmarks/_phi_before.py), default MRN pattern."""
    from benchmarks._phi_before import find_phi

    return (lambda t: find_phi(t, PEER_PATTERNS).masked), ""


def main(argv: list[str]) -> int:
    rounds = 5
    for arg in argv:
        if arg.startswith("--rounds="):
            rounds = max(1, int(arg.split("=", 1)[1]))
    root = Path(__file__).resolve().parent.parent
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from pacsbot.core.privacy import Detector, SeenIdentifiers
    from tests.phi_corpus import (
        AE_TITLES,
        KEEP_PATTERNS,
        NODE_NAMES,
        SEEN_IDS,
        SEEN_NAMES,
        SITE_PATTERNS,
        clean_messages,
        corpus,
        hard_cases,
    )

    peer, peer_note = _peer()
    items, clean, hard = corpus(), clean_messages(), hard_cases()
    seen = SeenIdentifiers(b"benchmark-key", clock=lambda: 1_000_000.0)
    seen.remember(patient_ids=SEEN_IDS, names=SEEN_NAMES)
    detector = Detector(SITE_PATTERNS, keep_words=NODE_NAMES + AE_TITLES, keep_patterns=KEEP_PATTERNS, seen=seen)
    bare = Detector()
    runs: list[tuple[str, Callable[[str], str]]] = [
        ("new: configured as the gate", lambda t: detector.mask(t).text),
        ("new: no site config/seen list", lambda t: bare.mask(t).text),
    ]
    if peer is not None:
        runs.append(("peer: the filter before the gate", peer))

    identifiers = sum(len(i.identifiers) for i in items)
    hard_ids = sum(len(i.identifiers) for i in hard)
    texts = [i.text for i in items + clean]
    print(f"{len(items)} messages with {identifiers} identifiers in {len(Counter(i.shape for i in items))} shapes; "
          f"{len(clean)} clean messages; {len(hard)} hard cases ({hard_ids} identifiers, known gaps).")
    print("'configured as the gate': site pattern, node names and AE titles as keep words, ticket refs kept, "
          "seen-list of what the archive returned.\n")
    print("| detector                         | identifiers leaked | keep tokens survive | clean msgs changed | hard cases leaked | msgs/s  |")
    print("|----------------------------------|--------------------|---------------------|--------------------|-------------------|---------|")
    results = []
    for label, mask in runs:
        score = _score(mask, items, clean, hard)
        rate = _throughput(mask, texts, rounds)
        results.append((label, score, rate))
        leaked, changed, hard_leaked = score["leaked"], score["changed"], score["hard"]
        cells = (f"{leaked} of {identifiers} ({leaked / identifiers:.1%})", f"{score['keep']:.2%}",
                 f"{changed} of {len(clean)} ({changed / len(clean):.1%})", f"{hard_leaked} of {hard_ids} ({hard_leaked / hard_ids:.0%})",
                 f"{rate:.0f}")
        print(f"| {label:<32} | " + " | ".join(f"{c:>{w}}" for c, w in zip(cells, (18, 19, 18, 17, 7))) + " |")
    if peer is not None:
        print(f"\nThroughput, new / peer: {results[0][2] / results[-1][2]:.2f}x.")
    else:
        print(f"\nPeer: none. {peer_note}")
    for label, score, _ in results:
        shapes = ", ".join(f"{s}: {n}" for s, n in score["by_shape"].most_common(8))
        print(f"Leaks by shape, {label}: {shapes or 'none'}")
    new = results[0][1]
    ok = new["leaked"] == 0 and new["keep"] >= 0.99
    print(f"\nTargets (no identifier leaks, keep tokens >= 99%): {'met' if ok else 'MISSED'}.")
    return 0
