"""FP16 master-weights training (speechzoo.tasks.precision) on the debug recipe, on CPU."""

import csv
import json
from pathlib import Path

import pytest
import torch
import yaml
from lightning.pytorch.callbacks import Callback

from speechzoo.checkpoints import read_bundle
from speechzoo.errors import ConfigError
from speechzoo.models.deepspeech2 import DeepSpeech2
from speechzoo.pipelines import export
from speechzoo.tasks.precision import MasterWeightsPrecision
from speechzoo.tasks.recipes import make_cli
from tests.recipe_runs import recipe_overrides

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
PLUGIN = "speechzoo.tasks.precision.MasterWeightsPrecision"
HALF, FLOAT = torch.float16, torch.float32


def _plugin_override(**init_args):
    return ["--trainer.plugins", json.dumps([{"class_path": PLUGIN, "init_args": init_args}])]


def _metrics(run_dir):
    (path,) = run_dir.glob("logs/version_*/metrics.csv")
    return list(csv.DictReader(path.open()))


class _Probe(Callback):
    """Dtypes of weights, gradients, masters and activations during training, and what each
    optimiser step did to the masters."""

    def __init__(self):
        self.outputs, self.steps = {}, []

    def on_train_start(self, trainer, pl_module):
        net = pl_module.acoustic
        watched = {"features": net.features, "conv": net.convs[0], "rnn": net.rnns[0],
                   "rnn.input": net.rnns[0].input, "norm": net.norm, "fc": net.fc,
                   "model": net}
        self.handles = [m.register_forward_hook(self._record(name))
                        for name, m in watched.items()]

    def _record(self, name):
        def hook(module, args, output):
            self.outputs[name] = (output[0] if isinstance(output, tuple) else output).dtype
        return hook

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        plugin = trainer.precision_plugin
        params = dict(pl_module.acoustic.named_parameters())
        masters = {n: plugin.master_of(p) for n, p in params.items()}
        self.weights = {n: p.dtype for n, p in params.items()}
        self.grads = {n: p.grad.dtype for n, p in params.items()}
        self.masters = {n: (m.dtype, m.grad.dtype) for n, m in masters.items() if m is not None}
        self.optimised = {id(q) for group in optimizer.param_groups for q in group["params"]}
        self.expected = {id(p if masters[n] is None else masters[n]) for n, p in params.items()}
        self.before = {n: m.clone() for n, m in masters.items() if m is not None}
        self.skipped_before = plugin.scaler.skipped

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        plugin = trainer.precision_plugin
        params = dict(pl_module.acoustic.named_parameters())
        moved = max((plugin.master_of(params[n]) - m).abs().max().item()
                    for n, m in self.before.items())
        rounded = all(torch.equal(params[n], plugin.master_of(params[n]).half())
                      for n in self.before)
        self.steps.append((plugin.scaler.skipped > self.skipped_before, moved, rounded))

    def on_train_end(self, trainer, pl_module):
        for handle in self.handles:
            handle.remove()


def _fit_with_probe(overrides):
    cli = make_cli(RECIPES / "ds2_debug.yaml", overrides, subcommand=None)
    probe = _Probe()
    cli.trainer.callbacks.append(probe)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    return cli, probe


STEPS = 10


