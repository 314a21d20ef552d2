"""Sparse inference: a sparsified pruned DS2 computes what the masked dense model does."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import speechzoo
from speechzoo.checkpoints import Bundle, network_spec, write_bundle
from speechzoo.errors import ConfigError
from speechzoo.layers.sparse import SparseMatrix, block_size, sparsify
from speechzoo.models.deepspeech2 import DeepSpeech2
from speechzoo.pipelines.asr import SpeechRecognizer
from speechzoo.pipelines.streaming import Stream
from speechzoo.text.english import CHARACTERS
from speechzoo.text.tokenizers import CharTokenizer
from speechzoo.training.sparsity import magnitude_mask

WAV = torch.randn(2, 12000, generator=torch.Generator().manual_seed(1)) * 0.1
LENGTHS = torch.tensor([12000, 8000])


def pruned(cell: str = "gru", bidirectional: bool = True, sparsity: float = 0.8,
           block: tuple[int, int] | None = None, **kwargs) -> DeepSpeech2:
    """A small DS2 whose input-to-hidden and recurrent matrices are magnitude-pruned (U
    direction by direction, so that blocks of U_d are blocks of the U_d^T stored)."""
    torch.manual_seed(0)
    model = DeepSpeech2(conv_channels=[16], conv_kernels=[[11, 5]], conv_strides=[[4, 2]],
                        rnn_hidden=32, rnn_layers=2, rnn_type=cell, bidirectional=bidirectional,
                        lookahead=3, **kwargs).eval()
    with torch.no_grad():
        for rnn in model.rnns:
            rnn.input.weight.mul_(magnitude_mask(rnn.input.weight, sparsity, block))
            rnn.recurrent.mul_(torch.stack([magnitude_mask(u, sparsity, block)
                                            for u in rnn.recurrent]))
    return model


def outputs(model: nn.Module, wav: torch.Tensor = WAV, lengths: torch.Tensor = LENGTHS):
    with torch.inference_mode():
        return model(wav, lengths)[0]


def layouts(model: nn.Module) -> dict[str, str]:
    return {n: m.layout for n, m in model.named_modules() if isinstance(m, SparseMatrix)}


@pytest.mark.parametrize("layout, block", [("csr", None), ("bsr", (16, 16)), ("auto", (16, 16))])
@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("cell", ["gru", "lstm", "rnn"])
def test_sparse_equals_masked_dense(cell, bidirectional, layout, block):
    model = pruned(cell, bidirectional, block=block)
    dense, dense_one = outputs(model), outputs(model, WAV[1:, :8000], LENGTHS[1:])
    state = {k: v.clone() for k, v in model.state_dict().items()}
    assert sparsify(model, layout=layout) is model
    kind = "bsr" if layout == "bsr" else "csr"  # auto: csr, the faster (module docstring)
    assert layouts(model) == {f"rnns.{i}.{m}": kind for i in range(2)
                              for m in ("input.sparse_weight", "sparse_recurrent")}
    torch.testing.assert_close(outputs(model), dense, atol=1e-5, rtol=1e-5)  # batch: mm
    torch.testing.assert_close(outputs(model, WAV[1:, :8000], LENGTHS[1:]), dense_one,
                               atol=1e-5, rtol=1e-5)  # batch of one: mat-vecs
    again = model.state_dict()  # unchanged: a sparsified model exports like a dense one
    assert again.keys() == state.keys()
    assert all(torch.equal(again[k], v) for k, v in state.items())


def test_matrices_below_min_sparsity_stay_dense():
    model = pruned()
    with torch.no_grad():  # 30% zeros: below the default min_sparsity of 50%
        w = model.rnns[1].input.weight
        w.normal_().mul_(magnitude_mask(w, 0.3))
    dense = outputs(model)
    sparsify(model)
    assert type(model.rnns[1].input) is nn.Linear and type(model.fc) is nn.Linear
    assert set(layouts(model)) == {"rnns.0.input.sparse_weight", "rnns.0.sparse_recurrent",
                                   "rnns.1.sparse_recurrent"}
    torch.testing.assert_close(outputs(model), dense, atol=1e-5, rtol=1e-5)
    with pytest.raises(ConfigError, match="no matrix of DeepSpeech2 has 90% zeros"):
        sparsify(pruned(), min_sparsity=0.9)


def test_block_size_is_detected():
    w = torch.randn(64, 96)
    assert block_size(w * magnitude_mask(w, 0.8, (32, 32))) == (32, 32)
    assert block_size(w * magnitude_mask(w, 0.8, (16, 16))) == (16, 16)
    assert block_size(w * magnitude_mask(w, 0.8, (8, 8))) is None  # torch's 8x8: slow
    assert block_size(w * magnitude_mask(w, 0.8)) is None
    assert block_size(w) is None


def test_bsr_needs_zeros_in_blocks():
    with pytest.raises(ConfigError, match=r"rnns\.0\.recurrent do not come in whole 32x32"):
        sparsify(pruned(), layout="bsr")


def test_copies_and_moves_keep_the_sparse_product():
    model = sparsify(pruned())
    dense = outputs(model)
    torch.testing.assert_close(outputs(copy.deepcopy(model)), dense)
    torch.testing.assert_close(outputs(model.to(torch.float64).to(torch.float32)), dense)


def test_sparse_layers_refuse_to_train():
    model = sparsify(pruned())
    with pytest.raises(ConfigError, match="inference only.*eval mode"):
        model(WAV, LENGTHS)  # grad mode on
    with torch.no_grad(), pytest.raises(ConfigError, match="inference only"):
        model.train()(WAV, LENGTHS)
    model.eval()
    with pytest.raises(AttributeError):  # the fused kernels would multiply by the dense U
        model.rnns[0].fused = True


@pytest.mark.parametrize("kwargs, match", [(dict(layout="coo"), "layout must be one of"),
                                           (dict(min_sparsity=1.5), "min_sparsity must be")])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        sparsify(pruned(), **kwargs)


def test_stream_runs_sparse():
    model = pruned(bidirectional=False, normalize=False)
    asr = SpeechRecognizer(model, CharTokenizer(CHARACTERS))
    wav = WAV[0]
    dense = outputs(model, wav[None], torch.tensor([len(wav)]))[0]
    sparsify(asr.model)
    stream = Stream(asr, keep_log_probs=True)
    for start in range(0, len(wav), 1600):
        stream.push(wav[start:start + 1600])
    stream.finish()
    torch.testing.assert_close(stream.log_probs, dense, atol=1e-4, rtol=0)


def _bundle(model: nn.Module, folder) -> None:
    write_bundle(Bundle("asr", {"acoustic": network_spec(model)},
                        {"tokenizer": CharTokenizer(CHARACTERS).to_dict()}, {},
                        {f"acoustic.{k}": v for k, v in model.state_dict().items()}), folder)


def test_load_a_pruned_bundle_sparse(tmp_path):
    model = pruned()
    with torch.no_grad():  # a confident model: its greedy text is not all blanks
        model.fc.weight.mul_(20)
    _bundle(sparsify(model), tmp_path / "pruned")  # written from the sparse model itself
    dense = speechzoo.load(tmp_path / "pruned", device="cpu")
    sparse = speechzoo.load(tmp_path / "pruned", device="cpu", sparse=True)
    assert layouts(sparse.model) and not layouts(dense.model)
    torch.testing.assert_close(outputs(sparse.model), outputs(dense.model), atol=1e-5,
                               rtol=1e-5)
    texts = dense.transcribe(list(WAV.numpy()), sample_rate=16000)
    assert any(texts) and sparse.transcribe(list(WAV.numpy()), sample_rate=16000) == texts


def test_load_sparse_needs_a_pruned_bundle(tmp_path):
    _bundle(pruned(sparsity=0.0), tmp_path / "dense")
    with pytest.raises(ConfigError, match=r"dense.*no matrix .* prune it first"):
        speechzoo.load(tmp_path / "dense", device="cpu", sparse=True)
