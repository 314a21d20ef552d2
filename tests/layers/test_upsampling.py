import pytest
import torch

from speechzoo.layers.upsampling import (
    GaussianUpsampling,
    frame_lengths_of,
    sinusoidal_embedding,
    token_positions,
)


def batch():
    """Two utterances: 4 tokens of durations 3, 5, 2, 4 (14 frames) and 2 of 1, 6 (7)."""
    torch.manual_seed(0)
    h = torch.randn(2, 4, 6)
    d = torch.tensor([[3.0, 5.0, 2.0, 4.0], [1.0, 6.0, 0.0, 0.0]])
    sigma = torch.tensor([[1.0, 1.5, 0.8, 1.2], [0.7, 2.0, 1.0, 1.0]])
    return h, d, sigma, torch.tensor([4, 2])


def test_weights_sum_to_one_and_length_is_sum_of_durations():
    h, d, sigma, lengths = batch()
    up, w, frames = GaussianUpsampling()(h, d, sigma, lengths)
    assert frames.tolist() == [14, 7]
    assert up.shape == (2, 14, 6) and w.shape == (2, 14, 4)
    torch.testing.assert_close(w[0].sum(-1), torch.ones(14))
    torch.testing.assert_close(w[1, :7].sum(-1), torch.ones(7))
    assert (w[1, 7:] == 0).all() and (up[1, 7:] == 0).all()  # beyond its length
    assert (w[1, :, 2:] == 0).all()  # padded tokens
    torch.testing.assert_close(up, torch.bmm(w, h))


def test_each_token_peaks_at_its_middle_frame():
    h, d, _, lengths = batch()
    _, w, _ = GaussianUpsampling()(h, d, torch.ones(2, 4), lengths)
    starts = (torch.cumsum(d, 1) - d).long()
    for b, n in enumerate(lengths.tolist()):
        for i in range(n):
            middle = int(starts[b, i]) + int(d[b, i]) // 2
            assert int(w[b, middle].argmax()) == i
    # frame t is evaluated at t + 0.5: a token's frames lie symmetrically about its centre
    # (token 1 of three 3-frame tokens covers frames 3, 4, 5 and is centred on 4.5)
    same = torch.ones(1, 3)
    _, w, _ = GaussianUpsampling()(torch.randn(1, 3, 2), 3 * same, same, torch.tensor([3]))
    torch.testing.assert_close(w[0, 3:6, 1], w[0, 3:6, 1].flip(0))
    assert int(w[0, 3:6, 1].argmax()) == 1


def test_padding_does_not_change_outputs():
    h, d, sigma, lengths = batch()
    up, w, _ = GaussianUpsampling()(h, d, sigma, lengths)
    # garbage in the padded tokens, and 5 more output frames
    h2, d2, s2 = h.clone(), d.clone(), sigma.clone()
    h2[1, 2:], d2[1, 2:], s2[1, 2:] = 100.0, 7.0, 0.01
    up2, w2, frames = GaussianUpsampling()(h2, d2, s2, lengths, frames=19)
    assert frames.tolist() == [14, 7] and up2.shape[1] == 19
    torch.testing.assert_close(up2[:, :14], up)
    torch.testing.assert_close(w2[:, :14], w)
    assert (up2[:, 14:] == 0).all()
    # alone, the shorter utterance gives the same frames
    alone, _, _ = GaussianUpsampling()(h[1:, :2], d[1:, :2], sigma[1:, :2], lengths[1:])
    torch.testing.assert_close(alone[0], up[1, :7])


def test_fractional_durations_and_given_frame_lengths():
    h, _, sigma, lengths = batch()
    d = torch.tensor([[2.4, 3.3, 1.0, 2.0], [1.2, 2.1, 9.0, 9.0]])
    assert frame_lengths_of(d, lengths).tolist() == [9, 3]
    up, w, frames = GaussianUpsampling()(h, d, sigma, lengths, frame_lengths=torch.tensor([10, 4]))
    assert frames.tolist() == [10, 4] and up.shape[1] == 10
    torch.testing.assert_close(w[1, :4].sum(-1), torch.ones(4))


def test_differentiable_in_durations_and_ranges():
    h, d, sigma, lengths = batch()
    d.requires_grad_(True)
    sigma.requires_grad_(True)
    up, _, _ = GaussianUpsampling()(h, d, sigma, lengths)
    up.square().sum().backward()
    assert torch.isfinite(d.grad).all() and d.grad[0].abs().sum() > 0
    assert torch.isfinite(sigma.grad).all() and sigma.grad[0].abs().sum() > 0
    assert (d.grad[1, 2:] == 0).all()


def test_min_sigma_bounds_the_ranges():
    h, d, _, lengths = batch()
    tiny = torch.full((2, 4), 1e-6)
    _, w, _ = GaussianUpsampling(min_sigma=0.5)(h, d, tiny, lengths)
    _, w_half, _ = GaussianUpsampling(min_sigma=0.5)(h, d, torch.full((2, 4), 0.5), lengths)
    torch.testing.assert_close(w, w_half)
    with pytest.raises(ValueError, match="min_sigma"):
        GaussianUpsampling(min_sigma=0.0)


def test_weights_stay_float32_under_autocast():
    h, d, sigma, lengths = batch()
    d = d * 40  # hundreds of frames: squared distances beyond float16's range
    with torch.autocast("cpu", dtype=torch.bfloat16):
        up, w, frames = GaussianUpsampling()(h, d, sigma, lengths)
    assert w.dtype == torch.float32
    torch.testing.assert_close(w[0, : frames[0]].sum(-1), torch.ones(int(frames[0])))
    assert torch.isfinite(up).all()


def test_token_positions_count_frames_within_each_token():
    d = torch.tensor([[2.0, 0.0, 3.0, 1.0], [4.0, 1.0, 5.0, 5.0]])
    pos = token_positions(d, torch.tensor([4, 2]), frames=8)
    assert pos[0].tolist() == [0, 1, 0, 1, 2, 0, 1, 2]  # last token's start, counted on
    assert pos[1].tolist() == [0, 1, 2, 3, 0, 1, 2, 3]
    # fractional durations: a frame belongs to the token its centre falls in
    frac = token_positions(torch.tensor([[1.6, 2.2]]), torch.tensor([2]), frames=4)
    assert frac[0].tolist() == [0, 1, 0, 1]


def test_sinusoidal_embedding():
    emb = sinusoidal_embedding(torch.tensor([[0.0, 1.0, 5.0]]), 8)
    assert emb.shape == (1, 3, 8)
    torch.testing.assert_close(emb[0, 0], torch.tensor([0.0] * 4 + [1.0] * 4))
    torch.testing.assert_close(emb[..., :4].square() + emb[..., 4:].square(), torch.ones(1, 3, 4))
    assert not torch.allclose(emb[0, 1], emb[0, 2])
    with pytest.raises(ValueError, match="even"):
        sinusoidal_embedding(torch.zeros(3), 5)
