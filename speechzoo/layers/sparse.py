"""Sparse inference for magnitude-pruned networks (Narang et al., arXiv 1704.05119, section 5;
block sparsity: Narang et al., arXiv 1711.02782).

Pruning (``speechzoo.tasks.pruning``) leaves its zeros in ordinary parameters, so a pruned
bundle loads like any other, dense. :func:`sparsify` then makes each large matrix with enough
zeros run through torch's sparse kernels (MKL's, on the CPU) at inference:

* ``nn.Linear`` (DS2's input-to-hidden W and output layer): ``b + x W^T`` with W sparse;
* the recurrent U of a layer with a ``recurrent`` (D, H, G) parameter, a (D, 1, G) ``bias``
  and a ``_recurrent_product(h)`` method (``speechzoo.models.deepspeech2._RecurrentLayer``):
  U h + b of all D directions per frame as one product with the block-diagonal
  diag(U_1^T, ..., U_D^T), (D G, D H), inside the layer's own loop over its cell maths (its
  fused kernels multiply by the dense U, so a sparse layer does not take them).

Convolutions stay dense. Sparse matrices hold int32 indices: MKL's LP64 kernels take them as
they are, while torch converts its default int64 ones on every call (a 90%-sparse (1536, 512)
mat-vec: 61 us with int64 indices, 43 us with int32). A batch of one goes through a mat-vec
(``addmv``), 2-3x faster than MKL's matrix product with one column. Layouts:

* ``"csr"``: any zeros. Zeros pruned in whole blocks (``magnitude_mask(..., block=(16, 16))``)
  run faster than scattered ones through it too: x is read in runs.
* ``"bsr"``: zeros in whole 32x32 or 16x16 blocks, the block size detected (torch's CPU
  kernels for 8x8 or smaller blocks ran ~50x slower than dense: not used). On the same
  block-pruned matrices torch 2.14's CPU BSR kernels were slower than its CSR ones: 1.0-1.7x
  for a mat-vec, 2.5-6x for a product with 4 or more columns (Xeon, MKL 2024.2).
* ``"auto"``: the fastest measured, so csr.

``benchmarks/sparsity.py`` measures the speed-ups. The dense parameters stay, so the state
dict is unchanged (a sparsified model still exports); the sparse copies are non-persistent
buffers (they move with ``.to()``) taken when :func:`sparsify` runs, so run it on final
weights (again after changing them). Sparse layers run inference only: eval mode under
``torch.inference_mode()`` or ``torch.no_grad()``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from speechzoo.errors import ConfigError
from speechzoo.training.sparsity import prunable, sparsity_of

LAYOUTS = ("auto", "csr", "bsr")
_AUTO = "csr"  # what "auto" runs (module docstring)
BLOCKS = ((32, 32), (16, 16))  # bsr block sizes tried, largest first (module docstring)
_BLOCK_SHARE = 0.99  # zeros that whole zero blocks must hold for a matrix to count as blocked


def block_size(matrix: Tensor, blocks: Sequence[tuple[int, int]] = BLOCKS
               ) -> tuple[int, int] | None:
    """The first of ``blocks`` that tiles ``matrix`` (R, C) and whose all-zero blocks hold
    (nearly) all its zeros, so that BSR stores few zeros; None if none does."""
    rows, cols = matrix.shape
    zeros = matrix.numel() - int(matrix.count_nonzero())
    for br, bc in blocks:
        if zeros == 0 or rows % br or cols % bc:
            continue
        kept = (matrix != 0).view(rows // br, br, cols // bc, bc).any(dim=3).any(dim=1)
        if (kept.numel() - int(kept.count_nonzero())) * br * bc >= _BLOCK_SHARE * zeros:
            return br, bc
    return None


class SparseMatrix(nn.Module):
    """A fixed (R, C) matrix in CSR or BSR (``block``: (rows, cols)) with int32 indices.

    Its parts are non-persistent buffers: they follow ``.to()`` and copies of the module
    and stay out of the state dict. The sparse tensor made of them is kept until they change
    (its construction costs about as much as a small mat-vec).
    """

    def __init__(self, dense: Tensor, block: tuple[int, int] | None = None) -> None:
        super().__init__()
        dense = dense.detach()
        with warnings.catch_warnings():  # asked for: no note that torch's support is in beta
            warnings.filterwarnings("ignore", "Sparse (CSR|BSR) tensor support is in beta")
            s = dense.to_sparse_bsr(block) if block else dense.to_sparse_csr()
        self.register_buffer("crow", s.crow_indices().int(), persistent=False)
        self.register_buffer("col", s.col_indices().int(), persistent=False)
        self.register_buffer("values", s.values(), persistent=False)
        self.shape, self.block = tuple(dense.shape), block
        self._made: tuple[Tensor, Tensor] | None = None  # (values it was made of, tensor)

    @property
    def layout(self) -> str:
        return "bsr" if self.block else "csr"

    def matrix(self) -> Tensor:
        """The sparse (R, C) tensor."""
        if self._made is None or self._made[0] is not self.values:  # new buffers: .to()
            make = torch.sparse_bsr_tensor if self.block else torch.sparse_csr_tensor
            self._made = self.values, make(self.crow, self.col, self.values, self.shape,
                                           check_invariants=False)
        return self._made[1]

    def __getstate__(self) -> dict:
        # copies and pickles leave the sparse tensor out: it has no storage to copy
        return {**super().__getstate__(), "_made": None}

    # the product's path (``speechzoo.kernels``): "triton" the CSR kernel of
    # ``kernels.sparse_triton`` (CUDA), "cpu" torch's sparse kernels (MKL's), "reference" the
    # dense product of the same matrix; "auto" the first two where they run
    kernel: str = "auto"

    def _path(self) -> str:
        from speechzoo.kernels import kernel_path

        if self.kernel == "reference":
            return "reference"
        if self.kernel == "cpu" or (self.kernel == "auto" and self.values.device.type != "cuda"):
            return "cpu"
        unsupported = "the Triton kernel takes CSR, not BSR" if self.block else None
        path = kernel_path(self.kernel, self.values.device, "sparse products", unsupported)
        return "triton" if path == "triton" else "cpu"  # auto's fallback: torch's kernels

    def mv(self, x: Tensor, bias: Tensor | None = None) -> Tensor:
        """``bias + A x``: x (C,), bias (R,) or None -> (R,)."""
        if self._path() != "cpu":
            return self.linear(x[None], bias)[0]
        return self.matrix() @ x if bias is None else torch.addmv(bias, self.matrix(), x)

    def linear(self, x: Tensor, bias: Tensor | None = None) -> Tensor:
        """``bias + x A^T``: x (N, C), bias (R,) or None -> (N, R)."""
        path = self._path()
        if path == "triton":
            from speechzoo.kernels.sparse_triton import csr_linear

            return csr_linear(self.crow, self.col, self.values, self.shape, x, bias)
        if path == "reference":
            y = x @ self.matrix().to_dense().t()
            return y if bias is None else y + bias
        if x.shape[0] == 1:  # MKL's mat-vec, not its matrix product with one column
            return self.mv(x[0], bias)[None]
        a = self.matrix()
        y = a @ x.t() if bias is None else torch.addmm(bias[:, None], a, x.t())
        return y.t()

    def extra_repr(self) -> str:
        zeros = 1.0 - self.values.numel() / max(1, self.shape[0] * self.shape[1])
        return f"{self.shape}, layout={self.layout}, block={self.block}, stored_zeros={zeros:.2f}"


def _check_inference(module: nn.Module) -> None:
    if module.training or torch.is_grad_enabled():
        raise ConfigError(
            f"{type(module).__name__} multiplies through sparse kernels, for inference only: "
            "call the model in eval mode under torch.inference_mode() or torch.no_grad(). To "
            "train or fine-tune, build a dense model from its state dict (sparsify leaves the "
            "dense weights in place)")


class _SparseLinear:
    """Mixed into an ``nn.Linear``: its product goes through ``sparse_weight``."""

    def forward(self, x: Tensor) -> Tensor:
        _check_inference(self)
        y = self.sparse_weight.linear(x.reshape(-1, x.shape[-1]), self.bias)
        return y.reshape(*x.shape[:-1], y.shape[-1])


class _SparseRecurrence:
    """Mixed into a recurrent layer: U h + b goes through ``sparse_recurrent``."""

    @property
    def fused(self) -> bool:  # the fused kernels multiply by the dense U; the loop asks us
        return False

    def _recurrent_product(self, h: Tensor) -> Tensor:
        """h (D, B, H) -> (D, B, G) through diag(U_1^T, ..., U_D^T) (D G, D H)."""
        _check_inference(self)
        d, b, _ = h.shape
        if b == 1:  # the fewest calls: per-call overhead is much of a small mat-vec's time
            return self.sparse_recurrent.mv(h.reshape(-1), self.bias.view(-1)).view(d, 1, -1)
        y = self.sparse_recurrent.linear(h.transpose(0, 1).reshape(b, -1), self.bias.view(-1))
        return y.reshape(b, d, -1).transpose(0, 1)


_CLASSES: dict[tuple[type, type], type] = {}


def _mix_in(module: nn.Module, mixin: type) -> None:
    """Give ``module`` the ``mixin`` in place, the way ``torch.nn.utils.parametrize`` swaps a
    module's class: one subclass ``Sparse<Class>`` per class, parameters untouched."""
    cls = type(module)
    if not issubclass(cls, mixin):
        if (mixin, cls) not in _CLASSES:
            _CLASSES[mixin, cls] = type(f"Sparse{cls.__name__}", (mixin, cls), {})
        module.__class__ = _CLASSES[mixin, cls]


