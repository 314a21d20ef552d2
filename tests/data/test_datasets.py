"""Manifests -> the task's dataset -> batches padded by key; fields checked per task."""

import json

import pytest
import torch

from speechzoo.data.collate import collate
from speechzoo.data.datasets import SpeechDataset
from speechzoo.data.manifest import read_manifest, write_manifest
from speechzoo.errors import ConfigError, DataError
from speechzoo.models.deepspeech2 import DeepSpeech2
from speechzoo.tasks.asr import ASRTask
from speechzoo.tasks.data import ManifestDataModule
from speechzoo.text.tokenizers import CharTokenizer


def test_collate_pads_each_field_by_key():
    items = [{"audio": torch.ones(3), "mel": torch.ones(2, 4), "speaker": 1, "name": "a"},
             {"audio": torch.ones(5), "mel": torch.ones(4, 4), "speaker": 2, "name": "b"}]
    batch = collate(items, pad_values={"mel": -11.5})
    assert batch["audio"].shape == (2, 5) and batch["audio"][0, 3:].eq(0).all()
    assert batch["audio_lengths"].tolist() == [3, 5]
    assert batch["mel"].shape == (2, 4, 4) and batch["mel"][0, 2:].eq(-11.5).all()
    assert batch["mel_lengths"].tolist() == [2, 4]
    assert batch["speaker"].tolist() == [1, 2] and batch["name"] == ["a", "b"]


def test_a_line_without_text_names_file_and_line(tmp_path):
    manifest = tmp_path / "train.jsonl"
    manifest.write_text(json.dumps({"audio_filepath": "a.flac", "duration": 1.0, "text": "hi"})
                        + "\n" + json.dumps({"audio_filepath": "b.flac", "duration": 1.0}) + "\n")
    with pytest.raises(DataError, match=r"train\.jsonl:2: missing field\(s\) \['text'\]"):
        read_manifest(manifest, SpeechDataset.required)
    assert len(read_manifest(manifest)) == 2  # a task that needs no text reads it
    manifest.write_text('["a list"]\n')
    with pytest.raises(DataError, match=r"train\.jsonl:1: not a JSON object"):
        read_manifest(manifest)


def test_relative_filepaths_resolve_against_the_manifest(tmp_path):
    (tmp_path / "m.jsonl").write_text(json.dumps(
        {"audio_filepath": "a/x.flac", "midi_filepath": "a/x.mid", "duration": 1}) + "\n")
    (entry,) = read_manifest(tmp_path / "m.jsonl")
    assert entry["audio_filepath"] == str(tmp_path / "a/x.flac")
    assert entry["midi_filepath"] == str(tmp_path / "a/x.mid")


def _task(alphabet: str) -> ASRTask:
    model = DeepSpeech2(num_classes=len(alphabet) + 1, conv_channels=[2],
                        conv_kernels=[[11, 5]], conv_strides=[[4, 2]], rnn_hidden=8,
                        rnn_layers=1)
    return ASRTask(model, alphabet=alphabet)


def test_the_data_take_the_tasks_alphabet(tiny_corpus):
    """A data module has no alphabet of its own: labels come from the task's tokenizer, so
    a recipe cannot train on labels of another alphabet."""
    dm = ManifestDataModule(root=str(tiny_corpus), num_workers=0, batch_size=2)
    with pytest.raises(ConfigError, match="no task has bound"):
        dm.train_dataloader()
    entries = read_manifest(tiny_corpus / "train.jsonl")
    for alphabet in (" abcdefghijklmnopqrstuvwxyz'", "'zyxwvutsrqponmlkjihgfedcba "):
        task = _task(alphabet)
        dm.bind(task.dataset, SpeechDataset.required)
        batch = next(iter(dm.train_dataloader()))
        tok = CharTokenizer(alphabet)
        texts = {e["text"] for e in entries}
        for labels, n in zip(batch["labels"], batch["labels_lengths"], strict=True):
            assert tok.decode(labels[:n].tolist()) in texts


def test_max_duration_leaves_long_utterances_out(tiny_corpus):
    dm = ManifestDataModule(root=str(tiny_corpus), num_workers=0, max_duration=0.1)
    dm.bind(_task(" abcdefghijklmnopqrstuvwxyz'").dataset, SpeechDataset.required)
    with pytest.raises(DataError, match="max_duration"):
        dm.dataset("train")
    assert len(dm.dataset("test")) == 2  # evaluation keeps everything


def _second_source(tiny_corpus, tmp_path):
    """A prepared folder with train and dev only (punctuated, upper-case text as LJ Speech's)."""
    folder = tmp_path / "other"
    folder.mkdir()
    for split in ("train", "dev"):
        rows = read_manifest(tiny_corpus / f"{split}.jsonl")[:2]
        write_manifest(folder / f"{split}.jsonl",
                       [dict(r, text=r["text"].capitalize() + ", 42.") for r in rows])
    return folder


def test_sources_weight_training_and_keep_each_dev_split(tiny_corpus, tmp_path):
    other = _second_source(tiny_corpus, tmp_path)
    dm = ManifestDataModule(num_workers=0, batch_size=2, sources=[
        {"name": "synth", "root": str(tiny_corpus), "weight": 0.5},
        {"name": "other", "root": str(other), "weight": 3}])
    task = _task(" abcdefghijklmnopqrstuvwxyz'")
    dm.bind(task.dataset, SpeechDataset.required)
    train = dm.dataset("train")
    assert len(train) == 4 + 3 * 2  # half of 8, three times 2
    texts = [CharTokenizer(task.tokenizer.alphabet).decode(x.tolist()) for x in train.labels]
    assert sum(t.endswith("forty two") for t in texts) == 6  # normalised for English
    assert dm.eval_names == ["synth", "other"]
    assert [len(loader.dataset) for loader in dm.val_dataloader()] == [2, 2]
    assert len(dm.test_dataloader()) == 1  # only synth has a test split
    again = ManifestDataModule(num_workers=0, sources=dm.sources)
    again.bind(task.dataset, SpeechDataset.required)
    assert again.dataset("train").entries == train.entries


@pytest.mark.parametrize("source", [{"name": "x"}, {"name": "x", "root": "/", "weight": -1},
                                    {"root": "/"}])
def test_bad_sources_are_config_errors(source):
    with pytest.raises(ConfigError, match="data.sources"):
        ManifestDataModule(sources=[source])


def test_a_source_folder_without_manifests(tmp_path):
    dm = ManifestDataModule(sources=[{"name": "x", "root": str(tmp_path)}])
    with pytest.raises(DataError, match="has no train.jsonl; prepare it first"):
        dm.prepare_data()


def test_a_source_root_in_the_data_folder(tiny_corpus, monkeypatch):
    monkeypatch.setenv("SPEECHZOO_DATA", str(tiny_corpus.parent))
    dm = ManifestDataModule(sources=[{"name": "s", "root": f"$SPEECHZOO_DATA/{tiny_corpus.name}"}])
    dm.prepare_data()  # found, so no error
    monkeypatch.delenv("SPEECHZOO_DATA")
    with pytest.raises(DataError, match=r"\.cache/speechzoo/synth-en has no train.jsonl"):
        ManifestDataModule(sources=[{"name": "s", "root": "$SPEECHZOO_DATA/synth-en"}]
                           ).prepare_data()
