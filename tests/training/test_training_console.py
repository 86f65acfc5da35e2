"""The console walkthrough in the docs keeps working: assign -> DM -> pages -> quiz -> report."""

from __future__ import annotations

import io
from typing import Any

from pacsbot.bot.console import Console
from tests.harness import make_settings

ANSWERS = "q1=o0,o1,o2 q2=o2 q3=o1 q4=o1 q5=o2 q6=o0,o1 q7=o0,o1 q8=o1 q9=o1 q10=o2 attest=understood"


def test_assign_learn_pass_and_report_in_the_console(tmp_path: Any, db_url: str) -> None:
    out = io.StringIO()
    console = Console(make_settings(tmp_path, db_url), user="terry.trainer", out=out, wait_seconds=30)
    console.start()
    try:
        status = console.run_script([
            "/pacs train assign hipaa-imaging @new-residents due 2027-01-15",
            ":as dr.rhea", "1", "3", "5", "7", "9", "11", "13", f":submit {ANSWERS}",
            ":as terry.trainer", "/pacs train report hipaa-imaging --csv",
        ])
    finally:
        console.close()
    text = " ".join(out.getvalue().split())  # the console wraps long lines
    assert status == 0
    assert "to *2* people (@new-residents: 2), due Fri 15 Jan 2027" in text
    assert "pacsbot posted in a DM to @dr.rhea:" in text and "pacsbot posted in a DM to @dr.ravi:" in text
    assert "Page 6 of 6" in text and "[13] Take the quiz" in text
    assert "== ✅ Passed — 10 of 10 right (100%) ==" in text and "Training complete: *HIPAA privacy and security in imaging*" in text
    assert "pacsbot uploaded training-hipaa-imaging-" in text and "to a DM to @terry.trainer" in text
