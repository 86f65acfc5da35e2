"""The dicom: section: node registry, TLS files, timeouts, safety knobs — and clear errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pacsbot.bot.settings import ConfigError, load_settings
from pacsbot.commands.config import DicomSettings
from pacsbot.commands.scu import target_for
from tests.dicom_support import TlsFiles, tls_files  # noqa: F401 - fixture


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pacsbot.yml"
    path.write_text(text)
    return path


def test_defaults() -> None:
    s = load_settings(None).dicom
    assert s.ae_title == "PACSBOT" and s.nodes == [] and s.demo == "auto"
    assert (s.timeouts.connect, s.timeouts.association, s.timeouts.dimse, s.timeouts.total) == (5, 10, 30, 60)
    assert s.max_matches == 25 and s.show_phi == "ephemeral" and s.accession_locate_role == "clinician"
    assert (s.rate_limit.runs, s.rate_limit.per_seconds) == (10, 60)


def test_node_timeouts_inherit_what_they_do_not_set() -> None:
    s = DicomSettings.model_validate({
        "timeouts": {"connect": 2},
        "nodes": [{"name": "pacs", "ae_title": "PACS", "host": "10.0.0.1", "port": 104, "timeouts": {"dimse": 7}}],
    })
    target = target_for(s, s.nodes[0])
    assert (target.connect_timeout, target.acse_timeout, target.dimse_timeout, target.total_timeout) == (2, 10, 7, 60)
    assert target.calling_ae == "PACSBOT" and target.ref.address == "PACS@10.0.0.1:104"


def test_ipv6_host() -> None:
    s = DicomSettings.model_validate({"nodes": [{"name": "v6", "ae_title": "A", "host": "[::1]", "port": 104}]})
    assert s.nodes[0].host == "::1" and target_for(s, s.nodes[0]).ref.address == "A@[::1]:104"


@pytest.mark.parametrize("text, expected", [
    ("dicom:\n  nodes:\n    - {name: pacs, ae_title: P, host: h, port: 104, kind: archive}\n",
     "dicom.nodes[0].kind: input should be 'pacs', 'vna', 'modality', 'router', 'other' or 'worklist'"),
    ("dicom:\n  nodes:\n    - {name: all, ae_title: P, host: h, port: 104}\n", "'all' is reserved"),
    ("dicom:\n  nodes:\n    - {name: 'my pacs', ae_title: P, host: h, port: 104}\n", "node name 'my pacs' must be"),
    ("dicom:\n  nodes:\n    - {name: pacs, ae_title: 'BAD\\\\AE', host: h, port: 104}\n", "may only contain letters, digits"),
    ("dicom:\n  nodes:\n    - {name: pacs, ae_title: P, host: 'h;rm', port: 104}\n", "is not a host name or IP address"),
    ("dicom:\n  nodes:\n    - {name: pacs, ae_title: P, host: h, port: 0}\n", "dicom.nodes[0].port: input should be greater than or equal to 1"),
    ("dicom:\n  timeouts: {connect: 0}\n", "dicom.timeouts.connect: input should be greater than 0"),
    ("dicom:\n  max_matches: 0\n", "dicom.max_matches: input should be greater than or equal to 1"),
    ("dicom:\n  show_phi: always\n", "dicom.show_phi: input should be 'ephemeral' or 'never'"),
    ("dicom:\n  accession_locate_role: technologist\n", "input should be 'admin', 'trainer' or 'clinician'"),
    ("dicom:\n  demo: maybe\n", "dicom.demo: input should be 'auto', 'true' or 'false'"),
    ("dicom:\n  demo: true\n  nodes:\n    - {name: pacs, ae_title: P, host: h, port: 104}\n",
     "demo: true adds demo nodes named vna, pacs and ris; rename the configured node 'pacs'"),
    ("dicom:\n  rate_limit: {runs: 0}\n", "dicom.rate_limit.runs: input should be greater than or equal to 1"),
    ("dicom:\n  nodes:\n    - {name: pacs, ae_title: P, host: h, port: 104, timeouts: {conect: 1}}\n",
     "dicom.nodes[0].timeouts.conect: unknown key"),
])
def test_bad_dicom_config_is_one_clear_line(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text))
    assert expected in str(info.value), str(info.value)


def test_demo_accepts_yaml_booleans(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, "dicom:\n  demo: false\n")).dicom.demo == "false"
    assert load_settings(write(tmp_path, "dicom:\n  demo: yes\n")).dicom.demo == "true"


def _tls_node(tls: str) -> str:
    return f"dicom:\n  nodes:\n    - name: pacs\n      ae_title: P\n      host: localhost\n      port: 2762\n      tls: {tls}\n"


def test_tls_files_are_checked_at_start(tmp_path: Path, tls_files: TlsFiles) -> None:  # noqa: F811
    good = load_settings(write(tmp_path, _tls_node(
        f"{{ca_file: {tls_files.ca}, cert_file: {tls_files.client_cert}, key_file: {tls_files.client_key}}}")))
    assert good.dicom.nodes[0].tls is not None and good.dicom.nodes[0].tls.ca_file == tls_files.ca
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello")
    cases = {
        f"{{ca_file: {tmp_path / 'nope.pem'}}}": "CA file '%s' does not exist" % (tmp_path / "nope.pem"),
        f"{{ca_file: {tmp_path}}}": "is not a file",
        f"{{ca_file: {not_pem}}}": "is not a PEM file",
        f"{{key_file: {tls_files.client_key}}}": "key_file is set but cert_file is not",
        f"{{cert_file: {tls_files.client_cert}}}": "cert_file holds no private key",
        f"{{cert_file: {tls_files.client_cert}, key_file: {tls_files.server_key}}}": "the TLS files cannot be used",
    }
    for tls, expected in cases.items():
        with pytest.raises(ConfigError) as info:
            load_settings(write(tmp_path, _tls_node(tls)))
        assert expected in str(info.value), (tls, str(info.value))


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file, so an unreadable file cannot be made")
def test_unreadable_tls_file(tmp_path: Path, tls_files: TlsFiles) -> None:  # noqa: F811
    locked = tmp_path / "locked.pem"
    locked.write_bytes(tls_files.ca.read_bytes())
    locked.chmod(0)
    with pytest.raises(ConfigError, match="is not readable by this user"):
        load_settings(write(tmp_path, _tls_node(f"{{ca_file: {locked}}}")))


def test_relative_tls_paths_are_relative_to_the_config_file(tmp_path: Path, tls_files: TlsFiles) -> None:  # noqa: F811
    (tmp_path / "tls").mkdir()
    (tmp_path / "tls" / "ca.pem").write_bytes(tls_files.ca.read_bytes())
    s = load_settings(write(tmp_path, _tls_node("{ca_file: tls/ca.pem}")))
    assert s.dicom.nodes[0].tls is not None and s.dicom.nodes[0].tls.ca_file == tmp_path / "tls" / "ca.pem"


def test_example_config_documents_node_keys() -> None:
    example = (Path(__file__).resolve().parents[2] / "pacsbot.example.yml").read_text()
    for key in ("name:", "ae_title:", "host:", "port:", "kind:", "description:", "tls:", "ca_file:", "cert_file:",
                "key_file:", "check_hostname:", "timeouts:", "connect:", "association:", "dimse:", "total:",
                "max_matches:", "show_phi:", "accession_locate_role:", "rate_limit:", "runs:", "per_seconds:", "demo:"):
        assert key in example, key
