"""Verdicts: from what each node said to the sentence an admin acts on. Pure, no network."""

from __future__ import annotations

from pacsbot.commands.query import parse_locate
from pacsbot.commands.results import Failure, NodeLocate, NodeRef, SeriesInfo, StudyInfo
from pacsbot.commands.verdict import locate_verdict, plural

VNA = NodeRef("vna", "vna", "VNA01", "10.0.0.2", 104)
PACS = NodeRef("pacs", "pacs", "PACS01", "10.0.0.1", 104)
CT1 = NodeRef("ct1", "modality", "CT1", "10.0.0.9", 104)


def series(uid: str, number: int, count: int | None, modality: str = "CT", description: str = "AXIAL") -> SeriesInfo:
    return SeriesInfo(uid=uid, number=str(number), modality=modality, description=description, instances=count)


def study(accession: str = "A123", uid: str = "1.2.3", images: int | None = 412, *, date: str = "20260105",
          parts: tuple[SeriesInfo, ...] | None = None, patient: str = "P1") -> StudyInfo:
    return StudyInfo(uid=uid, accession=accession, study_date=date, modalities=("CT",), description="CT HEAD",
                     series_count=len(parts) if parts else 2, instance_count=images, counts_from="node",
                     series=parts, patient_id=patient, patient_name="DEMO^PHI", birth_date="19700101")


def node(ref: NodeRef, *studies: StudyInfo, failure: Failure | None = None, siblings: tuple[StudyInfo, ...] = (),
         truncated_by: str | None = None) -> NodeLocate:
    return NodeLocate(ref, 20, studies=studies, failure=failure, siblings=siblings,
                      truncated=truncated_by is not None, truncated_by=truncated_by)  # type: ignore[arg-type]


def verdict(text: str, *nodes: NodeLocate, cap: int = 25):  # type: ignore[no-untyped-def]
    return locate_verdict(parse_locate(text), list(nodes), cap=cap)


def test_the_issue_example_missing_images() -> None:
    full = (series("s1", 1, 300), series("s2", 2, 112, description="CORONAL"))
    v = verdict("A123", node(VNA, study(images=412, parts=full)), node(PACS, study(images=300, parts=full[:1])))
    assert v.headline == "A123: on vna with 412 images, on pacs with 300 — 112 missing on pacs"
    assert v.severity == "bad"
    assert "Missing on pacs: series 2 (CT CORONAL, 112 images)." in [f.text for f in v.findings]


def test_partial_series() -> None:
    v = verdict("A123",
                node(VNA, study(images=40, parts=(series("s1", 1, 40),))),
                node(PACS, study(images=25, parts=(series("s1", 1, 25),))))
    assert v.headline.endswith("15 missing on pacs")
    assert "Incomplete on pacs: series 1 has 25 of 40 images." in [f.text for f in v.findings]


def test_complete_everywhere() -> None:
    v = verdict("A123", node(VNA, study(images=412)), node(PACS, study(images=412)))
    assert v.severity == "ok"
    assert v.headline == "A123: on vna and pacs, complete on each: 412 images in 2 series"


def test_one_node_only() -> None:
    v = verdict("A123", node(PACS, study(images=12)))
    assert v.severity == "ok" and v.headline == "A123: on pacs with 12 images"


def test_not_on_one_node() -> None:
    v = verdict("A123", node(VNA, study(images=12)), node(PACS))
    assert v.headline == "A123: on vna with 12 images — not on pacs" and v.severity == "bad"


def test_not_found_on_any_node_with_a_case_hint() -> None:
    v = verdict("a123", node(VNA), node(PACS))
    assert v.headline == "a123: not found on any node"
    texts = " ".join(f.text for f in v.findings)
    assert "capital letters included. Did you mean A123?" in texts
    assert "locate --patient" in texts
    assert "Did you mean" not in " ".join(f.text for f in verdict("A123", node(PACS)).findings)


def test_possibly_mis_identified() -> None:
    other = study(accession="A124", uid="9.9", images=2)
    v = verdict("A123", node(VNA, study(images=2)), node(PACS, siblings=(other,)))
    assert v.headline == ("A123: on vna with 2 images — not on pacs; pacs has the same patient and date under another "
                          "accession (A124) — possibly mis-identified")
    assert v.severity == "bad"


