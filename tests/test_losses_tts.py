import math

import torch

from speechzoo.losses import duration_loss, kl_loss, mel_loss, utterance_duration_loss


def test_mel_loss_is_l1_plus_l2_over_valid_frames():
    target = torch.zeros(2, 3, 4)
    pred = torch.zeros(2, 3, 4)
    pred[0, :, :2] = 2.0  # utterance 0: 2 of its 4 frames off by 2
    pred[1, :, 3] = 50.0  # utterance 1 has 3 frames: frame 3 is padding
    lengths = torch.tensor([4, 3])
    # 21 valid (frame, channel) pairs, 6 off by 2: L1 = 12 / 21, L2 = 24 / 21
    torch.testing.assert_close(mel_loss(pred, target, lengths), torch.tensor(36 / 21))
    assert mel_loss(target, target, lengths) == 0


def test_duration_loss_in_frames_or_seconds():
    pred = torch.tensor([[3.0, 5.0, 9.0], [1.0, 7.0, 7.0]])
    target = torch.tensor([[2.0, 5.0, 0.0], [1.0, 4.0, 0.0]])
    lengths = torch.tensor([2, 2])  # the third token of each is padding
    torch.testing.assert_close(duration_loss(pred, target, lengths), torch.tensor(10 / 4))
    hop = 256 / 22050
    torch.testing.assert_close(duration_loss(pred, target, lengths, frame_seconds=hop),
                               torch.tensor(10 / 4 * hop**2))


def test_utterance_duration_loss():
    pred = torch.tensor([[3.0, 5.0, 9.0], [1.0, 2.0, 100.0]])
    frames = torch.tensor([10, 3])
    lengths = torch.tensor([3, 2])
    # utterance 0: total 17, 7 too many, over 3 tokens; utterance 1: total 3, exact
    torch.testing.assert_close(utterance_duration_loss(pred, frames, lengths),
                               torch.tensor((49 / 3 + 0) / 2))


def test_kl_loss():
    mu, logvar = torch.zeros(2, 3, 4), torch.zeros(2, 3, 4)
    mask = torch.tensor([[True, True, False], [True, False, False]])
    assert kl_loss(mu, logvar, mask) == 0
    mu[0, 0] = 1.0  # KL = 0.5 * 4 on one of the 3 valid tokens
    logvar[0, 2] = 5.0  # a padded token: ignored
    torch.testing.assert_close(kl_loss(mu, logvar, mask), torch.tensor(2.0 / 3))
    logvar[1, 0] = math.log(2.0)
    expected = (2.0 + 4 * 0.5 * (2.0 - 1.0 - math.log(2.0))) / 3
    torch.testing.assert_close(kl_loss(mu, logvar, mask), torch.tensor(expected))


def test_losses_compute_in_float32():
    """fp16 inputs whose squared errors overflow fp16 (> 65504) still give finite losses."""
    lengths = torch.tensor([4])
    pred, target = torch.full((1, 2, 4), 300.0).half(), torch.zeros(1, 2, 4).half()
    loss = mel_loss(pred, target, lengths)
    assert loss.dtype == torch.float32 and loss.item() == 300 + 300**2
    durations = torch.full((1, 4), 400.0, dtype=torch.bfloat16)
    assert duration_loss(durations, torch.zeros(1, 4), lengths).item() == 400**2
    assert utterance_duration_loss(durations, torch.tensor([0]), lengths).item() == 1600**2 / 4
    mu = torch.full((1, 4, 2), 300.0, dtype=torch.float16)
    assert torch.isfinite(kl_loss(mu, torch.zeros_like(mu), torch.ones(1, 4, dtype=torch.bool)))
