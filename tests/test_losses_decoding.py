import pytest
import torch

from speechzoo.decoding.ctc import ctc_greedy, greedy_transcripts
from speechzoo.errors import DataError
from speechzoo.losses import ctc_frames_needed, ctc_loss
from speechzoo.text.english import CHARACTERS
from speechzoo.text.tokenizers import CharTokenizer


def test_ctc_loss_finite_and_differentiable():
    logits = torch.randn(2, 12, 5, requires_grad=True)
    labels = torch.tensor([[1, 2, 2], [3, 0, 0]])
    loss = ctc_loss(logits.log_softmax(-1), torch.tensor([12, 7]), labels, torch.tensor([3, 1]))
    assert torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(logits.grad).all()


def test_ctc_loss_rejects_labels_longer_than_frames():
    logits = torch.randn(1, 4, 5).log_softmax(-1)
    # "aab" needs 4 frames (a blank between the repeats); "aaab" needs 6.
    assert ctc_frames_needed(torch.tensor([[1, 1, 2]]), torch.tensor([3])).item() == 4
    ctc_loss(logits, torch.tensor([4]), torch.tensor([[1, 1, 2]]), torch.tensor([3]))
    with pytest.raises(DataError, match="needs 6 frames.*only 4"):
        ctc_loss(logits, torch.tensor([4]), torch.tensor([[1, 1, 1, 2]]), torch.tensor([4]))


def test_greedy_merges_repeats_and_drops_blanks():
    path = torch.tensor([[1, 1, 0, 1, 2, 2, 0, 0, 3]])
    log_probs = torch.nn.functional.one_hot(path, 5).float().log()
    assert ctc_greedy(log_probs, torch.tensor([9])) == [[1, 1, 2, 3]]
    assert ctc_greedy(log_probs, torch.tensor([5])) == [[1, 1, 2]]


def test_greedy_transcripts_and_tokenizer():
    tok = CharTokenizer(CHARACTERS)
    ids = tok.encode("hi there")
    assert tok.decode(ids) == "hi there" and len(tok) == 29 and 0 not in ids
    frames = [i for c in ids for i in (c, 0)]
    log_probs = torch.nn.functional.one_hot(torch.tensor([frames]), 29).float().log()
    assert greedy_transcripts(log_probs, torch.tensor([len(frames)]), tok) == ["hi there"]
    with pytest.raises(DataError, match="outside the model's alphabet"):
        tok.encode("Hi!")
