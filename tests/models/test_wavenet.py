import math

import pytest
import torch

from speechzoo.models.wavenet import WaveNet, wavenet_paper, wavenet_small

OUTPUTS = ["mol", "mulaw"]


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models (recipe_runs.torch_threads)


def tiny(output: str = "mol", **kw) -> WaveNet:
    torch.manual_seed(0)
    args = dict(n_mels=6, hop_length=4, upsample_scales=(2, 2), layers=4, stacks=2,
                residual_channels=8, gate_channels=12, skip_channels=10, cond_channels=5,
                mixtures=3, output=output)
    return WaveNet(**{**args, **kw})


def clip(frames: int = 6, batch: int = 2, seed: int = 0):
    """A sine of a different pitch per utterance in [-1, 1], and random mels."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(frames * 4, dtype=torch.float32)
    audio = torch.stack([0.6 * torch.sin(2 * math.pi * t / (5 + 3 * b)) for b in range(batch)])
    return audio, torch.randn(batch, 6, frames, generator=g)


@pytest.mark.parametrize("output", OUTPUTS)
def test_shapes_and_log_prob(output):
    model = tiny(output)
    audio, mel = clip()
    params = model(audio, mel)
    assert params.shape == (2, 9 if output == "mol" else 256, 24)
    log_p = model.log_prob(params, audio)
    assert log_p.shape == (2, 24)
    assert torch.isfinite(log_p).all() and (log_p < 0).all()
    with pytest.raises(ValueError, match="conditioning gives"):
        model(audio[:, :-1], mel)


def test_configuration_errors():
    with pytest.raises(ValueError, match="output"):
        tiny("gaussian")
    with pytest.raises(ValueError, match="hop_length"):
        tiny(hop_length=8)


@pytest.mark.parametrize("output", OUTPUTS)
def test_model_is_causal_in_audio(output):
    model = tiny(output)
    audio, mel = clip(batch=1)
    with torch.no_grad():
        params = model(audio, mel)
        audio2 = audio.clone()
        audio2[0, 10] = -audio2[0, 10] - 0.3
        changed = (model(audio2, mel) - params).abs().amax(1)[0] > 0
    assert not changed[:11].any() and changed[11]
    assert model.receptive_field == model.stack.receptive_field == 1 + 2 * (1 + 2)


@pytest.mark.parametrize("output", OUTPUTS)
def test_incremental_generation_equals_naive(output):
    model = tiny(output)
    _, mel = clip(frames=5)
    fast = model.generate(mel, torch.Generator().manual_seed(3))
    slow = model.generate(mel, torch.Generator().manual_seed(3), naive=True)
    assert fast.shape == slow.shape == (2, 20)
    assert fast.min() >= -1 and fast.max() <= 1
    torch.testing.assert_close(fast, slow, atol=1e-4, rtol=0)
    # a different seed draws different audio
    assert not torch.equal(fast, model.generate(mel, torch.Generator().manual_seed(4)))


def test_mulaw_generation_draws_levels():
    model = tiny("mulaw")
    _, mel = clip(frames=3)
    audio = model.generate(mel, torch.Generator().manual_seed(0))
    levels = torch.from_numpy(model._levels)
    assert ((audio.unsqueeze(-1) - levels).abs().amin(-1) < 1e-6).all()


@pytest.mark.parametrize("output", OUTPUTS)
def test_teacher_forcing_reduces_the_nll(output):
    model = tiny(output)
    audio, mel = clip(frames=8, batch=1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)

    def nll() -> torch.Tensor:
        return -model.log_prob(model(audio, mel), audio).mean()

    with torch.no_grad():
        before = nll().item()
    for _ in range(30):
        opt.zero_grad()
        loss = nll()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = nll().item()
    assert after < before - 1.0  # mol: 11.8 -> 10.6 nats, mulaw: 5.6 -> 1.5


@pytest.mark.parametrize("output", OUTPUTS)
def test_conditioning_matters(output):
    model = tiny(output)
    audio, mel = clip()
    with torch.no_grad():
        a = model(audio, mel)
        b = model(audio, mel + torch.randn(mel.shape, generator=torch.Generator().manual_seed(9)))
        # the mel of frame 2 conditions samples 8 .. 11 (and those near, through the
        # upsampler's context) but none far before
        shifted = mel.clone()
        shifted[..., 4:] += 1.0
        c = model(audio, shifted)
    assert (a - b).abs().amax() > 1e-3
    assert torch.equal(a[..., :8], c[..., :8]) and not torch.equal(a[..., 16:], c[..., 16:])


def test_named_sizes():
    small, paper = wavenet_small(), wavenet_paper()
    assert small.receptive_field == 1 + 2 * 1023
    assert paper.receptive_field == 1 + 2 * 3 * 1023
    assert small.config["layers"] == 20 and paper.config["kernel_size"] == 3
