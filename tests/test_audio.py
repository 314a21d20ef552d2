import pytest
import torch

from speechzoo.audio import change_speed


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_change_speed_scales_length_and_ignores_padding(factor):
    torch.manual_seed(0)
    short, long = torch.randn(7000), torch.randn(9000)
    batch = torch.nn.utils.rnn.pad_sequence([short, long], batch_first=True)
    out, lengths = change_speed(batch, torch.tensor([7000, 9000]), factor)
    alone, alone_len = change_speed(short[None], torch.tensor([7000]), factor)
    assert lengths.tolist() == [alone_len.item(), out.shape[-1]]
    assert abs(lengths[0].item() - 7000 / factor) <= 1
    assert torch.allclose(out[0, :lengths[0]], alone[0, :alone_len[0]], atol=1e-6)


def test_change_speed_moves_a_tone():
    rate, hz = 16000, 500.0
    t = torch.arange(rate) / rate
    out, _ = change_speed(torch.sin(2 * torch.pi * hz * t)[None], torch.tensor([rate]), 1.1)
    peak = torch.fft.rfft(out[0]).abs().argmax().item() * rate / out.shape[-1]
    assert abs(peak - hz * 1.1) < 5


def test_change_speed_rejects_a_bad_factor():
    with pytest.raises(ValueError, match="positive"):
        change_speed(torch.zeros(1, 100), torch.tensor([100]), 0.0)