def test_sibling_on_a_node_that_has_the_study_is_a_finding() -> None:
    other = study(accession="A124", uid="9.9", images=100)
    v = verdict("A123", node(VNA, study(images=400)), node(PACS, study(images=300), siblings=(other,)))
    assert any("pacs has the same patient and date under another accession (A124)" in f.text for f in v.findings)


def test_split_study() -> None:
    v = verdict("A123",
                node(VNA, study(uid="1.2.3", images=40)),
                node(PACS, study(uid="1.2.3", images=20), study(uid="1.2.3.99", images=20)))
    assert v.severity == "warn"
    split = [f.text for f in v.findings if f.text.startswith("Split study")]
    assert split and "pacs holds it under 2 study UIDs" in split[0]


def test_different_study_uid_across_nodes() -> None:
    v = verdict("A123", node(VNA, study(uid="1.1", images=4)), node(PACS, study(uid="2.2", images=4)))
    assert any("pacs holds it under a different study UID than vna" in f.text for f in v.findings)


def test_a_node_that_could_not_be_checked() -> None:
    refused = Failure("refused", "connection refused by 10.0.0.9:104")
    v = verdict("A123", node(VNA, study(images=4)), node(PACS, study(images=4)), node(CT1, failure=refused))
    assert v.headline == "A123: on vna and pacs, complete on each: 4 images in 2 series (ct1 could not be checked)"
    assert "Could not check ct1: connection refused by 10.0.0.9:104." in [f.text for f in v.findings]
    assert v.severity == "warn"


def test_nobody_answered() -> None:
    refused = Failure("refused", "connection refused")
    v = verdict("A123", node(VNA, failure=refused), node(PACS, failure=refused))
    assert v.severity == "bad" and v.headline == "Could not check A123: no node answered."


def test_unknown_counts_are_said_not_guessed() -> None:
    v = verdict("A123", node(VNA, study(images=None)), node(PACS, study(images=10)))
    assert "vna (image count not available)" in v.headline
    assert any("did not report image counts" in f.text for f in v.findings)


def test_truncation_is_reported_both_ways() -> None:
    by_cap = verdict("--patient P1", node(PACS, study(), truncated_by="cap"), cap=25)
    assert any("more than 25 matches; I stopped the query there (C-CANCEL)" in f.text for f in by_cap.findings)
    by_node = verdict("--patient P1", node(PACS, study(), truncated_by="node"))
    assert any("stopped its answer at its own result limit" in f.text for f in by_node.findings)
    assert by_node.severity == "warn"


def test_patient_view_groups_by_accession_and_flags_mis_identified() -> None:
    old = study(accession="A100", uid="1.0", images=10, date="20250101")
    v = verdict("--patient P1",
                node(VNA, old, study(accession="A123", uid="1.1", images=2)),
                node(PACS, old, study(accession="A124", uid="1.2", images=2)))
    texts = [f.text for f in v.findings]
    assert v.headline == "3 studies for this patient: 2 with problems"
    assert texts[0].startswith("A124 (2026-01-05, CT): on pacs with 2 images — not on vna; vna has A123 on the same date")
    assert any(t.startswith("A100 (2025-01-01, CT): on vna and pacs, complete") for t in texts)


def test_patient_not_found() -> None:
    v = verdict("--patient P1 --date 20260105", node(VNA), node(PACS))
    assert v.headline == "No studies for this patient on 2026-01-05 on any node"


def test_verdicts_never_carry_phi() -> None:
    s = study()
    full = [verdict("A123", node(VNA, s), node(PACS, s, siblings=(study(accession="A9", uid="9"),))),
            verdict("--patient P1", node(VNA, s), node(PACS))]
    for v in full:
        text = v.headline + " ".join(f.text for f in v.findings)
        assert "DEMO" not in text and "PHI" not in text and "19700101" not in text and "P1" not in text


def test_plural() -> None:
    assert plural(1, "study") == "1 study" and plural(2, "study") == "2 studies"
    assert plural(2, "series") == "2 series" and plural(3, "image") == "3 images"
