"""Deep Voice's segmentation model (section 3.1): phoneme pairs, boundaries from pair peaks,
and the debug recipe trained -> exported -> loaded -> aligning a recording."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import speechzoo
from speechzoo.data.corpora import prepare
from speechzoo.data.corpora.aligned import frame_durations
from speechzoo.data.manifest import read_manifest, write_manifest
from speechzoo.data.segmentation import pair_tokenizer, phoneme_pairs, true_boundaries
from speechzoo.decoding.ctc import peak_frames
from speechzoo.errors import AudioError, TextError
from speechzoo.metrics import boundary_errors_ms, token_error_rate
from speechzoo.pipelines import export
from speechzoo.tasks.recipes import make_cli
from speechzoo.text.phonemes import ENGLISH
from tests.conftest import RECIPES
from tests.recipe_runs import metric_column, recipe_overrides, torch_threads


def test_pairs_cover_every_sentence_and_round_trip():
    pairs = phoneme_pairs(["h", "ə", "l"])
    assert pairs == ["sil|h", "h|ə", "ə|l", "l|sil"]
    tokenizer = pair_tokenizer()
    assert len(tokenizer) == 3 + (len(ENGLISH) + 1) ** 2 - 1
    assert tokenizer.decode(tokenizer.encode(pairs)) == pairs
    with pytest.raises(TextError):
        phoneme_pairs([])


def test_true_boundaries_are_phoneme_starts_in_seconds():
    b = true_boundaries([3, 2, 4], frame_seconds=0.01)  # two phonemes and the end token
    assert math.isnan(b[0]) and np.allclose(b[1:], [0.03, 0.05])
    assert boundary_errors_ms(b, np.array([0.0, 0.032, 0.045])).tolist() == \
        pytest.approx([2.0, 5.0])
    assert token_error_rate([[1, 2, 3]], [[1, 3]]) == pytest.approx(1 / 3)


def test_peaks_are_where_each_pair_spikes():
    # Blank everywhere but pair 5 spiking at frame 3 and pair 7 at frames 7-8 (peak 8).
    probs = torch.full((12, 10), 0.01)
    probs[:, 1] = 0.9
    probs[3, 5], probs[3, 1] = 0.9, 0.01
    probs[7, 7], probs[8, 7], probs[7, 1], probs[8, 1] = 0.6, 0.9, 0.3, 0.01
    assert peak_frames(probs.log(), [5, 7], blank=1) == [3, 8]


@pytest.fixture(scope="module")
def segmenter_bundle(tiny_tts_corpus, tmp_path_factory):
    run = tmp_path_factory.mktemp("seg")
    with torch_threads(1):
        make_cli(RECIPES / "deepvoice_segmentation_debug.yaml",
                 recipe_overrides(tiny_tts_corpus, run / "run", 12))
    losses = metric_column(run / "run", "train/loss")
    assert len(losses) == 12 and losses[-1] < losses[0]
    assert all(v >= 0 for v in metric_column(run / "run", "val/boundary_ms"))
    return export(run / "run" / "ckpt" / "last.ckpt", run / "bundle").parent


@pytest.fixture(scope="module")
def segmenter(segmenter_bundle):
    return speechzoo.load(segmenter_bundle, device="cpu")


def test_debug_recipe_trains_and_aligns_inside_the_audio(segmenter, tiny_tts_corpus):
    entry = read_manifest(tiny_tts_corpus / "test.jsonl")[0]
    segments = segmenter.align(entry["audio_filepath"], phonemes=entry["phonemes"])
    assert [s.phoneme for s in segments] == list(entry["phonemes"])
    edges = [segments[0].start] + [s.end for s in segments]
    assert all(a <= b for a, b in zip(edges, edges[1:], strict=False))  # monotonic
    assert 0 <= edges[0] and edges[-1] <= entry["duration"]


def test_bad_input_is_a_clear_error(segmenter, tiny_tts_corpus):
    entry = read_manifest(tiny_tts_corpus / "test.jsonl")[0]
    with pytest.raises(AudioError, match="silent"):
        segmenter.align(np.zeros(16000, np.float32), text="hello there", sample_rate=16000)
    with pytest.raises(AudioError, match="frames"):
        segmenter.align(np.random.default_rng(0).normal(0, 0.1, 800).astype(np.float32),
                        text="a rather long sentence for so little audio", sample_rate=16000)
    with pytest.raises(TextError):
        segmenter.align(entry["audio_filepath"])
    with pytest.raises(TextError):
        segmenter.align(entry["audio_filepath"], text="   ")


def test_frame_durations_add_up_to_the_clip():
    # Phonemes start at 0 (implied), 0.05 and 0.12 s; the last ends at 0.2 s; 0.3 s of audio.
    assert frame_durations([0.05, 0.12, 0.2], 0.3, 0.01) == [5, 7, 8, 10]
    assert sum(frame_durations([0.2, 0.1, 0.5], 0.4, 0.01)) == 40  # never negative
    assert min(frame_durations([0.2, 0.1, 0.5], 0.4, 0.01)) == 0


def test_aligned_corpus_gets_durations_a_tts_dataset_reads(segmenter_bundle, tiny_tts_corpus,
                                                           tmp_path):
    from speechzoo.data.datasets import TTSDataset
    from speechzoo.text.phonemes import tokenizer

    source = tmp_path / "plain"
    source.mkdir()
    for split in ("train", "test"):  # text only, as LJ Speech's manifests are
        rows = [{k: e[k] for k in ("audio_filepath", "duration", "text")}
                for e in read_manifest(tiny_tts_corpus / f"{split}.jsonl")]
        write_manifest(source / f"{split}.jsonl", rows)
    out = prepare("aligned", source, model=str(segmenter_bundle))
    assert out == tmp_path / "plain-aligned"
    entries = read_manifest(out / "test.jsonl", ("phonemes", "durations"))
    assert entries and all(len(e["durations"]) == len(e["phonemes"]) + 1 for e in entries)
    data = TTSDataset(entries, tokenizer(), 22050, 256, 0)
    item = data[0]
    assert len(item["audio"]) == int(item["durations"].sum()) * 256
    assert int(item["durations"].sum()) == int(entries[0]["duration"] / (256 / 22050))


def test_cli_prints_each_phoneme_with_its_span(segmenter_bundle, tiny_tts_corpus, capsys):
    from speechzoo.cli import main

    entry = read_manifest(tiny_tts_corpus / "test.jsonl")[0]
    main(["align", entry["audio_filepath"], entry["text"], "--model", str(segmenter_bundle)])
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert rows and all(len(r) == 3 and float(r[1]) <= float(r[2]) for r in rows)


def test_calibrated_offset_shifts_boundaries_inside_the_audio(segmenter, tiny_tts_corpus):
    from speechzoo.pipelines.segmentation import Segmenter

    entry = read_manifest(tiny_tts_corpus / "test.jsonl")[0]
    plain = segmenter.align(entry["audio_filepath"], phonemes=entry["phonemes"])
    shifted = Segmenter(segmenter.model, segmenter.pairs, offset=0.02).align(
        entry["audio_filepath"], phonemes=entry["phonemes"])
    for a, b in zip(plain, shifted, strict=True):
        assert b.start == pytest.approx(min(a.start + 0.02, entry["duration"]), abs=1e-6)
    late = Segmenter(segmenter.model, segmenter.pairs, offset=100.0).align(
        entry["audio_filepath"], phonemes=entry["phonemes"])
    assert all(s.start == s.end == pytest.approx(entry["duration"], abs=0.01) for s in late)
