"""Section vectors for the optional semantic re-ranker, computed once and kept on disk.

Embedding a section costs tens of milliseconds of CPU, so vectors are cached by the hash of
the text they were computed from: a restart, a reload after one manual changed, or a second
worker on the same machine only embeds the sections it has not seen. The cache holds vectors
of manual text (never of questions) in ``<cache dir>/<model>/*.npz``; deleting it is safe.

The cache directory is ``$PACSBOT_VECTOR_CACHE`` if set, else ``$XDG_CACHE_HOME/pacsbot``
(``~/.cache/pacsbot``). Each build writes one small shard with the vectors it had to compute;
when there are more than :data:`MAX_SHARDS`, they are folded into one holding only the texts
of the latest build.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pacsbot.knowledge import semantic

log = logging.getLogger(__name__)

MODEL_ID = "all-MiniLM-L6-v2"
MAX_SHARDS = 16

_encoder: semantic.Encoder | None = None
_encoder_lock = threading.Lock()
_memo: dict[bytes, np.ndarray] = {}     # text hash -> vector, for this process
_memo_lock = threading.Lock()


def encoder() -> semantic.Encoder:
    """The process's one encoder (the model is ~90 MB: loaded once). Raises SemanticUnavailable."""
    global _encoder
    with _encoder_lock:
        if _encoder is None:
            _encoder = semantic.Encoder.load()
        return _encoder


def cache_dir() -> Path:
    base = os.environ.get("PACSBOT_VECTOR_CACHE")
    if base:
        return Path(base) / MODEL_ID
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "pacsbot" / MODEL_ID


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


def _load_shards(directory: Path) -> list[Path]:
    shards = sorted(directory.glob("*.npz")) if directory.is_dir() else []
    for shard in shards:
        try:
            with np.load(shard) as data:
                keys, vectors = data["keys"], data["vectors"]
        except Exception as exc:  # noqa: BLE001 - a damaged shard is only a cache miss
            log.warning("knowledge: ignoring unreadable vector cache %s (%s)", shard.name, type(exc).__name__)
            continue
        with _memo_lock:
            for key, vector in zip(keys, vectors):
                _memo.setdefault(bytes(key), vector)
    return shards


def _write_shard(directory: Path, keys: list[bytes], vectors: np.ndarray) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, keys=np.array(keys, dtype="S16"), vectors=vectors.astype(np.float32))
        final = directory / f"{hashlib.blake2b(b''.join(keys), digest_size=8).hexdigest()}.npz"
        os.replace(tmp, final)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def section_vectors(texts: Sequence[str], *, directory: Path | None = None) -> np.ndarray:
    """One L2-normalised vector per text (``len(texts) x dim``), from the cache where it can."""
    directory = directory or cache_dir()
    keys = [_digest(t) for t in texts]
    with _memo_lock:
        missing = [i for i, k in enumerate(keys) if k not in _memo]
    shards: list[Path] = []
    if missing:
        shards = _load_shards(directory)
        with _memo_lock:
            missing = [i for i, k in enumerate(keys) if k not in _memo]
    enc = encoder()
    if missing:
        log.info("knowledge: computing vectors for %d of %d sections (cached afterwards in %s)",
                 len(missing), len(texts), directory)
        fresh = enc.encode([texts[i] for i in missing])
        with _memo_lock:
            for i, vector in zip(missing, fresh):
                _memo[keys[i]] = vector
        try:
            if len(shards) >= MAX_SHARDS:
                with _memo_lock:
                    every = np.stack([_memo[k] for k in keys])
                _write_shard(directory, keys, every)
                for shard in shards:
                    shard.unlink(missing_ok=True)
            else:
                _write_shard(directory, [keys[i] for i in missing], fresh)
        except OSError as exc:
            log.warning("knowledge: could not write the vector cache in %s (%s); vectors are kept in memory only",
                        directory, exc.strerror or type(exc).__name__)
    with _memo_lock:
        out = np.stack([_memo[k] for k in keys]) if keys else np.zeros((0, enc.dim), dtype=np.float32)
    return out.astype(np.float32, copy=False)


def section_text(breadcrumb: str, text: str) -> str:
    """What a section's vector is computed from: where it sits, then what it says."""
    return f"{breadcrumb}. {text}"
