"""The audit log API: filters, redaction of PHI-looking keys and secrets, CSV."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from pacsbot.bot.audit import Audit, to_csv, to_table
from pacsbot.bot.storage import Database, upgrade
from pacsbot.core.clock import ManualClock


def test_record_query_and_filters(db: Database) -> None:
    upgrade(db)
    clock = ManualClock()
    audit = Audit(db, clock)
    audit.record("U0ADMIN01", "dicom.echo", target="node:pacs", details={"ms": 12})
    clock.advance(hours=1)
    audit.record("U0RAD0001", "access.denied", target="command:audit", outcome="denied")
    clock.advance(hours=1)
    audit.record("U0ADMIN01", "dicom.locate", target="node:vna", outcome="failed")
    assert [r.action for r in audit.query()] == ["dicom.echo", "access.denied", "dicom.locate"]
    assert [r.action for r in audit.query(actor="U0ADMIN01")] == ["dicom.echo", "dicom.locate"]
    assert [r.action for r in audit.query(action="dicom")] == ["dicom.echo", "dicom.locate"]
    assert [r.action for r in audit.query(since=clock.now() - timedelta(minutes=90))] == ["access.denied", "dicom.locate"]
    assert [r.action for r in audit.query(limit=2)] == ["access.denied", "dicom.locate"]  # newest two, oldest first


def test_phi_and_secret_looking_details_are_redacted(db: Database) -> None:
    upgrade(db)
    audit = Audit(db)
    audit.record("U1", "dicom.locate", details={
        "patient_name": "DOE^JANE", "PatientBirthDate": "19700101", "token": "xoxb-1", "node_name": "pacs",
        "query": {"mrn": "123", "accession": "A123"}, "matches": 2,
    })
    details = audit.query()[0].details
    assert details["patient_name"] == details["PatientBirthDate"] == details["token"] == "[redacted]"
    assert details["node_name"] == "pacs" and details["matches"] == 2
    assert details["query"] == {"mrn": "[redacted]", "accession": "A123"}


def test_unknown_outcome_is_a_programming_error(db: Database) -> None:
    upgrade(db)
    try:
        Audit(db).record("U1", "x", outcome="maybe")
    except ValueError as exc:
        assert "unknown audit outcome" in str(exc)
    else:
        raise AssertionError("accepted an unknown outcome")


def test_csv_and_table(db: Database) -> None:
    upgrade(db)
    audit = Audit(db, ManualClock())
    audit.record("U1", "ticket.resolve", target="PACS-12", details={"note": "fixed, with a comma"})
    rows = list(csv.DictReader(io.StringIO(to_csv(audit.query()))))
    assert rows[0]["action"] == "ticket.resolve" and rows[0]["target"] == "PACS-12"
    assert rows[0]["details"] == '{"note": "fixed, with a comma"}'
    assert "ticket.resolve" in to_table(audit.query())
    assert to_table([]) == "No audit entries match."
