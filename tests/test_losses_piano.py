import pytest
import torch

from speechzoo.errors import ConfigError
from speechzoo.losses import _frame_loss_weights, onsets_frames_loss
from speechzoo.models.onsets_frames import OnsetsFramesOutput

K = 3


def labels_of(t: int = 10) -> dict[str, torch.Tensor]:
    """Key 0: a note on frames 2..6 (onset 2, offset 6, velocity 0.5); key 1: a note begun
    before the window, frames 0..3; key 2: silent."""
    lab = {k: torch.zeros(1, t, K) for k in ("onset", "offset", "frame", "velocity")}
    lab["frame"][0, 2:7, 0] = 1
    lab["onset"][0, 2, 0] = 1
    lab["offset"][0, 6, 0] = 1
    lab["velocity"][0, 2, 0] = 0.5
    lab["frame"][0, 0:4, 1] = 1
    lab["offset"][0, 3, 1] = 1
    return lab


def perfect(lab: dict[str, torch.Tensor], sure: float = 30.0) -> OnsetsFramesOutput:
    def logits(k):
        return (2 * lab[k] - 1) * sure
    return OnsetsFramesOutput(logits("onset"), logits("offset"), logits("frame"),
                              lab["velocity"].clone())


def test_perfect_logits_give_zero_loss():
    lab = labels_of()
    losses = onsets_frames_loss(perfect(lab), lab, torch.tensor([10]))
    assert set(losses) == {"onset", "offset", "frame", "velocity"}
    assert all(v.dtype == torch.float32 and 0 <= float(v) < 1e-6 for v in losses.values())
    wrong = onsets_frames_loss(perfect(lab, sure=-30.0), lab, torch.tensor([10]))
    assert all(float(wrong[k]) > 1 for k in ("onset", "offset", "frame"))


def test_plain_bce_is_the_mean_over_valid_frames_and_keys():
    lab = labels_of()
    out = OnsetsFramesOutput(torch.zeros(1, 10, K), None, torch.zeros(1, 10, K), None)
    losses = onsets_frames_loss(out, lab, torch.tensor([10]))
    assert set(losses) == {"onset", "frame"}  # no loss for heads the model lacks
    torch.testing.assert_close(losses["frame"], torch.log(torch.tensor(2.0)))


def test_padding_is_masked():
    lab, t = labels_of(), 10
    out = perfect(lab)
    out.onset = out.onset + torch.randn(1, t, K)
    alone = onsets_frames_loss(out, lab, torch.tensor([t]))
    # the same clip padded with frames of garbage logits and labels
    pad = 6

    def padded(x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, torch.rand(1, pad, K) * 9 - 3], 1)

    out_p = OnsetsFramesOutput(*(padded(getattr(out, k))
                                 for k in ("onset", "offset", "frame", "velocity")))
    lab_p = {k: padded(v) for k, v in lab.items()}
    for weight in (None, 5.0):
        a = onsets_frames_loss(out, lab, torch.tensor([t]), weight)
        b = onsets_frames_loss(out_p, lab_p, torch.tensor([t]), weight)
        for k in a:
            torch.testing.assert_close(a[k], b[k])
    assert float(alone["onset"]) > 0


def test_velocity_loss_only_at_onsets():
    lab = labels_of()
    out = perfect(lab)
    out.velocity[0, 5:, :] = 0.9  # frames without an onset: no loss
    out.velocity[0, 0, 2] = -4.0
    assert float(onsets_frames_loss(out, lab, torch.tensor([10]))["velocity"]) == 0.0
    out.velocity[0, 2, 0] = 0.8  # the onset frame: (0.8 - 0.5)^2 over one onset
    torch.testing.assert_close(onsets_frames_loss(out, lab, torch.tensor([10]))["velocity"],
                               torch.tensor(0.09))
    # past the clip's length an onset label does not count
    lab["onset"][0, 8, 2], lab["velocity"][0, 8, 2] = 1, 0.3
    torch.testing.assert_close(onsets_frames_loss(out, lab, torch.tensor([8]))["velocity"],
                               torch.tensor(0.09))


def test_frame_weights_follow_the_2017_paper():
    lab = labels_of()
    lab["onset"][0, 8, 2], lab["frame"][0, 8:, 2] = 1, 1  # a note at the window's end
    w = _frame_loss_weights(lab["onset"], lab["frame"], 5.0)[0]
    # onset frame c, then c / (t - t_on): the frame after the onset c too
    torch.testing.assert_close(w[:, 0], torch.tensor([1, 1, 5, 5, 5 / 2, 5 / 3, 5 / 4, 1, 1, 1.]))
    torch.testing.assert_close(w[:, 1], torch.ones(10))  # no onset in the window
    torch.testing.assert_close(w[:, 2], torch.tensor([1, 1, 1, 1, 1, 1, 1, 1, 5, 5.]))


def test_frame_weights_restart_at_a_restrike_and_not_after_silence():
    onset, frame = torch.zeros(1, 9, 1), torch.zeros(1, 9, 1)
    frame[0, 0:6, 0] = 1
    onset[0, 0, 0] = onset[0, 3, 0] = 1  # re-struck at frame 3 without a silent frame
    frame[0, 7:9, 0] = 1  # sounding again without an onset
    w = _frame_loss_weights(onset, frame, 4.0)[0, :, 0]
    torch.testing.assert_close(w, torch.tensor([4, 4, 2, 4, 4, 2, 1, 1, 1.]))


def test_frame_weight_changes_the_frame_loss_as_defined():
    lab = labels_of()
    out = perfect(lab)
    out.frame = torch.zeros(1, 10, K)  # BCE log 2 everywhere
    plain = onsets_frames_loss(out, lab, torch.tensor([10]))
    weighted = onsets_frames_loss(out, lab, torch.tensor([10]), frame_weight=5.0)
    w = _frame_loss_weights(lab["onset"], lab["frame"], 5.0)
    torch.testing.assert_close(weighted["frame"], w.mean() * torch.log(torch.tensor(2.0)))
    assert float(weighted["frame"]) > float(plain["frame"])
    for k in ("onset", "offset", "velocity"):
        assert float(weighted[k]) == float(plain[k])
    with pytest.raises(ConfigError, match="frame_weight"):
        onsets_frames_loss(out, lab, torch.tensor([10]), frame_weight=0.0)


def test_loss_is_float32_from_bfloat16_logits_and_checks_shapes():
    lab = labels_of()
    out = perfect(lab, sure=3.0)
    out = OnsetsFramesOutput(*(getattr(out, k).bfloat16()
                               for k in ("onset", "offset", "frame", "velocity")))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        losses = onsets_frames_loss(out, lab, torch.tensor([10]))
    assert all(v.dtype == torch.float32 and torch.isfinite(v) for v in losses.values())
    lab["frame"] = lab["frame"][:, :8]
    with pytest.raises(ValueError, match="frame"):
        onsets_frames_loss(out, lab, torch.tensor([10]))
