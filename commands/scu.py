"""The only code in pacsbot that talks DICOM to a node: C-ECHO and C-FIND, nothing else.

Safety by construction:

* an association requests only Verification (C-ECHO) and the two FIND information models,
  Study Root Query/Retrieve - FIND (locate, reconcile) and Modality Worklist Information
  Model - FIND (the worklist check); there is no C-MOVE, C-GET or C-STORE here, and nothing
  that writes (no MPPS N-CREATE/N-SET) (``tests/commands/test_dicom_safety.py`` scans the
  code to keep it so);
* a node's address comes from a :class:`Target` built from the configuration, never from
  chat;
* every association has ``connection_timeout`` set (``acse_timeout`` does not cover the
  TCP connect: a host that drops packets would otherwise hang for minutes) and an overall
  deadline;
* a C-FIND returns at most ``cap`` matches: past it we send C-CANCEL and report the answer
  as truncated. A node that ends a C-FIND with 0xFE00 on its own (its result limit) is
  truncated too, not a success.

When something fails, :class:`NodeError` carries a :class:`~commands.results.Failure` in
plain words: connection refused, timed out after N s, TLS handshake failed, association
rejected (and why), aborted. To tell these apart we record what the socket saw: pynetdicom
logs the exception of a failed connect but does not hand it to the caller.
"""

from __future__ import annotations

import errno
import functools
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom import _config as _pynetdicom_config
from pynetdicom.sop_class import (  # type: ignore[attr-defined]  # pynetdicom generates the SOP classes at import
    ModalityWorklistInformationFind,
    StudyRootQueryRetrieveInformationModelFind,
    Verification,
)

from pacsbot.commands.config import DicomSettings, NodeConfig, TlsSettings
from pacsbot.commands.results import EchoResult, Failure, NodeRef

log = logging.getLogger(__name__)

T = TypeVar("T")

# The complete list of services pacsbot may request. Nothing else is ever negotiated.
FIND_MODEL = StudyRootQueryRetrieveInformationModelFind
# Modality Worklist Information Model - FIND: read-only, asked of worklist nodes only.
WORKLIST_MODEL = ModalityWorklistInformationFind
ALLOWED_ABSTRACT_SYNTAXES = frozenset({str(Verification), str(FIND_MODEL), str(WORKLIST_MODEL)})
_MODEL_WORDS = {str(FIND_MODEL): "Study Root", str(WORKLIST_MODEL): "Modality Worklist"}

STATUS_SUCCESS = 0x0000
STATUS_CANCEL = 0xFE00
STATUS_PENDING = (0xFF00, 0xFF01)

_FIND_STATUS_WORDS = {
    0xA700: "out of resources",
    0xA900: "the query does not match the {model} model",
    0xC000: "unable to process",
}


class NodeError(Exception):
    """A node could not be asked; ``failure`` says why in plain words."""

    def __init__(self, failure: Failure):
        super().__init__(failure.message)
        self.failure = failure


@dataclass(frozen=True)
class Target:
    """A configured node with the bot's calling AE title and the timeouts to use."""

    ref: NodeRef
    calling_ae: str
    connect_timeout: float
    acse_timeout: float
    dimse_timeout: float
    total_timeout: float
    tls: TlsSettings | None = None

    @property
    def name(self) -> str:
        return self.ref.name


def node_ref(node: NodeConfig) -> NodeRef:
    return NodeRef(node.name, node.kind, node.ae_title, node.host, node.port, node.tls is not None, node.description)


def target_for(settings: DicomSettings, node: NodeConfig) -> Target:
    return Target(
        ref=node_ref(node),
        calling_ae=settings.ae_title,
        connect_timeout=settings.timeout_for(node, "connect"),
        acse_timeout=settings.timeout_for(node, "association"),
        dimse_timeout=settings.timeout_for(node, "dimse"),
        total_timeout=settings.timeout_for(node, "total"),
        tls=node.tls,
    )


def _secs(value: float) -> str:
    return f"{value:g} s"


# ----------------------------------------------------------------------------------------
# what the socket saw


_TCP_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)
_RELEASE_SETTLE_SECONDS = 0.01  # at most what pynetdicom's own first sleep would have cost
RELEASE_ANSWER_SECONDS = 2.0  # how long closing waits for pynetdicom to answer the node's own release


