"""``pacsbot hl7 decode FILE|- [--json] [--show-phi]``: an HL7 v2 message in plain words.

Names every segment and field of one ORM, OMI, ORU, ADT or SIU message, and lists what would
break the imaging workflow (no accession, duplicate order numbers, ORC/OBR mismatch, no
procedure code, no MRN, wrong encoding characters, segments out of order), with the accession
numbers to look up on the worklist, PACS and VNA (``pacsbot locate ACCESSION``).

``-`` reads the message from standard input. Segments may be separated by CR, LF or CRLF;
MLLP framing is removed. Patient data (PID, NK1, MRG, names, report text) is shown as
``[hidden]`` unless ``--show-phi`` (refused when ``dicom.show_phi`` is ``never``). Every run is
audited as ``hl7.decode`` by ``cli:<login>``, without patient data.

Exit status: 0 when the message has no problem (notes of severity ``info`` do not count),
1 when it has a warning or an error (so a script can flag it), 2 when the input cannot be read
or is not one HL7 v2 message.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pacsbot.bot.cli.common import add_config_option, cli_actor, open_database, settings_from, subparser
from pacsbot.commands.hl7 import Hl7Options, Hl7Report, audit_details, decode, full_view, masked_view
from pacsbot.core.errors import Refused, UserError

if TYPE_CHECKING:
    from pacsbot.bot.storage import Database

LABELS = {"bad": "error", "warn": "warning", "info": "note"}


def add_parser(sub: Any) -> None:
    parser = subparser(sub, "hl7", "HL7 v2 messages: decode one in plain words and check it for imaging-workflow problems.",
                       "Tools for HL7 v2 messages (ORM, OMI, ORU, ADT, SIU) between RIS/EHR and PACS.")
    actions = parser.add_subparsers(dest="hl7_action", metavar="ACTION")
    verb = actions.add_parser(
        "decode", help="name the segments and fields of one message and list its problems",
        description="Decode one HL7 v2 message from FILE (or standard input with -): every segment and field in plain "
                    "words, the accession numbers, and the problems that break imaging workflows. Patient data is "
                    "hidden unless --show-phi. Exit 0 when there is no problem, 1 when there is a warning or an "
                    "error, 2 when the input is not one readable HL7 v2 message.")
    verb.add_argument("file", metavar="FILE|-", help="the message file, or - for standard input")
    verb.add_argument("--json", action="store_true", help="JSON on stdout instead of text")
    verb.add_argument("--show-phi", action="store_true",
                        help="show patient data too (recorded in the audit log; not allowed when dicom.show_phi is never)")
    verb.add_argument("--accession-field", action="append", default=None, metavar="SEG-N[.C]",
                        help="where this site carries the accession number, tried in order (repeatable; "
                             "default OBR-18, then IPC-1), e.g. OBR-3 or ZDS-2")
    verb.add_argument("--mrn-authority", default="", metavar="NAME",
                        help="the assigning authority of the site's MRNs (PID-3 component 4); "
                             "default: any identifier of type MR")
    add_config_option(verb)
    parser.set_defaults(func=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    if getattr(args, "hl7_action", None) != "decode":
        args.parser.print_help()
        return 2
    return run_decode(args)


def _read(source: str) -> bytes:
    if source == "-":
        return sys.stdin.buffer.read()
    path = Path(source)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"There is no file {source}.") from None
    except IsADirectoryError:
        raise UserError(f"{source} is a folder; give the file of one HL7 message.") from None
    except OSError as exc:
        raise UserError(f"{source} could not be read: {exc.strerror or exc}.") from None


def _audit(db: Database) -> Any:
    from pacsbot.bot.audit import Audit  # SQLAlchemy's ORM: only once there is something to record

    return Audit(db)


def run_decode(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    db = open_database(settings)  # audit first: nothing decoded unrecorded
    source = "stdin" if args.file == "-" else "file"
    try:
        try:
            if args.show_phi and settings.dicom.show_phi == "never":
                raise Refused("Patient details are switched off here (dicom.show_phi: never); run without --show-phi.")
            try:
                options = Hl7Options(accession_fields=tuple(args.accession_field or Hl7Options().accession_fields),
                                     mrn_authority=args.mrn_authority)
            except ValueError as exc:
                raise UserError(f"--accession-field: {exc}.") from None
            report = decode(_read(args.file), options)
        except UserError:
            _audit(db).record(cli_actor(), "hl7.decode", outcome="refused",
                              details={"reason": "bad input", "via": "cli", "source": source})
            raise
        _audit(db).record(cli_actor(), "hl7.decode", target=f"hl7:{report.kind or 'unknown'}", details=audit_details(report, via="cli", source=source, phi_shown=bool(args.show_phi)))
    finally:
        db.dispose()
    if args.json:
        view = full_view(report) if args.show_phi else masked_view(report)
        print(json.dumps(view, indent=2, ensure_ascii=False))
    else:
        print("\n".join(text_lines(report, show_phi=bool(args.show_phi))))
    return 1 if report.problems else 0


def text_lines(report: Hl7Report, *, show_phi: bool) -> list[str]:
    view = full_view(report) if show_phi else masked_view(report)
    head = [report.kind or "(no message type)"]
    if report.event:
        head[0] += f" {report.event}"
    if report.control_id:
        head.append(f"control ID {report.control_id}")
    if report.version:
        head.append(f"HL7 {report.version}")
    if report.sending or report.receiving:
        head.append(f"{report.sending or '?'} → {report.receiving or '?'}")
    lines = [" · ".join(head)]
    framing = ", MLLP framing removed" if report.mllp else ""
    if report.line_endings or framing:
        lines.append(f"Segments separated by {report.line_endings or 'nothing'}{framing}.")
    if report.accessions:
        lines.append(f"Accession{'s' if len(report.accessions) > 1 else ''}: {', '.join(report.accessions)}"
                     "  (look up with: pacsbot locate ACCESSION)")
    lines.append("")
    problems = len(report.problems)
    if report.findings:
        lines.append(f"{problems} problem{'' if problems == 1 else 's'}" + (":" if problems else ", notes:"))
        for f in sorted(report.findings, key=lambda f: ("bad", "warn", "info").index(f.severity)):
            where = f"{f.where}: " if f.where else ""
            lines.append(f"  {LABELS[f.severity]:<8} {where}{f.text}")
            if f.hint:
                lines.append(f"           {f.hint}")
    else:
        lines.append("No problems found.")
    hidden = False
    for segment in view["segments"]:
        lines.append("")
        lines.append(f"{segment['segment']}  {segment['description']}")
        for fld in segment["fields"]:
            label = fld["name"] or "–"
            meaning = f"  ({fld['meaning']})" if fld["meaning"] else ""
            hidden = hidden or (fld["phi"] and not show_phi)
            lines.append(f"  {fld['field']:<7} {label:<46}  {fld['value']}{meaning}")
    if hidden:
        lines += ["", "[hidden]: patient data and people's names. --show-phi shows them (recorded in the audit log)."]
    return lines