def _block(name: str, matrix: Tensor, layout: str) -> tuple[int, int] | None:
    """The BSR block for ``layout`` (None: CSR)."""
    if (_AUTO if layout == "auto" else layout) == "csr":
        return None
    block = block_size(matrix)
    if block is None:
        sizes = " or ".join(f"{r}x{c}" for r, c in BLOCKS)
        raise ConfigError(f"layout='bsr': the zeros of {name} do not come in whole {sizes} "
                          "blocks; prune it with magnitude_mask(..., block=(16, 16)), or use "
                          "layout='csr'")
    return block


def _targets(model: nn.Module) -> list[tuple[str, nn.Module, str, type]]:
    """(parameter name, module, attribute, mixin) of each matrix sparsify can take."""
    matrices = prunable(model)
    out = []
    for name, module in model.named_modules():
        prefix = f"{name}." if name else ""
        if isinstance(module, nn.Linear) and f"{prefix}weight" in matrices:
            out.append((f"{prefix}weight", module, "weight", _SparseLinear))
        elif hasattr(module, "_recurrent_product") and f"{prefix}recurrent" in matrices:
            out.append((f"{prefix}recurrent", module, "recurrent", _SparseRecurrence))
    return out


@torch.no_grad()
def sparsify(model: nn.Module, min_sparsity: float = 0.5, layout: str = "auto") -> nn.Module:
    """Run the large matrices of ``model`` with at least ``min_sparsity`` zeros through
    sparse kernels at inference, in place (module docstring).

    Args:
        model: e.g. a pruned :class:`speechzoo.models.deepspeech2.DeepSpeech2`.
        min_sparsity: fraction of zeros from which a matrix goes sparse (its
            ``speechzoo.training.sparsity.prunable`` matrices: Linear weights, recurrent U).
        layout: ``"auto"``, ``"csr"`` or ``"bsr"``.

    Returns ``model``. Raises ConfigError if no matrix is sparse enough.
    """
    if layout not in LAYOUTS:
        raise ConfigError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if not 0.0 <= min_sparsity <= 1.0:
        raise ConfigError(f"min_sparsity must be in [0, 1], got {min_sparsity}")
    targets = _targets(model)
    done, levels = 0, {}
    for name, module, attr, mixin in targets:
        weight = getattr(module, attr)
        levels[name] = sparsity_of(weight)
        if levels[name] < min_sparsity and not isinstance(module, mixin):
            continue
        if mixin is _SparseRecurrence:  # (D, H, G) -> diag(U_d^T), blocks found per direction
            stacked = weight.transpose(1, 2).reshape(-1, weight.shape[1])
            module.sparse_recurrent = SparseMatrix(torch.block_diag(*weight.transpose(1, 2)),
                                                   _block(name, stacked, layout))
        else:
            module.sparse_weight = SparseMatrix(weight, _block(name, weight, layout))
        _mix_in(module, mixin)
        done += 1
    if not done:
        best = max(levels.items(), key=lambda kv: kv[1], default=("none", 0.0))
        raise ConfigError(f"no matrix of {type(model).__name__} has {min_sparsity:.0%} zeros or "
                          f"more to run sparse (the sparsest, {best[0]}, has {best[1]:.1%}); "
                          "prune it first (speechzoo.tasks.pruning) or lower min_sparsity")
    return model