class _Probe:
    """Facts about one association attempt, filled in by socket hooks and pynetdicom events."""

    def __init__(self) -> None:
        self.connect_error: OSError | None = None
        self.tcp_connected = False  # TCP is up (TLS may still be negotiating)
        self.conn_open = False  # pynetdicom's EVT_CONN_OPEN: TCP (and TLS) are up
        self.abort_received = False  # the peer sent A-ABORT
        # the peer's A-ASSOCIATE-RJ (result, source, reason), as received: on a busy machine the
        # node's close can reach the association before it has noted the rejection
        self.rejection: tuple[int, int, int] | None = None
        self.nodelay: bool | None = None
        self.quickack: bool | None = None
        # the peer's A-ASSOCIATE-AC: how many of our presentation contexts it accepted (None: no AC)
        self.accepted: int | None = None

    # pynetdicom event handlers (run on the association's own thread)
    def on_conn_open(self, event: Any) -> None:
        self.conn_open = True
        self.tcp_connected = True
        # Nagle's algorithm on one side and delayed ACKs on the other stall each exchange
        # ~40 ms; neither pynetdicom nor dcmtk (so Orthanc) disables Nagle. We can fix both
        # halves from our side: TCP_NODELAY for what we send, TCP_QUICKACK so the node's
        # Nagle-held segments are released at once. Measured against packaged Orthanc: a
        # fresh association + STUDY C-FIND + release, ~108 ms -> ~13 ms. The socket lives
        # at an internal path, so guard every step.
        sock = self._socket(event)
        if sock is None:
            self.nodelay = False
            return
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.nodelay = True
        except OSError:
            self.nodelay = False
        self._quickack(sock)

    def on_pdu_recv(self, event: Any) -> None:
        kind = type(event.pdu).__name__
        if kind == "A_ABORT_RQ":
            self.abort_received = True
        elif kind == "A_ASSOCIATE_RJ":
            pdu = event.pdu
            self.rejection = (int(pdu.result or 0), int(pdu.source or 0), int(pdu.reason_diagnostic or 0))
        elif kind == "A_ASSOCIATE_AC":
            try:
                self.accepted = sum(1 for item in event.pdu.presentation_context if item.result == 0)
            except (AttributeError, TypeError):  # pynetdicom internals moved: lose detail only
                self.accepted = None
        self._quickack(self._socket(event))

    def on_pdu_sent(self, event: Any) -> None:
        self._quickack(self._socket(event))

    @staticmethod
    def _socket(event: Any) -> socket.socket | None:
        try:
            return event.assoc.dul.socket.socket
        except AttributeError:
            return None

    def _quickack(self, sock: socket.socket | None) -> None:
        # Linux only, and the kernel clears it again after a while: re-arm it at every PDU.
        if sock is None or _TCP_QUICKACK is None or self.quickack is False:
            return
        try:
            sock.setsockopt(socket.IPPROTO_TCP, _TCP_QUICKACK, 1)
            self.quickack = True
        except OSError:
            self.quickack = False

    @staticmethod
    def on_released(event: Any) -> None:
        # Right after this event pynetdicom stops the association's DUL thread: it checks once
        # whether that thread has closed the connection (state Sta1) and, if not yet, sleeps
        # 10 ms before looking again. The thread needs well under a millisecond, but on a busy
        # interpreter (several nodes at once) the first look nearly always comes too early:
        # measured, a release took ~1.5 ms alone and 10-13 ms with five nodes. Waiting here in
        # small steps makes that first look succeed. Internal paths, so guarded; bounded.
        dul = getattr(event.assoc, "dul", None)
        machine = getattr(dul, "state_machine", None)
        if dul is None or machine is None:
            return
        until = time.monotonic() + _RELEASE_SETTLE_SECONDS
        while getattr(machine, "current_state", "Sta1") != "Sta1" and dul.is_alive() and time.monotonic() < until:
            time.sleep(0.0002)

    def handlers(self) -> list[Any]:
        return [(evt.EVT_CONN_OPEN, self.on_conn_open), (evt.EVT_PDU_RECV, self.on_pdu_recv),
                (evt.EVT_PDU_SENT, self.on_pdu_sent), (evt.EVT_RELEASED, self.on_released)]


class _ProbeSocket(socket.socket):
    """A plain TCP socket that remembers why ``connect`` failed."""

    probe: _Probe | None = None

    def connect(self, address: Any) -> None:
        try:
            super().connect(address)
        except OSError as exc:
            if self.probe is not None:
                self.probe.connect_error = exc
            raise
        if self.probe is not None:
            self.probe.tcp_connected = True


