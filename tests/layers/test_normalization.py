import torch

from speechzoo.layers.normalization import SequenceBatchNorm


def test_statistics_ignore_padding():
    torch.manual_seed(0)
    bn = SequenceBatchNorm(3).train()
    x = torch.randn(2, 3, 10)
    lengths = torch.tensor([10, 4])
    x_pad = x.clone()
    x_pad[1, :, 4:] = 1000.0  # garbage in the padding
    y, y_pad = bn(x, lengths), SequenceBatchNorm(3).train()(x_pad, lengths)
    torch.testing.assert_close(y, y_pad)
    assert (y[1, :, 4:] == 0).all()
    valid = torch.cat([x[0], x[1, :, :4]], dim=1)  # (C, frames)
    expected = (valid - valid.mean(1, keepdim=True)) / valid.var(1, unbiased=False,
                                                                 keepdim=True).add(1e-5).sqrt()
    torch.testing.assert_close(torch.cat([y[0], y[1, :, :4]], 1), expected, atol=1e-5, rtol=1e-4)


def test_running_statistics_used_in_eval():
    bn = SequenceBatchNorm(2, momentum=1.0).train()
    x = torch.randn(4, 2, 5) * 3 + 7
    bn(x, torch.full((4,), 5))
    assert torch.allclose(bn.running_mean, x.mean((0, 2)), atol=1e-5)
    bn.eval()
    y = bn(x, torch.full((4,), 5))
    assert y.mean().abs() < 0.2
