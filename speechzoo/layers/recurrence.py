"""Fused recurrences for Deep Speech 2's recurrent layers (arXiv 1512.02595, eq. 4).

Given the normalised input products ``pre_t = B(W x_t)`` of every frame, this runs
``h_t = f(pre_t + U h_{t-1} + b)`` for a clipped-ReLU simple RNN, a GRU or an LSTM, in both
directions at once, with a hand-written backward pass instead of autograd recording every
gate of every frame:

* forward, per frame: one batched matrix product (both directions in one ``baddbmm``) and
  2-7 elementwise kernels writing straight into preallocated buffers;
* backward, per frame: the gate derivatives from the saved activations (torch's own
  sigmoid/tanh derivative kernels, about ten elementwise kernels on cache-sized (D, B, H)
  tensors) and one ``baddbmm`` with ``U^T``; the weight and bias gradients
  ``sum_t [h_{t-1}, 1]^T dgates_t`` are one large matrix product after the loop rather than
  T small ones accumulated frame by frame.

The maths (gate order, where the bias sits, the order of the additions) is that of
``_RecurrentLayer._step`` in ``speechzoo.models.deepspeech2``, the plain per-frame autograd
loop this is tested against:

* rnn:  h = min(max(a, 0), clip), a = pre + (U h_prev + b)   (section 3.1; the clip is why
        torch's nn.RNN, tanh or unclipped ReLU only, cannot run it)
* gru:  gates (r, z, n), u = U h_prev + b, r = s(pre_r + u_r), z = s(pre_z + u_z),
        n = tanh(pre_n + r * u_n), h = (1 - z) n + z h_prev   (torch's nn.GRU maths)
* lstm: gates (i, f, g, o) of a = pre + (U h_prev + b), c = s(f) c_prev + s(i) tanh(g),
        h = s(o) tanh(c)

torch's nn.GRU / nn.LSTM kernels, fed ``pre`` through an identity input weight, were slower
than the loop on CPU: the identity is a (T B, G) x (G, G) product on top, and their CPU
backward is still autograd through every gate of every frame.

Frames are laid out (D, T, B, .): one frame of both directions is a (D, B, .) view for
``baddbmm``, and all frames of a direction a (T*B, .) matrix for the weight gradient.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

GATES = {"rnn": 1, "gru": 3, "lstm": 4}


def fused_recurrence(pre: Tensor, recurrent: Tensor, bias: Tensor,
                     cell: str, clip: float = 20.0) -> Tensor:
    """Hidden states of every frame of every direction.

    Args:
        pre: (D, T, B, G) normalised input products, G = gates * H; each of the D
            directions runs forward over its own frames (reverse a direction's beforehand).
        recurrent: (D, H, G) U; bias: (D, 1, G).
        cell: ``"rnn"`` (clipped ReLU at ``clip``), ``"gru"`` or ``"lstm"``.

    Returns (D, T, B, H). Frames run in ``pre.dtype`` (under autocast: the autocast dtype,
    as the loop's ``baddbmm`` would); ``recurrent`` and ``bias`` are cast to it.
    Differentiable once.
    """
    if cell not in GATES:
        raise ValueError(f"cell must be one of {sorted(GATES)}, got {cell!r}")
    dtype = pre.dtype
    return _Recurrence.apply(pre.contiguous(), recurrent.to(dtype), bias.to(dtype), cell, clip)


class _Recurrence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, pre, recurrent, bias, cell, clip):  # type: ignore[override]
        keep = any(ctx.needs_input_grad[:3])  # store per-frame gates only for backward
        with torch.autocast(pre.device.type, enabled=False):
            hs, saved = _FORWARD[cell](pre, recurrent, bias, clip, keep)
        ctx.cell, ctx.clip = cell, clip
        if keep:
            ctx.save_for_backward(recurrent, hs, *saved)
        return hs

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):  # type: ignore[override]
        recurrent, hs, *saved = ctx.saved_tensors
        d, t, b, h = hs.shape
        with torch.autocast(grad.device.type, enabled=False):
            grad = grad.to(hs.dtype).contiguous()
            prev = _previous_and_one(hs)  # (D, T, B, H + 1)
            dgates, dn = _BACKWARD[ctx.cell](grad, recurrent, hs, prev[..., :h], saved, ctx.clip)
            # [dU; db] = sum over frames and batch of [h_{t-1}, 1]^T dgates_t: one product
            both = torch.bmm(prev.view(d, t * b, h + 1).transpose(1, 2),
                             dgates.view(d, t * b, -1))
            if dn is not None:  # GRU: the input side of n is not multiplied by r
                dgates[..., 2 * h:] = dn
        return dgates, both[:, :h], both[:, h:], None, None


# out= forms of torch's own derivative kernels: grad * y (1 - y) and grad * (1 - y^2), from
# the activation's output y
_sigmoid_grad = torch.ops.aten.sigmoid_backward.grad_input
_tanh_grad = torch.ops.aten.tanh_backward.grad_input


def _previous_and_one(hs: Tensor) -> Tensor:
    """(D, T, B, H) -> (D, T, B, H + 1): [h_{t-1}, 1], h_{-1} = 0."""
    d, t, b, h = hs.shape
    out = hs.new_empty(d, t, b, h + 1)
    out[:, 0, :, :h] = 0
    out[:, 1:, :, :h] = hs[:, :-1]
    out[..., h] = 1
    return out


def _buffer(pre: Tensor, size: int, keep: bool) -> Tensor:
    """Per-frame storage (D, T, B, size); one reused frame when backward won't need it."""
    d, t, b, _ = pre.shape
    return pre.new_empty(d, t if keep else 1, b, size)


def _per_sequence(bias: Tensor, b: int) -> Tensor:
    """(D, 1, G) -> contiguous (D, B, G): ``baddbmm`` starts from it faster than broadcast."""
    return bias.expand(-1, b, -1).contiguous()


def _gradient_state(grad: Tensor) -> Tensor:
    """(2, D, B, H) ping-pong buffers for dL/dh_t going back in time, the last frame's set."""
    d, t, b, size = grad.shape
    dh = grad.new_empty(2, d, b, size)
    dh[(t - 1) % 2] = grad[:, -1]
    return dh


def _frames(x: Tensor, *slices: tuple[int, int]) -> list[tuple[Tensor, ...]]:
    """Per-frame views of (D, T, B, C) x, one per (start, stop) slice of C: made in one
    ``unbind`` each rather than indexed frame by frame (Python overhead is per call)."""
    parts = [x[..., a:b].unbind(1) for a, b in slices] if slices else [x.unbind(1)]
    return list(zip(*parts, strict=True))


def _rnn_forward(pre: Tensor, recurrent: Tensor, bias: Tensor, clip: float, keep: bool
                 ) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Clipped-ReLU simple RNN (section 3.1); saves the pre-activations a (D, T, B, H)."""
    d, t, b, size = pre.shape
    hs = pre.new_empty(d, t, b, size)
    act = _buffer(pre, size, keep)
    h, bias = pre.new_zeros(d, b, size), _per_sequence(bias, b)
    for (frame,), (a,), (out,) in zip(_frames(pre), _frames(act) * (t if not keep else 1),
                                      _frames(hs), strict=True):
        h = torch.clamp(torch.baddbmm(bias, h, recurrent, out=a).add_(frame), 0.0, clip, out=out)
    return hs, (act,) if keep else ()


def _rnn_backward(grad: Tensor, recurrent: Tensor, hs: Tensor, h_prev: Tensor,
                  saved: Sequence[Tensor], clip: float) -> tuple[Tensor, Tensor | None]:
    """da_t = dh_t [0 <= a_t <= clip] (torch's clamp gradient), dh_{t-1} = g_{t-1} + da_t U^T."""
    (act,) = saved
    passes = ((act >= 0) & (act <= clip)).to(act.dtype)
    dgates, dh = torch.empty_like(act), _gradient_state(grad)
    ut = recurrent.transpose(1, 2).contiguous()  # a contiguous U^T multiplies faster
    g_t, pass_t, da_t = _frames(grad), _frames(passes), _frames(dgates)
    for i in range(grad.shape[1] - 1, -1, -1):
        torch.mul(dh[i % 2], *pass_t[i], out=da_t[i][0])
        if i:
            torch.baddbmm(*g_t[i - 1], *da_t[i], ut, out=dh[(i - 1) % 2])
    return dgates, None


def _gru_forward(pre: Tensor, recurrent: Tensor, bias: Tensor, clip: float, keep: bool
                 ) -> tuple[Tensor, tuple[Tensor, ...]]:
    """GRU in torch's form: the bias sits with U h, inside r * (.) for the n gate.

    Saves s(r), s(z) (D, T, B, 2H), u_n = (U h_{t-1} + b)_n and n (D, T, B, H) each.
    """
    d, t, b, gates = pre.shape
    h2 = 2 * gates // 3
    hs = pre.new_empty(d, t, b, gates // 3)
    saved = rz, hn, ns = [_buffer(pre, n, keep) for n in (h2, gates // 3, gates // 3)]
    h, bias, u = pre.new_zeros(d, b, gates // 3), _per_sequence(bias, b), pre.new_empty(d, b, gates)
    u_rz, u_n = u[..., :h2], u[..., h2:]
    store = list(zip(_frames(rz, (0, h2), (0, h2 // 2), (h2 // 2, h2)), _frames(hn),
                     _frames(ns), strict=True)) * (1 if keep else t)
    for (x_rz, x_n), ((s, r, z), (n_u,), (n,)), (out,) in zip(
            _frames(pre, (0, h2), (h2, gates)), store, _frames(hs), strict=True):
        torch.baddbmm(bias, h, recurrent, out=u)
        torch.add(x_rz, u_rz, out=s).sigmoid_()
        n_u.copy_(u_n)  # kept apart from u: 2H fewer floats saved per frame
        torch.addcmul(x_n, r, n_u, out=n).tanh_()
        h = torch.lerp(n, h, z, out=out)  # (1 - z) n + z h
    return hs, tuple(saved) if keep else ()


def _gru_backward(grad: Tensor, recurrent: Tensor, hs: Tensor, h_prev: Tensor,
                  saved: Sequence[Tensor], clip: float) -> tuple[Tensor, Tensor | None]:
    """Back through time, frame by frame on cache-sized tensors:

    dn = tanh'(n) (1 - z) dh, d u_n = r dn, d a_r = s'(r) u_n dn, d a_z = s'(z) (h_prev - n) dh,
    dh_{t-1} = g_{t-1} + z dh + [d a_r, d a_z, d u_n] U^T; the input side gets dn (no r).
    """
    rz, hn, ns = saved
    d, t, b, size = hs.shape
    drec, dn_all, dh = hs.new_empty(d, t, b, 3 * size), torch.empty_like(hs), _gradient_state(grad)
    ut = recurrent.transpose(1, 2).contiguous()  # a contiguous U^T multiplies faster
    dz_h, dn_h, carry = (torch.empty_like(hs[:, 0]) for _ in range(3))
    x = hs.new_empty(d, b, 2 * size)  # what s'() multiplies, for r and z at once
    x_r, x_z = x[..., :size], x[..., size:]
    per = list(zip(_frames(grad), _frames(rz, (0, 2 * size), (0, size), (size, 2 * size)),
                   _frames(hn), _frames(ns), _frames(h_prev), _frames(dn_all),
                   _frames(drec, (0, 2 * size), (2 * size, 3 * size), (0, 3 * size)),
                   strict=True))
    for i in range(t - 1, -1, -1):
        _, (s, r, z), (u_n,), (n,), (h_before,), (dn,), (d_rz, d_un, d_all) = per[i]
        dh_i = dh[i % 2]
        torch.mul(dh_i, z, out=dz_h)
        _tanh_grad(torch.sub(dh_i, dz_h, out=dn_h), n, grad_input=dn)
        torch.mul(dn, r, out=d_un)
        torch.mul(dn, u_n, out=x_r)
        torch.sub(h_before, n, out=x_z).mul_(dh_i)
        _sigmoid_grad(x, s, grad_input=d_rz)
        if i:
            torch.add(per[i - 1][0][0], dz_h, out=carry)
            torch.baddbmm(carry, d_all, ut, out=dh[(i - 1) % 2])
    return drec, dn_all


def _lstm_forward(pre: Tensor, recurrent: Tensor, bias: Tensor, clip: float, keep: bool
                  ) -> tuple[Tensor, tuple[Tensor, ...]]:
    """LSTM, gates (i, f, g, o); saves activated gates (D, T, B, 4H), c and tanh(c)."""
    d, t, b, gates = pre.shape
    size = gates // 4
    hs = pre.new_empty(d, t, b, size)
    act, cs, tcs = (_buffer(pre, n, keep) for n in (gates, size, size))
    h, c, bias = pre.new_zeros(d, b, size), pre.new_zeros(d, b, size), _per_sequence(bias, b)
    quarters = [(k * size, (k + 1) * size) for k in range(4)]
    store = list(zip(_frames(act, (0, gates), (0, 2 * size), *quarters), _frames(cs),
                     _frames(tcs), strict=True)) * (1 if keep else t)
    for (frame,), ((a, i_f, i, f, g, o), (c_new,), (tc,)), (out,) in zip(
            _frames(pre), store, _frames(hs), strict=True):
        torch.baddbmm(bias, h, recurrent, out=a).add_(frame)
        i_f.sigmoid_()
        o.sigmoid_()
        g.tanh_()
        c = torch.mul(f, c, out=c_new).addcmul_(i, g)
        h = torch.mul(o, torch.tanh(c, out=tc), out=out)
    return hs, (act, cs, tcs) if keep else ()


def _lstm_backward(grad: Tensor, recurrent: Tensor, hs: Tensor, h_prev: Tensor,
                   saved: Sequence[Tensor], clip: float) -> tuple[Tensor, Tensor | None]:
    """Back through time, frame by frame on cache-sized tensors:

    dc = tanh'(tanh c) o dh + f_{t+1} dc_{t+1}; gates d a = s'(.) of (g dc, c_prev dc, ., tanh(c)
    dh) for (i, f, ., o) and tanh'(g) i dc for g; dh_{t-1} = g_{t-1} + d a U^T.
    """
    act, cs, tcs = saved
    d, t, b, size = hs.shape
    da, dh = torch.empty_like(act), _gradient_state(grad)
    ut = recurrent.transpose(1, 2).contiguous()  # a contiguous U^T multiplies faster
    dtc, dc, dc_next = (torch.zeros_like(hs[:, 0]) for _ in range(3))
    quarters = [(k * size, (k + 1) * size) for k in range(4)]
    x = torch.empty_like(act[:, 0])  # what s'() and tanh'() multiply, gate by gate
    xi, xf, xg, xo = (x[..., a:b] for a, b in quarters)
    c_before = [(torch.zeros_like(hs[:, 0]),)] + _frames(cs)[:-1]
    per = list(zip(_frames(grad), _frames(act, (0, 4 * size), *quarters), _frames(tcs),
                   c_before, _frames(da, (0, 4 * size), quarters[2]), strict=True))
    for i in range(t - 1, -1, -1):
        _, (a, ig, fg, gg, og), (tc,), (cp,), (d_all, d_g) = per[i]
        dh_i = dh[i % 2]
        torch.mul(dh_i, og, out=dtc)
        _tanh_grad(dtc, tc, grad_input=dc).add_(dc_next)
        torch.mul(dc, gg, out=xi)
        torch.mul(dc, cp, out=xf)
        torch.mul(dc, ig, out=xg)
        torch.mul(dh_i, tc, out=xo)
        _sigmoid_grad(x, a, grad_input=d_all)
        _tanh_grad(xg, gg, grad_input=d_g)
        torch.mul(dc, fg, out=dc_next)
        if i:
            torch.baddbmm(per[i - 1][0][0], d_all, ut, out=dh[(i - 1) % 2])
    return da, None


_FORWARD = {"rnn": _rnn_forward, "gru": _gru_forward, "lstm": _lstm_forward}
_BACKWARD = {"rnn": _rnn_backward, "gru": _gru_backward, "lstm": _lstm_backward}