class _ProbeSSLSocket(ssl.SSLSocket):
    """A TLS socket that remembers whether TCP came up and why the handshake failed."""

    def _probe(self) -> _Probe | None:
        return getattr(self.context, "pacsbot_probe", None)

    def connect(self, address: Any) -> None:
        try:
            super().connect(address)
        except OSError as exc:  # ssl.SSLError is an OSError
            probe = self._probe()
            if probe is not None:
                probe.connect_error = exc
            raise

    def do_handshake(self, block: bool = False) -> None:
        probe = self._probe()
        if probe is not None:
            probe.tcp_connected = True
        super().do_handshake(block)


class _ProbeAE(AE):
    """pynetdicom's AE, with a socket that records connect failures for :class:`_Probe`."""

    def __init__(self, ae_title: str, probe: _Probe):
        super().__init__(ae_title=ae_title)
        self._pacsbot_probe = probe

    def _create_socket(self, assoc: Any, address: Any, tls_args: Any) -> Any:
        sock = super()._create_socket(assoc, address, tls_args)
        try:
            raw = sock.socket
            assert raw is not None  # pynetdicom made it just now
            timeout = raw.gettimeout()
            wrapped = _ProbeSocket(raw.family, raw.type, raw.proto, fileno=raw.detach())
            wrapped.settimeout(timeout)
            wrapped.probe = self._pacsbot_probe
            sock.socket = wrapped
        except Exception:  # noqa: BLE001 - pynetdicom internals moved: lose detail, not function
            log.debug("dicom: could not install the connect probe; failures will be less specific")
        return sock


