"""The bundle format: format 2 round trip, format 1 read and converted, safe loading."""

import pytest
import torch

import speechzoo
from speechzoo.checkpoints import (
    Bundle,
    find_bundle,
    network_spec,
    read_bundle,
    read_checkpoint,
    write_bundle,
)
from speechzoo.errors import CheckpointError
from speechzoo.models.deepspeech2 import DeepSpeech2
from speechzoo.pipelines import export
from speechzoo.text.english import CHARACTERS
from speechzoo.text.tokenizers import CharTokenizer


def _model() -> DeepSpeech2:
    torch.manual_seed(0)
    return DeepSpeech2(conv_channels=[2], conv_kernels=[[11, 5]], conv_strides=[[4, 2]],
                       rnn_hidden=8, rnn_layers=1).eval()


def _format_1(model: DeepSpeech2, path) -> None:
    """The layout the first ds2-en bundle was written in."""
    torch.save({"speechzoo": {"task": "asr", "model_class": network_spec(model)["class"],
                              "model_args": model.config, "alphabet": CHARACTERS},
                "hyper_parameters": {"lr": 0.002},
                "state_dict": {f"model.{k}": v.half() if v.is_floating_point() else v
                               for k, v in model.state_dict().items()},
                "global_step": 7393, "epoch": 3, "averaged_steps": None}, path)


def _outputs(asr, wav):
    with torch.inference_mode():
        return asr.model(wav, torch.tensor([wav.shape[1]]))[0]


def test_format_1_loads_and_converts(tmp_path):
    model = _model()
    _format_1(model, tmp_path / "old.ckpt")
    bundle = read_bundle(tmp_path / "old.ckpt")
    assert bundle.task == "asr" and list(bundle.networks) == ["acoustic"]
    assert bundle.frontend["tokenizer"] == {"kind": "chars", "alphabet": CHARACTERS}
    assert bundle.meta["steps"] == 7393
    wav = torch.randn(1, 8000)
    old = speechzoo.load(tmp_path / "old.ckpt", device="cpu")
    new_path = export(tmp_path / "old.ckpt", tmp_path / "new")
    saved = torch.load(new_path, weights_only=True)
    assert saved["speechzoo"]["format"] == 2 and "hyper_parameters" not in saved
    assert all(k.startswith("acoustic.") for k in saved["state_dict"])
    new = speechzoo.load(tmp_path / "new", device="cpu")
    torch.testing.assert_close(_outputs(new, wav), _outputs(old, wav))
    expected = model.half().float()(wav, torch.tensor([8000]))[0]  # fp16 weights on disk
    torch.testing.assert_close(_outputs(new, wav), expected, atol=1e-4, rtol=1e-4)


def test_bundle_holds_several_networks_by_role(tmp_path):
    student, teacher = _model(), DeepSpeech2(conv_channels=[3], conv_kernels=[[11, 5]],
                                             conv_strides=[[4, 2]], rnn_hidden=4, rnn_layers=1)
    state = {f"{role}.{k}": v for role, m in (("student", student), ("teacher", teacher))
             for k, v in m.state_dict().items()}
    bundle = Bundle("test", {"student": network_spec(student), "teacher": network_spec(teacher)},
                    {"tokenizer": CharTokenizer(CHARACTERS).to_dict()}, {"data": "x"}, state)
    write_bundle(bundle, tmp_path / "b")
    again = read_bundle(tmp_path / "b")
    assert again.meta == {"data": "x"} and again.task == "test"
    assert again.build("teacher").config["conv_channels"] == [3]
    with pytest.raises(CheckpointError, match="no 'vocoder' network"):
        again.build("vocoder")
    with pytest.raises(CheckpointError, match="cannot run"):
        speechzoo.load(tmp_path / "b")  # no pipeline serves task "test"


def test_weights_that_do_not_fit_are_refused_before_writing(tmp_path):
    model = _model()
    spec = network_spec(model)
    spec["args"]["rnn_hidden"] = 16
    bundle = Bundle("asr", {"acoustic": spec}, {}, {},
                    {f"acoustic.{k}": v for k, v in model.state_dict().items()})
    with pytest.raises(CheckpointError, match="do not fit"):
        write_bundle(bundle, tmp_path / "bad")
    assert not (tmp_path / "bad" / "model.ckpt").exists()


def test_weights_load_into_another_alphabet_but_the_skipped_layers(tmp_path):
    english = _model()
    bundle = Bundle("asr", {"acoustic": network_spec(english)}, {}, {},
                    {f"acoustic.{k}": v for k, v in english.state_dict().items()})
    other = DeepSpeech2(num_classes=40, **{k: v for k, v in english.config.items()
                                          if k != "num_classes"})
    fc = other.fc.weight.detach().clone()
    with pytest.raises(CheckpointError, match="do not fit"):
        bundle.load_into(other, "acoustic")
    bundle.load_into(other, "acoustic", skip=["fc."])
    assert torch.equal(other.fc.weight, fc)  # its own initialisation
    assert torch.equal(other.convs[0].conv.weight, english.convs[0].conv.weight)


def test_only_speechzoo_models_load(tmp_path):
    model = _model()
    path = tmp_path / "evil.ckpt"
    torch.save({"speechzoo": {"format": 2, "task": "asr", "networks": {"acoustic": {
        "class": "os.system", "args": {"command": "true"}}}},
        "state_dict": {f"acoustic.{k}": v for k, v in model.state_dict().items()}}, path)
    with pytest.raises(CheckpointError, match="only classes under speechzoo.models"):
        speechzoo.load(path)
    pickled = tmp_path / "pickled.ckpt"
    torch.save({"speechzoo": {"format": 2}, "model": model}, pickled)  # a pickled module
    with pytest.raises(CheckpointError, match="cannot read"):
        read_checkpoint(pickled)


def test_newer_format_and_text_file_are_clear_errors(tmp_path):
    path = tmp_path / "future.ckpt"
    torch.save({"speechzoo": {"format": 99, "task": "asr", "networks": {"a": {}}},
                "state_dict": {}}, path)
    with pytest.raises(CheckpointError, match="newer than this"):
        read_checkpoint(path)
    text = tmp_path / "notes.txt"
    text.write_text("not a model\n")
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        speechzoo.load(text)
    with pytest.raises(CheckpointError, match="folder without model.ckpt"):
        find_bundle(tmp_path)


def test_models_folder_from_the_environment(tmp_path, monkeypatch):
    model = _model()
    _format_1(model, tmp_path / "old.ckpt")
    export(tmp_path / "old.ckpt", tmp_path / "zoo" / "my-asr")
    monkeypatch.setenv("SPEECHZOO_MODELS", str(tmp_path / "zoo"))
    assert speechzoo.available_models()["my-asr"] == "asr"
    assert speechzoo.available_models()["ds2-en"] == "asr"  # the shipped ones stay
    wav = torch.randn(1, 8000)
    torch.testing.assert_close(_outputs(speechzoo.load("my-asr", device="cpu"), wav),
                               _outputs(speechzoo.load(tmp_path / "old.ckpt"), wav))