@pytest.fixture(scope="module")
def fp16_run(tiny_corpus, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("fp16")
    cli, probe = _fit_with_probe(recipe_overrides(tiny_corpus, run_dir, STEPS) + _plugin_override())
    return cli, run_dir, probe


def test_model_is_fp16_and_the_optimiser_holds_fp32_masters(fp16_run):
    _, _, probe = fp16_run
    kept = {n for n in probe.weights if n.startswith("convs.") or ".norm." in n
            or n.startswith("norm.")}  # CPU convolutions and normalisation (docstring)
    assert kept and {n for n, d in probe.weights.items() if d == FLOAT} == kept
    assert {n for n, d in probe.weights.items() if d == HALF} == set(probe.masters)
    assert {"rnns.0.input.weight", "rnns.0.recurrent", "fc.weight"} <= set(probe.masters)
    assert all(probe.grads[n] == HALF for n in probe.masters)  # the model's gradients
    assert set(probe.masters.values()) == {(FLOAT, FLOAT)}  # the masters and theirs
    assert probe.optimised == probe.expected
    # activations: FP16 through the recurrent and output layers; FP32 spectrogram, CPU
    # convolution stack and log-probabilities (for CTC)
    assert probe.outputs == {"features": FLOAT, "conv": FLOAT, "rnn": HALF, "rnn.input": HALF,
                             "norm": HALF, "fc": HALF, "model": FLOAT}


def test_every_step_updates_the_masters_and_rounds_them_into_the_model(fp16_run):
    _, _, probe = fp16_run
    assert len(probe.steps) == STEPS
    assert all(not skipped and moved > 0 and rounded for skipped, moved, rounded in probe.steps)


def test_fp16_run_ends_close_to_an_fp32_run(fp16_run, tiny_corpus, tmp_path):
    """Same seed, same batches: per-step training losses agree to 1% (measured: at most
    2e-4 relative over these 10 steps, 6e-4 over the recipe's 40), and after fit both models
    hold FP32 weights (the FP16 run's are its masters), close to each other."""
    cli16, run16, _ = fp16_run
    cli32 = make_cli(RECIPES / "ds2_debug.yaml", recipe_overrides(tiny_corpus, tmp_path, STEPS))
    losses = [[float(r["train/loss"]) for r in _metrics(d) if r.get("train/loss")]
              for d in (run16, tmp_path)]
    assert len(losses[0]) == len(losses[1]) == STEPS
    assert losses[0][-1] < 0.8 * losses[0][0]  # it trains
    for a, b in zip(*losses, strict=True):
        assert a == pytest.approx(b, rel=0.01)
    for (name, a), b in zip(cli16.model.state_dict().items(),
                            cli32.model.state_dict().values(), strict=True):
        assert a.dtype == b.dtype, name
        if name.endswith("weight"):
            torch.testing.assert_close(a, b, atol=0.01, rtol=0.05, msg=name)


def test_logs_loss_scale_skipped_steps_and_grad_norm(fp16_run):
    _, run_dir, _ = fp16_run
    rows = [r for r in _metrics(run_dir) if r.get("precision/loss_scale")]
    assert [int(r["step"]) for r in rows] == list(range(STEPS))
    assert {float(r["precision/loss_scale"]) for r in rows} == {2.0**16}
    assert {float(r["precision/skipped_steps"]) for r in rows} == {0.0}
    assert all(0 < float(r["precision/grad_norm"]) < 100 for r in rows)


def test_export_writes_a_bundle_of_the_masters(fp16_run, tmp_path):
    _, run_dir, _ = fp16_run
    last = run_dir / "ckpt" / "last.ckpt"
    saved = torch.load(last, weights_only=True)
    weights = saved["state_dict"]
    assert weights["acoustic.rnns.0.recurrent"].dtype == FLOAT  # the master, not its rounding
    bundle = read_bundle(export(last, tmp_path / "bundle"))
    assert bundle.state_dict.keys() == weights.keys()
    for name, value in weights.items():
        expected = value.half() if value.is_floating_point() else value
        assert torch.equal(bundle.state_dict[name], expected), name
    bundle.build("acoustic")  # a normal bundle


def test_resume_restores_masters_and_scaler_exactly(tiny_corpus, tmp_path):
    """Batch 1, a large first scale and a short growth interval: the first steps overflow and
    are skipped, then the scale grows; stopping at step 3 and resuming gives the weights and
    scaler of a run that never stopped. The plugin comes from a recipe-style YAML here."""
    config = tmp_path / "fp16.yaml"
    config.write_text(yaml.safe_dump({"trainer": {"plugins": [{"class_path": PLUGIN, "init_args": {
        "init_scale": 2.0**18, "growth_interval": 2}}]}}))
    extra = ["--config", str(config), "--data.init_args.batch_size", "1",
             "--trainer.val_check_interval", "3"]
    whole, probe = _fit_with_probe(recipe_overrides(tiny_corpus, tmp_path / "whole", 6, *extra))
    skipped = [s for s, _, _ in probe.steps]
    assert any(skipped) and not all(skipped)
    for was_skipped, moved, rounded in probe.steps:  # a skipped step leaves the masters be
        assert rounded and (moved == 0) == was_skipped
    first = make_cli(RECIPES / "ds2_debug.yaml", recipe_overrides(
        tiny_corpus, tmp_path / "first", 3, *extra))
    last = tmp_path / "first" / "ckpt" / "last.ckpt"
    saved = torch.load(last, weights_only=True)
    assert saved["global_step"] == 3
    assert saved["MasterWeightsPrecision"]["scaler"]["skipped"] > 0
    for name, value in first.model.state_dict().items():  # after fit: the masters, FP32
        assert torch.equal(saved["state_dict"][name], value), name
    second = make_cli(RECIPES / "ds2_debug.yaml", recipe_overrides(
        tiny_corpus, tmp_path / "second", 6, *extra, "--ckpt_path", str(last)))
    assert second.trainer.global_step == 6
    assert (second.trainer.precision_plugin.scaler.state_dict()
            == whole.trainer.precision_plugin.scaler.state_dict())
    for (name, a), b in zip(second.model.state_dict().items(),
                            whole.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def _tiny_ds2(**kwargs):
    torch.manual_seed(0)
    return DeepSpeech2(num_classes=29, conv_channels=[4], conv_kernels=[[21, 11]],
                       conv_strides=[[4, 2]], rnn_hidden=48, rnn_layers=1, **kwargs).eval()


def test_conversion_outside_a_trainer_and_teardown():
    """A unidirectional model: its lookahead convolution (kept FP32 on CPU) takes the FP16
    recurrent output, computes in FP32 and hands FP16 on; teardown gives the FP32 model back."""
    model = _tiny_ds2(bidirectional=False, lookahead=2)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    wav, lengths = torch.randn(2, 4000), torch.tensor([4000, 3000])
    reference, _ = model(wav, lengths)
    plugin = MasterWeightsPrecision()
    plugin.convert_module(model)
    dtypes = {n: p.dtype for n, p in model.named_parameters()}
    assert dtypes["lookahead.conv.weight"] == dtypes["convs.0.conv.weight"] == FLOAT
    assert dtypes["rnns.0.recurrent"] == dtypes["fc.weight"] == HALF
    for name, p in model.named_parameters():
        master = plugin.master_of(p)
        assert (master is None) == (p.dtype == FLOAT)
        if master is not None:
            assert master.dtype == FLOAT and torch.equal(master, before[name])
    seen = {}
    model.lookahead.register_forward_hook(lambda m, a, out: seen.update(out=out.dtype))
    log_probs, _ = model(wav, lengths)
    assert seen["out"] == HALF and log_probs.dtype == FLOAT
    torch.testing.assert_close(log_probs, reference, atol=0.02, rtol=0)
    log_probs.sum().backward()
    assert model.rnns[0].recurrent.grad.dtype == HALF
    plugin.teardown()
    for name, p in model.named_parameters():
        assert p.dtype == FLOAT and torch.equal(p, before[name]), name
    assert torch.equal(model(wav, lengths)[0], reference)


def test_keep_fp32_replaces_the_default_list():
    model = _tiny_ds2()
    plugin = MasterWeightsPrecision(keep_fp32=["SequenceBatchNorm", "Spectrogram"])
    plugin.convert_module(model)
    assert model.convs[0].conv.weight.dtype == HALF  # as on GPU
    assert model.convs[0].norm.weight.dtype == FLOAT
    assert model.features.window.dtype == FLOAT  # the front end's buffer too
    log_probs, _ = model(torch.randn(1, 3000), torch.tensor([3000]))
    assert log_probs.dtype == FLOAT and torch.isfinite(log_probs).all()
    with pytest.warns(UserWarning, match="SequenceBatchNrom"):
        MasterWeightsPrecision(keep_fp32=["SequenceBatchNrom"]).convert_module(_tiny_ds2())


@pytest.mark.parametrize("loss_scale", ["auto", True, None])
def test_bad_loss_scale_raises(loss_scale):
    with pytest.raises(ConfigError, match="loss_scale"):
        MasterWeightsPrecision(loss_scale=loss_scale)
    assert not MasterWeightsPrecision(loss_scale=128).scaler.dynamic