def tls_context(tls: TlsSettings, probe: _Probe | None = None) -> ssl.SSLContext:
    """A client TLS context for one association (its own, so the probe is per attempt)."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(tls.ca_file) if tls.ca_file else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if not tls.check_hostname:
        context.check_hostname = False
    if tls.cert_file is not None:
        # An encrypted key must never make OpenSSL prompt on a terminal: no password, error.
        context.load_cert_chain(str(tls.cert_file), str(tls.key_file) if tls.key_file else None, password=lambda: b"")
    if probe is not None:
        context.sslsocket_class = _ProbeSSLSocket
        context.pacsbot_probe = probe  # type: ignore[attr-defined]
    return context


# ----------------------------------------------------------------------------------------
# failures in plain words


def _connect_failure(target: Target, probe: _Probe, exc: OSError | None, elapsed: float) -> Failure:
    where = f"{target.ref.host}:{target.ref.port}"
    connect_s = _secs(target.connect_timeout)
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = exc.verify_message or exc.reason or "certificate verify failed"
        return Failure(
            "tls", f"TLS handshake failed: the node's certificate was not accepted ({detail})",
            "Check tls.ca_file (the CA that signed the node's certificate) and that the certificate names "
            f"{target.ref.host}.",
        )
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or type(exc).__name__
        return Failure(
            "tls", f"TLS handshake failed ({str(reason).lower().replace('_', ' ')})",
            "Check that the node speaks DICOM TLS on this port and accepts pacsbot's certificate.",
        )
    if isinstance(exc, ConnectionRefusedError):
        return Failure(
            "refused", f"connection refused by {where}",
            "Nothing is listening there: is the node's DICOM service running, and is the port right?",
        )
    if isinstance(exc, (TimeoutError, socket.timeout)):
        if target.tls is not None and probe.tcp_connected:
            return Failure(
                "tls", f"TLS handshake timed out after {connect_s}",
                "The port answers but does not complete TLS: does the node use DICOM TLS on this port?",
            )
        return Failure(
            "timeout", f"timed out after {connect_s} connecting to {where}",
            "The host is down or a firewall drops the traffic. Check the address, the network and the firewall.",
        )
    if isinstance(exc, ConnectionResetError) or isinstance(exc, ConnectionAbortedError):
        if target.tls is not None:
            return Failure(
                "tls", "TLS handshake failed (the node closed the connection)",
                "Check that the node speaks DICOM TLS on this port and accepts pacsbot's certificate.",
            )
        return Failure("reset", f"{where} reset the connection", "A firewall or the node refused us; check both.")
    if isinstance(exc, OSError) and exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return Failure(
            "unreachable", f"no route to {target.ref.host}",
            "The network cannot reach that address: check the address and the network.",
        )
    if exc is not None:
        words = exc.strerror or type(exc).__name__
        return Failure("connect", f"could not connect to {where} ({words})")
    if elapsed >= target.connect_timeout * 0.9:
        return Failure("timeout", f"timed out after {connect_s} connecting to {where}",
                       "The host is down or a firewall drops the traffic.")
    return Failure("connect", f"could not connect to {where}")


# A-ASSOCIATE-RJ: (source, diagnostic) -> what it means and what to do. PS3.8 9.3.4.
def _rejection(target: Target, result: int, source: int, reason: int) -> Failure:
    calling = target.calling_ae
    if source == 1 and reason == 3:
        return Failure(
            "rejected", f"association rejected: the node does not recognise our calling AE title {calling}",
            f"Ask the node's administrator to add {calling} (and this server's address) to its allowed callers.",
        )
    if source == 1 and reason == 7:
        return Failure(
            "rejected", f"association rejected: the node's AE title is not {target.ref.ae_title}",
            f"Check ae_title of node '{target.name}' in the configuration (AE titles are case-sensitive).",
        )
    if source == 1 and reason == 2:
        return Failure("rejected", "association rejected: the node does not support the DICOM application context")
    if source == 2 and reason == 2:
        return Failure("rejected", "association rejected: the node does not support our DICOM protocol version")
    if source == 3 and reason in (1, 2):
        return Failure(
            "rejected", "association rejected: the node is busy (too many connections)",
            "Try again in a minute; if it keeps happening, the node's connection limit is too low.",
        )
    kind = "temporarily" if result == 2 else "permanently"
    return Failure(
        "rejected", f"association rejected {kind}, no reason given",
        f"The node does not accept pacsbot. Check that it lists {calling} as a caller.",
    )


def _association_failure(target: Target, probe: _Probe, assoc: Any, elapsed: float) -> Failure:
    if probe.rejection is not None:  # the A-ASSOCIATE-RJ itself, whatever the association noted
        return _rejection(target, *probe.rejection)
    if assoc.is_rejected:
        primitive = getattr(assoc.acceptor, "primitive", None)
        result = int(getattr(primitive, "result", 0) or 0)
        source = int(getattr(primitive, "result_source", 0) or 0)
        reason = int(getattr(primitive, "diagnostic", 0) or 0)
        return _rejection(target, result, source, reason)
    if probe.connect_error is not None or not probe.conn_open:
        return _connect_failure(target, probe, probe.connect_error, elapsed)
    if probe.accepted == 0:  # pynetdicom aborts an association with no accepted context
        try:
            asked = sorted({_MODEL_WORDS.get(str(c.abstract_syntax), "C-ECHO") for c in assoc.requestor.requested_contexts})
        except AttributeError:
            asked = []
        services = " or ".join(f"{w} C-FIND" if w != "C-ECHO" else w for w in asked) or "the services we asked for"
        return Failure(
            "no-service", f"the node accepted the association but does not offer {services}",
            "Check the node's DICOM configuration for pacsbot's AE title, and its kind in dicom.nodes.",
        )
    if probe.abort_received:
        return Failure(
            "aborted", "the node aborted the association request",
            f"It may not accept {target.calling_ae} as a caller, or it may require DICOM TLS.",
        )
    if elapsed >= target.acse_timeout * 0.9:
        return Failure(
            "timeout", f"connected, but no answer to the association request within {_secs(target.acse_timeout)}",
            "Something is listening but not answering DICOM: is the port right? Does it need TLS?",
        )
    hint = "It may require DICOM TLS on this port, or limit who may connect."
    if target.tls is not None:
        hint = "It may not expect TLS on this port, or may limit who may connect."
    return Failure("aborted", "the node closed the connection during association set-up", hint)


# ----------------------------------------------------------------------------------------
# associations


@dataclass
class FindOutcome:
    matches: list[Dataset]
    truncated: bool = False
    truncated_by: str | None = None  # "cap" (we cancelled) or "node" (its own limit)
    undecodable: int = 0


class Session:
    """One established association with one node. Use :func:`open_session`."""

    def __init__(self, target: Target, assoc: Any, probe: _Probe, deadline: float):
        self.target = target
        self.assoc = assoc
        self.probe = probe
        self.deadline = deadline
        self.reused = False  # True once an :class:`Associations` hands it out a second time
        self._msg_id = 0

    def usable(self) -> bool:
        """Still established, as far as we can tell without a round trip: pynetdicom's flags,
        no A-ABORT seen, and its DUL thread alive in the "established" state (it may have
        taken the node's abort or a closed connection before the association noticed)."""
        assoc = self.assoc
        if not assoc.is_established or assoc.is_aborted or assoc.is_released or self.probe.abort_received:
            return False
        dul = getattr(assoc, "dul", None)
        if dul is None:
            return True
        return bool(dul.is_alive()) and self._dul_state() == "Sta6"

    def _dul_state(self) -> str:
        """The association's state in the DICOM upper layer ("Sta6": established, idle)."""
        return str(getattr(getattr(getattr(self.assoc, "dul", None), "state_machine", None), "current_state", "Sta6"))

    def close(self) -> None:
        """Release the association (abort it if the release fails); nothing if it is gone.

        Whether it is :meth:`usable` decides only whether it may be reused: an association
        that is still established is always released here, never left to the node's limits.

        When the node is itself ending it (its A-RELEASE-RQ came in: "Sta8", waiting for our
        answer, which pynetdicom's own thread gives), a release request of ours would be an
        event that state does not allow: pynetdicom's upper layer raises, its thread dies and
        the association is left neither released nor aborted. Then we wait for that answer
        instead, and abort only if it does not come. Seen on a busy machine, where the
        answering thread is late.
        """
        assoc = self.assoc
        if not assoc.is_established:
            return
        if self._dul_state() == "Sta8":
            until = time.monotonic() + RELEASE_ANSWER_SECONDS
            while assoc.is_established and self._dul_state() == "Sta8" and time.monotonic() < until:
                time.sleep(0.002)
            if assoc.is_established and self._dul_state() == "Sta8":
                assoc.abort()
            if not assoc.is_established:
                return
        try:
            assoc.release()
        except Exception:  # noqa: BLE001 - the answer is in; a failed release is not the user's problem
            log.debug("dicom: release from %s failed", self.target.name)
            assoc.abort()

    def _next_id(self) -> int:
        self._msg_id = (self._msg_id % 65535) + 1
        return self._msg_id

    def _check_deadline(self) -> None:
        if time.monotonic() > self.deadline:
            self.assoc.abort()
            raise NodeError(Failure(
                "timeout", f"gave up after {_secs(self.target.total_timeout)} (the node was still answering)",
                "The node is very slow; try a narrower query, or raise its timeouts.total.",
            ))

    def _lost(self, what: str, started: float) -> NodeError:
        # (a stalled C-FIND's message starts "no answer to the C-FIND": see :func:`stalled`)
        waited = time.monotonic() - started
        if self.probe.abort_received:
            return NodeError(Failure("find-aborted" if what == "C-FIND" else "aborted", f"the node aborted the {what}"))
        if waited >= self.target.dimse_timeout * 0.9:
            return NodeError(Failure(
                "timeout", f"no answer to the {what} within {_secs(self.target.dimse_timeout)}",
                "The node accepted the connection but stopped answering. It may be overloaded.",
            ))
        return NodeError(Failure("closed" if what == "C-FIND" else "aborted", f"the connection dropped during the {what}"))

    def echo(self) -> None:
        self._require(Verification, "C-ECHO (Verification)")
        started = time.monotonic()
        status = self.assoc.send_c_echo(msg_id=self._next_id())
        if status is None or "Status" not in status:
            raise self._lost("C-ECHO", started)
        if status.Status != STATUS_SUCCESS:
            raise NodeError(Failure("echo-failed", f"the node answered C-ECHO with status 0x{int(status.Status):04X}"))

    def find(self, identifier: Dataset, *, cap: int, model: Any = FIND_MODEL) -> FindOutcome:
        """A C-FIND in ``model`` (Study Root by default, or :data:`WORKLIST_MODEL`); at most
        ``cap`` matches, C-CANCEL past it; the same deadline and failures for both."""
        words = _MODEL_WORDS.get(str(model))
        if words is None:
            raise ValueError(f"refusing to query {model}: pacsbot only does Study Root and Modality Worklist C-FIND")
        self._require(model, f"{words} C-FIND")
        msg_id = self._next_id()
        outcome = FindOutcome(matches=[])
        cancelled = False
        ignored = 0
        last = time.monotonic()
        for status, ds in self.assoc.send_c_find(identifier, model, msg_id=msg_id):
            if status is None or "Status" not in status:
                raise self._lost("C-FIND", last)
            last = time.monotonic()
            code = int(status.Status)
            if code in STATUS_PENDING:
                self._check_deadline()
                if len(outcome.matches) < cap:
                    if ds is None:
                        outcome.undecodable += 1
                    else:
                        outcome.matches.append(ds)
                    continue
                if not cancelled:
                    cancelled = True
                    outcome.truncated, outcome.truncated_by = True, "cap"
                    self.assoc.send_c_cancel(msg_id, query_model=model)
                    continue
                ignored += 1
                if ignored > cap + 100:  # the node ignores C-CANCEL: stop listening
                    self.assoc.abort()
                    break
                continue
            if code == STATUS_SUCCESS:
                break
            if code == STATUS_CANCEL:
                outcome.truncated = True
                outcome.truncated_by = "cap" if cancelled else "node"
                break
            meaning = _FIND_STATUS_WORDS.get(0xC000 if 0xC000 <= code <= 0xCFFF else code, "refused").format(model=words)
            raise NodeError(Failure(
                "query-failed", f"the node refused the query (status 0x{code:04X}: {meaning})",
                "The node could not run this C-FIND; its logs will say more.",
            ))
        return outcome

    def _require(self, abstract_syntax: Any, words: str) -> None:
        for context in self.assoc.accepted_contexts:
            if context.abstract_syntax == abstract_syntax:
                return
        raise NodeError(Failure(
            "no-service", f"the node accepted the association but does not offer {words}",
            "Check the node's DICOM configuration for pacsbot's AE title.",
        ))


@functools.lru_cache(maxsize=8)
def _presentation_contexts(abstract_syntaxes: tuple[Any, ...]) -> tuple[Any, ...]:
    """The presentation contexts to request for these services, built and checked once:
    every association (each node of a locate, each round) requests the same ones, and
    pynetdicom copies them into each association it opens."""
    builder = AE()
    for context in abstract_syntaxes:
        if str(context) not in ALLOWED_ABSTRACT_SYNTAXES:
            raise ValueError(f"refusing to request {context}: pacsbot only does C-ECHO and C-FIND")
        builder.add_requested_context(context)
    return tuple(builder.requested_contexts)


def _new_ae(target: Target, probe: _Probe, contexts: list[Any]) -> tuple[AE, list[Any]]:
    """An AE for one association with ``target``, and the presentation contexts it is to
    request (only ``contexts``; pass them to ``associate``)."""
    requested = list(_presentation_contexts(tuple(contexts)))
    ae = _ProbeAE(target.calling_ae, probe)
    ae.connection_timeout = target.connect_timeout  # always: acse_timeout does not cover connect
    ae.acse_timeout = target.acse_timeout
    ae.dimse_timeout = target.dimse_timeout
    ae.network_timeout = max(target.acse_timeout, target.dimse_timeout) + 5
    return ae, requested


@contextmanager
def open_session(target: Target, *, contexts: list[Any], deadline: float | None = None) -> Iterator[Session]:
    """Associate with ``target`` requesting only ``contexts``; release (or abort) afterwards."""
    session = _associate(target, contexts, deadline)
    try:
        yield session
    finally:
        session.close()


def _associate(target: Target, contexts: list[Any], deadline: float | None) -> Session:
    """A new established association with ``target``, or :class:`NodeError` saying why not."""
    keep_phi_out_of_pynetdicom_logs()
    probe = _Probe()
    ae, requested = _new_ae(target, probe, contexts)
    tls_args = None
    if target.tls is not None:
        try:
            tls_args = (tls_context(target.tls, probe), target.ref.host)
        except (ssl.SSLError, OSError) as exc:
            raise NodeError(Failure(
                "tls", f"the TLS files for this node cannot be used ({getattr(exc, 'reason', None) or exc.strerror or type(exc).__name__})",
                "Check tls.cert_file and tls.key_file (they must match, and the key must not need a password).",
            )) from None
    started = time.monotonic()
    try:
        assoc = ae.associate(
            target.ref.host, target.ref.port, ae_title=target.ref.ae_title, contexts=requested,
            tls_args=tls_args, evt_handlers=probe.handlers(),
        )
    except socket.gaierror:
        raise NodeError(Failure(
            "dns", f"the host name {target.ref.host} could not be found",
            "Check the node's host in the configuration, and that this server's DNS works.",
        )) from None
    elapsed = time.monotonic() - started
    if not assoc.is_established:
        failure = _association_failure(target, probe, assoc, elapsed)
        log.info("dicom: %s %s (%s) after %d ms", target.name, failure.code, failure.message, elapsed * 1000)
        raise NodeError(failure)
    _answers_only_to_the_caller(assoc)
    return Session(target, assoc, probe, deadline or (started + target.total_timeout))


def _answers_only_to_the_caller(assoc: Any) -> None:
    """Keep the node's answers for the call that waits for them.

    pynetdicom runs a reactor on every association, also ours, to serve requests the peer
    might send. A ``send_c_find``/``send_c_echo`` pauses it first, but the pause has a gap:
    the reactor marks itself paused, passes its checkpoint, and is taken off the CPU before
    it marks itself running again; the sender sees "paused", sends, and the reactor wakes up
    and takes the node's first answer off the queue as if it were a request, and drops it.
    Measured here: 6 threads locating A1002 on the demo PACS with the CPUs busy lost a match
    about once in 500 locates (298 or 299 of 300 images counted: a false "images missing").

    pacsbot is only ever the SCU on its associations (it offers no SCP role), so the reactor
    has nothing to serve: its non-blocking takes get nothing, and every answer waits in the
    queue for the blocking take of the call that asked.
    """
    dimse: Any = getattr(assoc, "dimse", None)
    take = getattr(dimse, "get_msg", None)
    if take is None:
        return

    def get_msg(block: bool = False) -> Any:
        return take(block=True) if block else (None, None)

    dimse.get_msg = get_msg


# The failures that mean "this association is gone", not "this node is unwell": on an
# association reused from an earlier round, worth one more try on a fresh one.
BROKEN = frozenset({"closed", "aborted", "find-aborted"})
RELEASE_WAIT_SECONDS = 2.0  # how long the end of a request waits for its releases


class Associations:
    """The associations of one request, at most one idle per node, so that the request's
    rounds with a node (study level, series detail, sibling search) share one association.

    ``with pool.session(target) as session`` hands out the node's idle association, or opens
    a new one when there is none or it is no longer :meth:`Session.usable`. Afterwards the
    association goes back to the pool if it is still established and the work ended well or
    with a :class:`NodeError` (the node answered, e.g. "refused the query"); anything else
    releases or aborts it at once. :meth:`close` (the end of the ``with Associations()``
    block) releases the idle ones, side by side; an association still in use then (a round
    that was given up on) is released by its own thread when it is done.
    """

    def __init__(self, contexts: list[Any]):
        self.contexts = list(contexts)
        self._idle: dict[str, Session] = {}
        self._lock = threading.Lock()
        self._closed = False

    def __enter__(self) -> "Associations":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @contextmanager
    def session(self, target: Target, *, deadline: float | None = None) -> Iterator[Session]:
        with self._lock:
            session = self._idle.pop(target.name, None)
        if session is not None and not session.usable():
            log.debug("dicom: the association with %s ended between rounds; opening a new one", target.name)
            session.close()
            session = None
        if session is None:
            session = _associate(target, self.contexts, deadline)
        else:
            session.reused = True
            session.deadline = deadline or (time.monotonic() + target.total_timeout)
        keep = False
        try:
            yield session
            keep = True
        except NodeError:
            keep = True  # the node answered (a refusal, a missing service); usable() decides
            raise
        finally:
            if not (keep and session.usable() and self._put_back(session)):
                session.close()

    def _put_back(self, session: Session) -> bool:
        with self._lock:
            if self._closed or session.target.name in self._idle:
                return False
            self._idle[session.target.name] = session
            return True

    def close(self) -> None:
        """Release every idle association, each on its own thread, side by side, and wait at
        most RELEASE_WAIT_SECONDS for them. A release normally takes a millisecond or two; one
        that does not finish in time is left to end on its own ACSE timeout (pynetdicom then
        aborts the association).
        """
        with self._lock:
            self._closed = True
            sessions = list(self._idle.values())
            self._idle.clear()
        if not sessions:
            return
        threads = [threading.Thread(target=s.close, name=f"pacsbot-release-{s.target.name}", daemon=True)
                   for s in sessions]
        for thread in threads:
            thread.start()
        until = time.monotonic() + RELEASE_WAIT_SECONDS
        for thread in threads:
            thread.join(max(0.0, until - time.monotonic()))


def with_association(target: Target, pool: Associations | None, work: Callable[[Session], T], *, model: Any = None) -> T:
    """``work(session)`` on an association with ``target``: a new one requesting ``model``
    (Study Root FIND by default), or the request's from ``pool``. An association reused from
    an earlier round that turns out to be gone (the node closed or aborted it meanwhile) is
    replaced by a fresh one, once: ``work`` only queries, so it may run again."""
    deadline = time.monotonic() + target.total_timeout
    if pool is None:
        with open_session(target, contexts=[model or FIND_MODEL], deadline=deadline) as session:
            return work(session)
    reused = False
    try:
        with pool.session(target, deadline=deadline) as session:
            reused = session.reused
            return work(session)
    except NodeError as exc:
        if not reused or exc.failure.code not in BROKEN:
            raise
        log.info("dicom: the association with %s reused from an earlier round was gone (%s); asking on a new one",
                 target.name, exc.failure.code)
    with pool.session(target, deadline=deadline) as session:
        return work(session)


def echo(target: Target) -> EchoResult:
    """C-ECHO one node: ok and the time to its answer (connect, associate, echo), or why not.

    The release that follows is housekeeping (pynetdicom spends ~10 ms on it) and is not
    counted: "ok in 12 ms" is how long the node took to answer.
    """
    started = time.monotonic()
    answered = 0
    try:
        with open_session(target, contexts=[Verification]) as session:
            session.echo()
            answered = _ms(started)
    except NodeError as exc:
        return EchoResult(target.ref, False, _ms(started), exc.failure)
    return EchoResult(target.ref, True, answered)


def _ms(started: float) -> int:
    return int(round((time.monotonic() - started) * 1000))


# pynetdicom logs every C-FIND identifier it sends and receives at INFO level: patient
# names, IDs and birth dates. Those records must never reach a log. ``bot.logs`` keeps
# pynetdicom at WARNING or above; this makes sure of it wherever diagnostics run.
_quiet_lock = threading.Lock()


def keep_phi_out_of_pynetdicom_logs() -> None:
    """Stop pynetdicom from formatting identifiers and DIMSE dumps for its logs at all.

    These are pynetdicom's documented switches (``pynetdicom._config``). Besides keeping PHI
    out of any log, they save the CPU spent pretty-printing every dataset, which pynetdicom
    does whatever the log level. Its warnings and errors are still logged.
    """
    with _quiet_lock:
        _pynetdicom_config.LOG_REQUEST_IDENTIFIERS = False
        _pynetdicom_config.LOG_RESPONSE_IDENTIFIERS = False
        _pynetdicom_config.LOG_HANDLER_LEVEL = "none"
        logger = logging.getLogger("pynetdicom")
        if logger.getEffectiveLevel() < logging.WARNING:
            logger.setLevel(logging.WARNING)
        transport = logging.getLogger("pynetdicom.transport")
        if not any(isinstance(f, _ReportedConnectFailures) for f in transport.filters):
            transport.addFilter(_ReportedConnectFailures())


class _ReportedConnectFailures(logging.Filter):
    """Drop pynetdicom's ERROR lines (and TLS traceback) for a failed connect.

    We report exactly that failure ourselves, in plain words, to the person who asked, and
    log one line for it (``dicom: <node> refused (...)``). Every other pynetdicom warning or
    error still gets through.
    """

    _PREFIXES = ("Association request failed: unable to connect to remote", "TCP Initialisation Error:")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith(self._PREFIXES):
            return False
        if record.exc_info and isinstance(record.exc_info[1], ssl.SSLError):
            return False
        return True


def quiet_pynetdicom(level: int = logging.CRITICAL) -> None:
    """At a terminal, pynetdicom's own error lines only repeat what we print in plain words."""
    with _quiet_lock:
        logging.getLogger("pynetdicom").setLevel(level)


def stalled(failure: Failure) -> bool:
    """The node took the association and the C-FIND, then sent nothing back within the DIMSE
    timeout: an archive busy for a moment (a burst of stores, an index flush) rather than a
    node that is down. Asking again on a fresh association is worth it, once."""
    return failure.code == "timeout" and failure.message.startswith("no answer to the C-FIND")
