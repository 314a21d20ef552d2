"""Deep Speech 2's recurrences at inference through the kernel switch (``speechzoo.kernels``):
the Triton kernel, the compiled CPU loop, or the reference ``_RecurrentLayer._step`` frame by
frame. Simple-RNN and GRU layers have kernels; an LSTM layer runs the reference."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from speechzoo.kernels import GRU, RNN, kernel_path

CELLS = {"rnn": RNN, "gru": GRU}


@torch.no_grad()
def run(layer: nn.Module, pre: Tensor, state: tuple[Tensor, Tensor] | None = None,
        kernel: str = "auto", clip: float = 20.0) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """Every frame's hidden state of a ``_RecurrentLayer`` given its normalised input products.

    Args:
        layer: the layer (its ``recurrent``, ``bias``, ``cell`` and ``_step``).
        pre: (D, T, B, G) float32, each direction's frames in the order it reads them.
        state: (h, c), each (D, B, H), before the first frame (default zeros; c is the LSTM
            cell and passes through the others unchanged).
        kernel: ``"auto" | "triton" | "cpu" | "reference"``.
        clip: the simple RNN's clipped ReLU.

    Returns (D, T, B, H) and the state after the last frame.
    """
    dirs, frames, batch, _ = pre.shape
    h, c = state or (pre.new_zeros(dirs, batch, layer.hidden),) * 2
    unsupported = None if layer.cell in CELLS else f"no kernel runs a {layer.cell} cell"
    path = kernel_path(kernel, pre.device, "the recurrence", unsupported)
    if path == "reference" or frames == 0:
        outs = []
        for frame in pre.unbind(1):
            h, c = layer._step(frame, h, c)
            outs.append(h)
        return (torch.stack(outs, 1) if outs else pre.new_zeros(dirs, 0, batch, layer.hidden),
                (h, c))
    bias = layer.bias[:, 0].float()
    if path == "triton":
        from speechzoo.kernels.recurrent_triton import recur

        h = h.float().clone()
        return recur(pre.float(), layer.recurrent.float(), bias, h, CELLS[layer.cell], clip), \
            (h, c)
    from speechzoo.kernels.recurrent_cpu import recur

    state_np = h.float().cpu().numpy().copy()
    out = torch.empty(dirs, frames, batch, layer.hidden)
    recur(pre.float().cpu().contiguous().numpy(), layer.recurrent.detach().float().cpu().numpy(),
          bias.detach().cpu().numpy(), state_np, out.numpy(), CELLS[layer.cell], clip)
    return out.to(pre.device), (torch.from_numpy(state_np).to(pre.device), c)
