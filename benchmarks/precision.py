"""FP16 with FP32 master weights (arXiv 1710.03740) against FP32 and bf16 autocast.

Two parts, written to ``benchmarks/results/precision.json``:

* ``memory``: bytes of weights + gradients + optimiser state (AdamW; under the paper's scheme
  also the FP32 masters and their gradients), counted over the tensors a real training step
  holds just before its optimiser step, for DS2 small and paper-sized, under ``32-true``,
  ``bf16-mixed`` and ``MasterWeightsPrecision``. (Activations, the paper's larger saving, are
  not counted.)
* ``curves``: two runs of ``recipes/ds2.yaml`` from the same seed, FP32 and FP16 with master
  weights, read from their Lightning CSV logs: training loss step by step and the dev WER/CER
  of their last validation. The runs (from scratch, in the SortaGrad epoch; the committed
  ones ran 200 steps, then were resumed with ``--ckpt_path last --trainer.max_steps 400``,
  so each has two logs, version_0 and version_1)::

    speechzoo train recipes/ds2.yaml --trainer.max_steps 400 --trainer.val_check_interval 100 \\
        --trainer.precision 32-true                                    # in FP32/
    speechzoo train recipes/ds2.yaml --trainer.max_steps 400 --trainer.val_check_interval 100 \\
        --trainer.precision null \\
        --trainer.plugins '[{"class_path": "speechzoo.tasks.precision.MasterWeightsPrecision"}]'

    python benchmarks/precision.py --fp32-log FP32/runs/ds2/logs/version_*/metrics.csv \\
        --fp16-log FP16/runs/ds2/logs/version_*/metrics.csv
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from pathlib import Path

import lightning as L
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from asr import machine, save_results  # noqa: E402

from speechzoo.losses import ctc_loss  # noqa: E402
from speechzoo.models.deepspeech2 import deepspeech2_paper, deepspeech2_small  # noqa: E402
from speechzoo.tasks.precision import MasterWeightsPrecision  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "precision.json"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--fp32-log", type=Path, nargs="+",
                   help="metrics.csv of the FP32 run (several: a resumed run's, in order)")
    p.add_argument("--fp16-log", type=Path, nargs="+",
                   help="metrics.csv of the FP16 master-weights run")
    p.add_argument("--out", type=Path, default=RESULTS)
    return p.parse_args()


class _Step(L.LightningModule):
    """One CTC step of a DS2 on a random batch; counts the training state before stepping."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.acoustic = model
        self.counted: dict[str, int] = {}

    def training_step(self, batch, batch_idx):
        waves, lengths, labels, label_lengths = batch
        log_probs, frames = self.acoustic(waves, lengths)
        return ctc_loss(log_probs, frames, labels, label_lengths)

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        if optimizer.state:  # it exists from the first step that was not skipped on
            self.counted = _state_bytes(self, optimizer)

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=1e-4)


def _state_bytes(module: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, int]:
    """Bytes by role, each tensor once (a kept-FP32 parameter is its own 'master')."""
    seen: set[int] = set()

    def size(tensors) -> int:
        total = 0
        for t in tensors:
            if t is not None and t.data_ptr() not in seen:
                seen.add(t.data_ptr())
                total += t.numel() * t.element_size()
        return total

    params = list(module.parameters())
    held = [p for g in optimizer.param_groups for p in g["params"]]
    state = [v for s in optimizer.state.values() for v in s.values() if torch.is_tensor(v)
             and v.dim() > 0]
    out = {"weights": size(params), "gradients": size(p.grad for p in params),
           "master_weights": size(held), "master_gradients": size(p.grad for p in held),
           "optimizer_state": size(state)}
    out["total"] = sum(out.values())
    return out


def memory() -> dict:
    g = torch.Generator().manual_seed(0)
    batch = (torch.randn(2, 16000, generator=g) * 0.1, torch.tensor([16000, 12000]),
             torch.randint(1, 29, (2, 8), generator=g), torch.tensor([8, 6]))
    loader = torch.utils.data.DataLoader([batch] * 3, batch_size=None)
    out = {}
    for size, make in (("small", deepspeech2_small), ("paper", deepspeech2_paper)):
        for name, kwargs in (("32-true", {"precision": "32-true"}),
                             ("bf16-mixed", {"precision": "bf16-mixed"}),
                             # a low first scale, so a random model's first step does not overflow
                             ("fp16-master",
                              {"plugins": [MasterWeightsPrecision(init_scale=256)]})):
            torch.manual_seed(0)
            task = _Step(make(29))
            L.Trainer(max_steps=3, accelerator="cpu", logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False,
                      **kwargs).fit(task, loader)
            out[f"{size}/{name}"] = task.counted
            print(size, name, {k: f"{v / 2**20:.1f} MiB" for k, v in task.counted.items()})
    return out


def _read(logs: list[Path]) -> tuple[dict[int, float], dict[str, float]]:
    losses, last_val = {}, {}
    for log in logs:
        with log.open() as f:
            rows = list(csv.DictReader(f))
        for row in rows:
            if row.get("train/loss"):
                losses[int(row["step"])] = float(row["train/loss"])
            if row.get("val/wer"):
                last_val = {"step": int(row["step"]), "wer": float(row["val/wer"]),
                            "cer": float(row["val/cer"]), "loss": float(row["val/loss"])}
    return losses, last_val


def curves(fp32_log: list[Path], fp16_log: list[Path]) -> dict:
    a, val_a = _read(fp32_log)
    b, val_b = _read(fp16_log)
    steps = sorted(a.keys() & b.keys())
    rel = [abs(b[s] - a[s]) / abs(a[s]) for s in steps]
    return {"steps_compared": len(steps),
            "train_loss": {"fp32": [a[s] for s in steps], "fp16_master": [b[s] for s in steps],
                           "step": steps},
            "median_relative_loss_difference": statistics.median(rel),
            "max_relative_loss_difference": max(rel),
            "dev": {"fp32": val_a, "fp16_master": val_b,
                    "wer_difference": val_b["wer"] - val_a["wer"],
                    "cer_difference": val_b["cer"] - val_a["cer"]}}


def main() -> None:
    args = parse_args()
    res = {"machine": machine(), "torch": torch.__version__, "memory_bytes": memory()}
    if args.fp32_log and args.fp16_log:
        res["curves"] = curves(args.fp32_log, args.fp16_log)
        print({k: v for k, v in res["curves"].items() if k != "train_loss"})
    save_results(res, args.out)


if __name__ == "__main__":
    main()
