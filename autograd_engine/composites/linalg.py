"""Linear algebra with torch's names, signatures, return types and errors.

Products (mm, bmm, mv, dot, outer, einsum, tensordot, kron, ...) are compositions of matmul, mul,
permute, reshape, getitem and sum. The add* family (addmm, addmv, addr, baddbmm, addbmm) are primitives
(`ops/blas.py`): torch's one BLAS kernel each, which rounds otherwise than a product then an addition.
inverse, det, slogdet, solve, cholesky, eigh, svd, qr, matrix_exp and lstsq rest on the primitives of
`ops/linalg.py` (the decompositions' factors packed in one output, split here into torch's named tuples);
svdvals, pinv, cond and the nuclear and spectral norms are composed on svd as torch composes them. Each
function first runs torch's own function on shape-only ("meta") copies of its inputs, so a bad argument
raises exactly what torch raises.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch

from .. import ops
from ..dispatch import implements
from ..grad_mode import is_grad_enabled
from ..ops import cholesky as _cholesky
from ..ops import det, inverse, logabsdet, matmul, normalize_dim, normalize_dims, transpose
from ..ops.core import outer as vector_outer
from ..ops.linalg import pinv as _pinv
from ..variable import Variable, unwrap
from .elementwise import abs as _abs

__all__ = [
    "addbmm",
    "addmm",
    "addmv",
    "addr",
    "bmm",
    "chain_matmul",
    "cond",
    "cholesky",
    "cholesky_inverse",
    "cholesky_solve",
    "cross",
    "det",
    "dot",
    "eigh",
    "eigvalsh",
    "Eigh",
    "einsum",
    "inner",
    "inverse",
    "kron",
    "linalg_cross",
    "linalg_diagonal",
    "linalg_norm",
    "logdet",
    "lstsq",
    "Lstsq",
    "matmul",
    "matrix_norm",
    "matrix_power",
    "matrix_rank",
    "mm",
    "multi_dot",
    "mv",
    "outer",
    "pinv",
    "pinverse",
    "qr",
    "QR",
    "SignLogAbsDet",
    "slogdet",
    "solve",
    "solve_triangular",
    "svd",
    "Svd",
    "SvdV",
    "svdvals",
    "tensordot",
    "trace",
    "vdot",
    "vecdot",
]

implements(torch.Tensor.__matmul__)(matmul)


@implements(torch.matmul, torch.Tensor.matmul, torch.linalg.matmul)
def _matmul(input: Any, other: Any) -> Any:  # noqa: A002 (torch's names, also as keywords)
    """torch.matmul(input, other): the product of matrices, batches of them, and vectors (see ops.matmul)."""
    return matmul(input, other)


implements(torch.linalg.inv, torch.inverse, torch.Tensor.inverse)(inverse)
implements(torch.linalg.det, torch.det, torch.Tensor.det)(det)


def _like(x: Any, meta: bool = False) -> Any:
    """A tensor's shape and dtype without its values (numbers and the rest as they are): on the meta
    device, or else as zeros on its own device (one zero, expanded)."""
    if isinstance(x, (Variable, torch.Tensor)):
        if meta:
            return torch.empty(x.shape, dtype=x.dtype, device="meta")
        return torch.zeros((), dtype=x.dtype, device=x.device).expand(x.shape)
    if isinstance(x, (list, tuple)):
        return type(x)(_like(y, meta) for y in x)
    return x


def meta_check(torch_fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run `torch_fn` on shapes only: torch's own error for bad arguments, else the result's shape. (An error
    is raised again from zeros on the inputs' devices, in the words of the kernel users meet.)"""
    try:
        return torch_fn(*(_like(a, True) for a in args), **{k: _like(v, True) for k, v in kwargs.items()})
    except Exception as meta_error:  # (whatever torch raises, the user gets)
        try:
            torch_fn(*(_like(a) for a in args), **{k: _like(v) for k, v in kwargs.items()})
        except Exception as error:
            raise error from None
        raise meta_error from None


# --- products ---------------------------------------------------------------------------------------
def _rule(torch_fn: Any, names: str, compute: Callable[..., Any], doc: str, *aliases: Any) -> Callable[..., Any]:
    """The rule for torch_fn and its torch.Tensor method (and `aliases`): torch checks the call on shapes
    (its errors, for a missing or unknown argument too), then `compute` takes the operands `names`, passed
    by position or by name, and the keyword options."""
    params = names.split()

    def rule(*args: Any, **kwargs: Any) -> Any:
        meta_check(torch_fn, *args, **kwargs)
        return compute(*args, *(kwargs.pop(n) for n in params[len(args) :]), **kwargs)

    rule.__name__ = rule.__qualname__ = torch_fn.__name__
    rule.__doc__ = f"torch.{torch_fn.__name__}({', '.join(params)}): {doc}"
    return implements(torch_fn, getattr(torch.Tensor, torch_fn.__name__), *aliases)(rule)


mm = _rule(torch.mm, "input mat2", matmul, "the matrix product of two matrices.")
bmm = _rule(torch.bmm, "input mat2", matmul, "the batched matrix product of (b, n, m) and (b, m, p).")
mv = _rule(torch.mv, "input vec", matmul, "matrix times vector.")
dot = _rule(torch.dot, "input tensor", matmul, "the inner product of two vectors of one size.")
vdot = _rule(torch.vdot, "input other", matmul, "the inner product of two vectors (real: as dot).")
outer = _rule(torch.outer, "input vec2", vector_outer, "input[i] * vec2[j].", torch.ger, torch.Tensor.ger)
addmm = _rule(torch.addmm, "input mat1 mat2", ops.addmm, "beta * input + alpha * (mat1 @ mat2), one gemm.")
addmv = _rule(torch.addmv, "input mat vec", ops.addmv, "beta * input + alpha * (mat @ vec), one gemv.")
addr = _rule(torch.addr, "input vec1 vec2", ops.addr, "beta * input + alpha * outer(vec1, vec2), one kernel.")
baddbmm = _rule(torch.baddbmm, "input batch1 batch2", ops.baddbmm, "beta * input + alpha * bmm(batch1, batch2).")
addbmm = _rule(torch.addbmm, "input batch1 batch2", ops.addbmm, "beta * input + alpha * sum_b batch1[b] @ batch2[b].")


@implements(torch.inner, torch.Tensor.inner)
def inner(input: Any, other: Any) -> Any:  # noqa: A002
    """Sum over the last dims of both: shape input.shape[:-1] + other.shape[:-1] (a product with a 0-d tensor)."""
    meta_check(torch.inner, input, other)
    if input.ndim == 0 or other.ndim == 0:
        return ops.mul(input, other)
    return tensordot(input, other, ([-1], [-1]))


@implements(torch.linalg.vecdot)
def vecdot(x: Any, y: Any, *, dim: int = -1) -> Any:
    """Sum of x * y over `dim`, broadcasting (real tensors)."""
    meta_check(torch.linalg.vecdot, x, y, dim=dim)
    return ops.sum(ops.mul(x, y), dim=dim)


@implements(torch.linalg.multi_dot)
def multi_dot(tensors: Sequence[Any]) -> Any:
    """A chain of matrix products; the first and last may be vectors (as torch.linalg.multi_dot)."""
    meta_check(torch.linalg.multi_dot, list(tensors))
    out = tensors[0]
    for x in tensors[1:]:
        out = matmul(out, x)
    return out


@implements(torch.chain_matmul)
def chain_matmul(*matrices: Any) -> Any:
    """The product of a chain of matrices (torch.chain_matmul, deprecated there for multi_dot)."""
    if len(matrices) == 1 and isinstance(matrices[0], (list, tuple)):
        matrices = tuple(matrices[0])
    return matrices[0] if len(matrices) == 1 else multi_dot(matrices)


@implements(torch.linalg.matrix_power, torch.matrix_power, torch.Tensor.matrix_power)
def matrix_power(input: Any, n: int) -> Any:  # noqa: A002
    """input to the integer power n by repeated squaring; n < 0 powers the inverse, n == 0 is the identity."""
    meta_check(torch.linalg.matrix_power, input, n)
    size = input.shape[-1]
    if n == 0:
        raw = unwrap(input)
        eye = torch.eye(size, dtype=raw.dtype, device=raw.device).expand(raw.shape)
        return ops.where(torch.ones(raw.shape, dtype=torch.bool, device=raw.device), eye, input)
    base, k, out = inverse(input) if n < 0 else input, abs(n), None
    while True:
        if k & 1:
            out = base if out is None else matmul(out, base)
        k >>= 1
        if not k:
            return out
        base = matmul(base, base)


# --- einsum and tensordot ------------------------------------------------------------------------------
# Both are torch's algorithms (aten Linear.cpp) step by step, in engine ops: the products are the ones torch
# runs (einsum: one bmm per pair of operands; tensordot: one mm) on operands laid out as torch lays them out,
# and the sums over one operand's labels happen where torch sums them, so values and gradients are torch's bits.
Label = str | int  # a subscript letter, or an int for a dim of the ellipsis


@implements(torch.einsum)
def einsum(*args: Any) -> Any:
    """torch.einsum: any subscripts, ellipsis (broadcasting), repeated indices (diagonals), implicit
    output, operands as separate arguments or one list, or the sublist form. As torch: every operand is
    aligned to one order of labels (the output's, then the summed ones), then operands are contracted left
    to right, each pair by one bmm (a product where nothing is summed)."""
    if args and not isinstance(args[0], str):  # the sublist form: op, [0, 1], op, [1, 2], [0, 2]
        letters = [[_sublist_letter(n) for n in sub] for sub in args[1::2]]
        equation = ",".join("".join(s) for s in letters)
        if len(args) % 2:
            equation += "->" + "".join(_sublist_letter(n) for n in args[-1])
        args = (equation, *args[:-1:2]) if len(args) % 2 else (equation, *args[::2])
    equation, operands = args[0], list(args[1:])
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = list(operands[0])
    meta_check(torch.einsum, equation, *operands)
    terms, output = _parse_einsum(equation.replace(" ", ""), [x.ndim for x in operands])
    ellipsis = sorted({label for t in terms for label in t if isinstance(label, int)})
    summed = sorted({label for t in terms for label in t if isinstance(label, str) and label not in output})
    order: list[Label] = [*output, *(e for e in ellipsis if e not in output), *summed]
    aligned = [_align(x, labels, order) for x, labels in zip(operands, terms)]
    counts = [sum(x.shape[d] != 1 for x in aligned) for d in range(len(order))]
    result = aligned[0]
    for b in aligned[1:]:  # left to right (torch without a path: the product goes first)
        a, sum_dims, a_sums, b_sums = result, [], [], []
        for d in range(len(output), len(order)):
            if a.shape[d] != 1 and b.shape[d] != 1:
                counts[d] -= 1
                if counts[d] == 1:
                    sum_dims.append(d)
                    counts[d] = 0
            elif counts[d] == 1:
                if a.shape[d] != 1:
                    a_sums.append(d)
                    counts[d] = 0
                elif b.shape[d] != 1:
                    b_sums.append(d)
                    counts[d] = 0
        a = ops.sum(a, dim=tuple(a_sums), keepdim=True) if a_sums else a
        b = ops.sum(b, dim=tuple(b_sums), keepdim=True) if b_sums else b
        result = _sumproduct_pair(a, b, sum_dims)
    contracted = tuple(range(len(output), len(order)))
    if not contracted:
        return result
    if len(aligned) > 1:  # every contracted dim has size 1 by now
        return ops.reshape(result, shape=tuple(result.shape[: len(output)]))
    return ops.sum(result, dim=contracted)


def _sublist_letter(n: Any) -> str:
    """A sublist subscript as an equation letter, as torch.einsum converts it."""
    if n is Ellipsis:
        return "..."
    if not 0 <= n < 52:
        raise ValueError("einsum(): subscript in subscript list is not within the valid range [0, 52)")
    return chr(ord("A") + n) if n < 26 else chr(ord("a") + n - 26)


def _parse_einsum(equation: str, ndims: list[int]) -> tuple[list[list[Label]], list[Label]]:
    """Each operand's labels and the output's (torch has validated the equation): the ellipsis's dims
    become ints 0..E-1, aligned from the right across operands. The implicit output is torch's: the
    ellipsis, then the labels seen once in torch's order of labels (A-Z, then a-z)."""
    lhs, arrow, rhs = equation.partition("->")
    raw_terms = lhs.split(",")
    n_ellipsis = (
        max(n - len(t.replace("...", "")) for t, n in zip(raw_terms, ndims) if "..." in t) if "..." in lhs else 0
    )

    def labels(term: str, ndim: int) -> list[Label]:
        before, dots, after = term.partition("...")
        middle = list(range(n_ellipsis - (ndim - len(before) - len(after)), n_ellipsis)) if dots else []
        return [*before, *middle, *after]

    terms = [labels(t, n) for t, n in zip(raw_terms, ndims)]
    if arrow:
        return terms, labels(rhs, len(rhs.replace("...", "")) + n_ellipsis)
    letters = [label for t in terms for label in t if isinstance(label, str)]
    return terms, [*range(n_ellipsis), *sorted(c for c in set(letters) if letters.count(c) == 1)]


def _align(x: Any, labels: list[Label], order: list[Label]) -> Any:
    """x with a dim per label of `order` (size 1 for the labels it lacks), as torch aligns an operand: the
    diagonal of a repeated label (a view) in place of its first dim, missing dims unsqueezed at the end,
    then one permute."""
    labels = list(labels)
    for d in range(len(labels) - 1, 0, -1):  # (each repeat, found from the right, folds into its first dim)
        first = labels.index(labels[d])
        if first < d:
            x = ops.diagonal(x, dim1=first, dim2=d)  # (the diagonal becomes the last dim: moved back to `first`)
            del labels[d]
            moved = [*range(first), x.ndim - 1, *range(first, x.ndim - 1)]
            x = _arrange(x, moved)
    missing = [label for label in order if label not in labels]
    if missing:
        x = ops.getitem(x, index=(Ellipsis, *(None,) * len(missing)))
    where = {label: i for i, label in enumerate([*labels, *missing])}
    return _arrange(x, [where[label] for label in order])


def _sumproduct_pair(left: Any, right: Any, sum_dims: list[int]) -> Any:
    """torch's sumproduct_pair (keepdim): left * right summed over `sum_dims` (dims both have), through one bmm
    of (kept in both, left's own, summed) by (kept in both, summed, right's own)."""
    if not sum_dims:
        return ops.mul(left, right)
    both: list[int] = []
    own_left: list[int] = []
    own_right: list[int] = []
    sum_size = 1
    for d in range(left.ndim):
        in_left, in_right = left.shape[d] != 1, right.shape[d] != 1
        if d in sum_dims:
            if in_left and in_right:
                sum_size *= left.shape[d]
            elif in_left:
                left = ops.sum(left, dim=(d,), keepdim=True)
            elif in_right:
                right = ops.sum(right, dim=(d,), keepdim=True)
        elif in_left and in_right:
            both.append(d)
        elif in_left:
            own_left.append(d)
        else:
            own_right.append(d)
    size = lambda x, dims: math.prod(x.shape[d] for d in dims)  # noqa: E731
    lhs = _arrange(left, both + own_left + sum_dims + own_right, (size(left, both), size(left, own_left), sum_size))
    rhs = _arrange(right, both + sum_dims + own_right + own_left, (size(left, both), sum_size, size(right, own_right)))
    out_shape = (
        *(left.shape[d] for d in both + own_left),
        *(1 for _ in sum_dims),
        *(right.shape[d] for d in own_right),
    )
    laid_out = both + own_left + sum_dims + own_right
    back = [laid_out.index(d) for d in range(left.ndim)]
    return _arrange(ops.reshape(matmul(lhs, rhs), shape=out_shape), back)


def _arrange(x: Any, order: Sequence[int], shape: Sequence[int] | None = None) -> Any:
    """permute(x, order), then reshape to `shape`: each only where it changes something."""
    if tuple(order) != tuple(range(len(order))):
        x = ops.permute(x, dims=tuple(order))
    if shape is not None and tuple(shape) != tuple(x.shape):
        x = ops.reshape(x, shape=tuple(shape))
    return x


@implements(torch.tensordot)
def tensordot(a: Any, b: Any, dims: Any = 2) -> Any:
    """Sum over the last `dims` dims of a and the first of b, or over the dims paired in `dims` (two lists
    or ints); the result has a's other dims, then b's. As torch: a's other dims then its summed ones (in the
    order given) as rows, b's summed then other dims as columns, one mm."""
    if isinstance(dims, (torch.Tensor, Variable)):
        dims = unwrap(dims).tolist()
    meta_check(torch.tensordot, a, b, dims=dims)
    if isinstance(dims, int):
        da, db = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        da, db = ([d] if isinstance(d, int) else list(d) for d in dims)
    da, db = [normalize_dim(d, a.ndim) for d in da], [normalize_dim(d, b.ndim) for d in db]
    inner = 1
    for i, j in zip(da, db):
        if b.shape[j] == 1:  # broadcast dims are summed right away
            a = ops.sum(a, dim=(i,), keepdim=True)
        elif a.shape[i] == 1:
            b = ops.sum(b, dim=(j,), keepdim=True)
        else:
            inner *= a.shape[i]
    rest_a, rest_b = [i for i in range(a.ndim) if i not in da], [j for j in range(b.ndim) if j not in db]
    rows = _arrange(a, rest_a + da, (math.prod(a.shape[i] for i in rest_a), inner))
    cols = _arrange(b, db + rest_b, (inner, math.prod(b.shape[j] for j in rest_b)))
    shape = (*(a.shape[i] for i in rest_a), *(b.shape[j] for j in rest_b))
    return ops.reshape(matmul(rows, cols), shape=shape)


@implements(torch.linalg.diagonal)
def linalg_diagonal(A: Any, *, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Any:  # noqa: N803 (torch's name)
    """torch.linalg.diagonal: torch.diagonal with the last two dims as default (the shape family's rule)."""
    return torch.diagonal(A, offset, dim1, dim2)


@implements(torch.trace, torch.Tensor.trace)
def trace(input: Any) -> Any:  # noqa: A002
    """Sum of the main diagonal of a matrix."""
    meta_check(torch.trace, input)
    diagonal = torch.arange(min(input.shape), device=input.device)
    return ops.sum(ops.getitem(input, index=(diagonal, diagonal)))


@implements(torch.kron, torch.Tensor.kron)
def kron(input: Any, other: Any) -> Any:  # noqa: A002
    """Kronecker product: blocks input[i, j] * other (the shorter shape padded with leading 1s)."""
    meta_check(torch.kron, input, other)
    nd = max(input.ndim, other.ndim)
    sa = (1,) * (nd - input.ndim) + tuple(input.shape)
    sb = (1,) * (nd - other.ndim) + tuple(other.shape)
    a = ops.reshape(input, shape=tuple(n for m in sa for n in (m, 1)))
    b = ops.reshape(other, shape=tuple(n for m in sb for n in (1, m)))
    return ops.reshape(ops.mul(a, b), shape=tuple(m * n for m, n in zip(sa, sb)))


@implements(torch.cross, torch.Tensor.cross)
def cross(input: Any, other: Any, dim: int | None = None) -> Any:  # noqa: A002
    """Cross product of 3-vectors along `dim`, by default the first dim of size 3 (as torch.cross)."""
    out = meta_check(torch.cross, input, other, dim=dim)
    if dim is None:
        dim = next(i for i, n in enumerate(out.shape) if n == 3)
    return linalg_cross(input, other, dim=dim)


@implements(torch.linalg.cross)
def linalg_cross(input: Any, other: Any, *, dim: int = -1) -> Any:  # noqa: A002
    """Cross product of 3-vectors along `dim`, broadcasting: (a1 b2 - a2 b1, a2 b0 - a0 b2, a0 b1 - a1 b0)."""
    out = meta_check(torch.linalg.cross, input, other, dim=dim)
    d = normalize_dim(dim, out.ndim)
    a = input if tuple(input.shape) == tuple(out.shape) else ops.expand(input, shape=tuple(out.shape))
    b = other if tuple(other.shape) == tuple(out.shape) else ops.expand(other, shape=tuple(out.shape))

    def part(x: Any, i: int) -> Any:
        return ops.getitem(x, index=(slice(None),) * d + (slice(i, i + 1),))

    pairs = ((1, 2), (2, 0), (0, 1))
    return ops.cat(
        *(ops.sub(ops.mul(part(a, i), part(b, j)), ops.mul(part(a, j), part(b, i))) for i, j in pairs), dim=d
    )


# --- matrix functions --------------------------------------------------------------------------------
class SignLogAbsDet(NamedTuple):
    """What slogdet returns, as torch.return_types.slogdet: the sign of the determinant (a constant)
    and log |det| (differentiable)."""

    sign: Any
    logabsdet: Any


@implements(torch.linalg.slogdet, torch.slogdet, torch.Tensor.slogdet)
def slogdet(A: Any) -> SignLogAbsDet:  # noqa: N803 (torch's name)
    """(sign, log |det A|) of each square matrix of a batch."""
    sign = torch.linalg.slogdet(unwrap(A)).sign
    if isinstance(A, Variable) and A.requires_grad:  # as in torch, sign requires grad (its gradient is zero)
        corner = ops.getitem(A, index=(..., 0, 0))
        return SignLogAbsDet(ops.where(torch.ones_like(sign, dtype=torch.bool), sign, corner), logabsdet(A))
    return SignLogAbsDet(Variable(sign) if isinstance(A, Variable) else sign, logabsdet(A))


class Eigh(NamedTuple):
    """What eigh returns, as torch.return_types.linalg_eigh: ascending eigenvalues and the eigenvectors
    (columns), both differentiable."""

    eigenvalues: Any
    eigenvectors: Any


@implements(torch.linalg.eigh)
def eigh(A: Any, UPLO: str = "L") -> Eigh:  # noqa: N803 (torch's names)
    """Eigenvalues and eigenvectors of symmetric matrices (only the `UPLO` triangle is read, as in torch)."""
    packed = ops.eigh(A, UPLO=UPLO)
    return Eigh(
        ops.getitem(packed, index=(..., 0, slice(None))), ops.getitem(packed, index=(..., slice(1, None), slice(None)))
    )


@implements(torch.linalg.eigvalsh)
def eigvalsh(A: Any, UPLO: str = "L") -> Any:  # noqa: N803 (torch's names)
    """The ascending eigenvalues of symmetric matrices."""
    return eigh(A, UPLO).eigenvalues


@implements(torch.logdet, torch.Tensor.logdet)
def logdet(input: Any) -> Any:  # noqa: A002
    """log det of each square matrix of a batch: NaN where the determinant is negative, as in torch."""
    sign, log_abs = slogdet(input)
    return ops.add(log_abs, torch.log(unwrap(sign)))


# --- decompositions: svd, qr, matrix_exp, lstsq (one packed primitive each, split here) -------------
class Svd(NamedTuple):
    """What torch.linalg.svd returns (torch.return_types.linalg_svd): U, the descending singular values S
    and Vh, all differentiable."""

    U: Any
    S: Any
    Vh: Any


class SvdV(NamedTuple):
    """What torch.svd returns (torch.return_types.svd): U, S and V = Vh^T (not Vh)."""

    U: Any
    S: Any
    V: Any


class QR(NamedTuple):
    """What torch.linalg.qr and torch.qr return (torch.return_types.linalg_qr): Q and the upper-triangular R."""

    Q: Any
    R: Any


class Lstsq(NamedTuple):
    """What torch.linalg.lstsq returns (torch.return_types.linalg_lstsq): the solution (differentiable), and
    residuals, rank and singular_values as torch's driver gives them (constants, empty where it computes none)."""

    solution: Any
    residuals: Any
    rank: Any
    singular_values: Any


def _records(x: Any) -> bool:
    """Whether an op on x records a gradient (torch computes some results only then, as svdvals U and V)."""
    return isinstance(x, Variable) and x.requires_grad and is_grad_enabled()


def _constant(value: torch.Tensor, like: Any) -> Any:
    """A result torch gives no gradient: a Variable beside Variables, else the tensor."""
    return Variable(value) if isinstance(like, Variable) else value


@implements(torch.linalg.svd)
def svd(A: Any, full_matrices: bool = True, *, driver: str | None = None) -> Svd:  # noqa: N803 (torch's name)
    """U, S, Vh with A = U diag(S) Vh: U (m, k) and Vh (k, n), k = min(m, n), or square with `full_matrices`
    (whose extra columns get no gradient, as in torch). Gradients assume distinct singular values, and
    losses that do not depend on the signs of singular vectors (as torch's)."""
    meta_check(torch.linalg.svd, A, full_matrices, driver=driver)
    m, n = A.shape[-2:]
    u, s, v = ops.linalg.svd_factors(ops.svd(A, full_matrices=full_matrices, driver=driver), m, n)
    return Svd(u, ops.getitem(s, index=(..., 0, slice(None))), transpose(v))


@implements(torch.svd, torch.Tensor.svd)
def svd_v(input: Any, some: bool = True, compute_uv: bool = True) -> SvdV:  # noqa: A002
    """torch.svd: U, S, V (V, not Vh), reduced when `some`; without `compute_uv`, S alone, U and V zeros of
    the full sizes (constants), as torch."""
    meta_check(torch.svd, input, some, compute_uv)
    if compute_uv:
        u, s, vh = svd(input, full_matrices=not some)
        return SvdV(u, s, transpose(vh))
    m, n = input.shape[-2:]
    batch, raw = tuple(input.shape[:-2]), unwrap(input)
    u = torch.zeros(batch + (m, m), dtype=raw.dtype, device=raw.device)
    v = torch.zeros(batch + (n, n), dtype=raw.dtype, device=raw.device)
    return SvdV(_constant(u, input), svdvals(input), _constant(v, input))


@implements(torch.linalg.svdvals)
def svdvals(A: Any, *, driver: str | None = None) -> Any:  # noqa: N803 (torch's name)
    """The descending singular values. As torch, where a gradient will be needed they come from the full
    svd (whose U and V the gradient reads; other bits than svdvals' own kernel), else from svdvals."""
    if _records(A):
        return svd(A, full_matrices=False, driver=driver).S
    return _constant(torch.linalg.svdvals(unwrap(A), driver=driver), A)


@implements(torch.linalg.qr)
def qr(A: Any, mode: str = "reduced") -> QR:  # noqa: N803 (torch's name)
    """Q with orthonormal columns and upper-triangular R, A = QR: mode 'reduced' (Q (m, k)), 'complete'
    (Q (m, m)) or 'r' (R only; Q empty). Differentiable as torch's: not for mode='r', nor 'complete' with
    m > n (torch's errors, raised by backward)."""
    meta_check(torch.linalg.qr, A, mode)
    m, n = A.shape[-2:]
    packed = ops.qr(A, mode=mode)
    if mode == "r":  # (Q: empty, but recorded as torch records it: differentiating it raises torch's error)
        return QR(ops.reshape(ops.getitem(packed, index=(..., slice(0, 0), slice(0, 0))), shape=(0,)), packed)
    return QR(*ops.linalg.qr_factors(packed, m, n, mode))


@implements(torch.qr, torch.Tensor.qr)
def qr_some(input: Any, some: bool = True) -> QR:  # noqa: A002
    """torch.qr (deprecated there for torch.linalg.qr): mode 'reduced' when `some`, else 'complete'."""
    return qr(input, "reduced" if some else "complete")


implements(torch.linalg.matrix_exp, torch.matrix_exp, torch.Tensor.matrix_exp)(ops.matrix_exp)


@implements(torch.linalg.lstsq)
def lstsq(A: Any, B: Any, rcond: float | None = None, *, driver: str | None = None) -> Lstsq:  # noqa: N803
    """The least-squares solution X of A X = B (B a matrix or, as torch decides, a vector), batches
    broadcasting, and what torch's driver computes beside it (gelsy, CPU's default: the rank only; empty
    tensors for the rest). The solution's gradient is torch's, through pinv(A) (for full-rank A); the
    residuals' (where computed) is 2 (A X - B) X^T; rank and singular_values are constants."""
    raw_a, raw_b = unwrap(A), unwrap(B)
    out = torch.linalg.lstsq(raw_a, raw_b, rcond, driver=driver)  # (torch's errors; lstsq has no meta kernel)
    vector = B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1]))
    b = ops.reshape(B, shape=(*B.shape, 1)) if vector else B
    solution = ops.lstsq(A, b, rcond=rcond, driver=driver)
    if vector:
        solution = ops.reshape(solution, shape=tuple(solution.shape[:-1]))
    like = B if isinstance(B, Variable) else A
    if out.residuals.numel():
        residuals = ops.lstsq_residuals(A, B, rcond=rcond, driver=driver)
    else:  # (empty, but recorded where the solution is, as torch records it)
        residuals = ops.reshape(ops.getitem(solution, index=(..., slice(0, 0))), shape=tuple(out.residuals.shape))
    return Lstsq(solution, residuals, _constant(out.rank, like), _constant(out.singular_values, like))


@implements(torch.linalg.matrix_rank)
def matrix_rank(A: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N803 (torch's name)
    """The numerical rank (an integer tensor, no gradient), with torch's every signature (atol, rtol, tol,
    hermitian)."""
    return _constant(torch.linalg.matrix_rank(unwrap(A), *args, **{k: unwrap(v) for k, v in kwargs.items()}), A)


@implements(torch.linalg.cond)
def cond(A: Any, p: Any = None) -> Any:  # noqa: N803 (torch's name)
    """The condition number: s_max / s_min from svdvals for p None or 2 (s_min / s_max for -2), sum(s) sum(1/s)
    for 'nuc', else norm(A, p) * norm(A^-1, p) (inf for a singular matrix), as torch computes it."""
    meta_check(torch.linalg.cond, A, p)
    if p is None or p in (2, -2):
        values = svdvals(A)
        largest = ops.getitem(values, index=(..., 0))
        smallest = ops.getitem(values, index=(..., -1))
        return ops.div(smallest, largest) if p == -2 else ops.div(largest, smallest)
    if p == "nuc":  # (torch: from the singular values, sum(s) * sum(1 / s))
        values = svdvals(A)
        return ops.mul(ops.sum(values, dim=-1), ops.sum(ops.reciprocal(values), dim=-1))
    raw = unwrap(A)
    singular = torch.linalg.inv_ex(raw).info > 0
    if not bool(singular.any()):
        return ops.mul(matrix_norm(A, p), matrix_norm(inverse(A), p))
    eye = torch.eye(raw.shape[-1], dtype=raw.dtype, device=raw.device)
    invertible = ops.where(singular[..., None, None], eye, A)  # (the singular ones' result is inf regardless)
    product = ops.mul(matrix_norm(A, p), matrix_norm(inverse(invertible), p))
    return ops.where(singular, torch.tensor(math.inf, dtype=raw.dtype, device=raw.device), product)


@implements(torch.linalg.solve)
def solve(A: Any, B: Any, *, left: bool = True) -> Any:  # noqa: N803 (torch's names)
    """X with A @ X = B (X @ A = B when not `left`); B may be a (batch of) vector(s), as torch decides."""
    meta_check(torch.linalg.solve, A, B, left=left)
    if B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1])):
        x = ops.solve(A if left else transpose(A), ops.reshape(B, shape=(*B.shape, 1)))
        return ops.reshape(x, shape=tuple(x.shape[:-1]))
    return ops.solve(A, B, left=left)


@implements(torch.linalg.solve_triangular)
def solve_triangular(A: Any, B: Any, *, upper: bool, left: bool = True, unitriangular: bool = False) -> Any:  # noqa: N803
    """solve with only A's upper (or lower) triangle read, its diagonal taken as ones when `unitriangular`."""
    meta_check(torch.linalg.solve_triangular, A, B, upper=upper, left=left, unitriangular=unitriangular)
    return ops.solve_triangular(A, B, upper=upper, left=left, unitriangular=unitriangular)


@implements(torch.linalg.pinv)
def pinv(A: Any, *, atol: Any = None, rtol: Any = None, hermitian: bool = False) -> Any:  # noqa: N803 (torch's name)
    """The pseudo-inverse of any rank, composed as torch composes it: from svd (from eigh when `hermitian`),
    the singular values at or under max(atol, rtol * largest) cut to zero (see `ops.linalg.pinv`)."""
    meta_check(torch.linalg.pinv, A, atol=atol, rtol=rtol, hermitian=hermitian)
    return _pinv(A, atol=unwrap(atol), rtol=unwrap(rtol), hermitian=hermitian)


@implements(torch.pinverse, torch.Tensor.pinverse)
def pinverse(input: Any, rcond: float = 1e-15) -> Any:  # noqa: A002
    """torch.pinverse: pinv with rtol=rcond."""
    return pinv(input, rtol=rcond)


@implements(torch.linalg.cholesky, torch.cholesky, torch.Tensor.cholesky)
def cholesky(A: Any, upper: bool = False) -> Any:  # noqa: N803 (torch's name)
    """The Cholesky factor of each symmetric positive-definite matrix: lower L with A = L L^T, or upper U = L^T."""
    return _cholesky(A, upper=upper)


@implements(torch.cholesky_solve, torch.Tensor.cholesky_solve)
def cholesky_solve(B: Any, L: Any, upper: bool = False) -> Any:  # noqa: N803 (torch's names)
    """X with (L L^T) X = B, given the Cholesky factor L (U with U^T U when `upper`)."""
    meta_check(torch.cholesky_solve, B, L, upper)
    lower = transpose(L) if upper else L
    return ops.solve(transpose(lower), ops.solve(lower, B))


@implements(torch.cholesky_inverse, torch.Tensor.cholesky_inverse)
def cholesky_inverse(L: Any, upper: bool = False) -> Any:  # noqa: N803 (torch's name)
    """(L L^T)^-1 from the Cholesky factor L ((U^T U)^-1 when `upper`)."""
    meta_check(torch.cholesky_inverse, L, upper)
    return inverse(matmul(transpose(L), L) if upper else matmul(L, transpose(L)))


@implements(torch.linalg.matrix_norm)
def matrix_norm(
    A: Any,  # noqa: N803 (torch's name)
    ord: Any = "fro",  # noqa: A002
    dim: tuple[int, int] = (-2, -1),
    keepdim: bool = False,
    *,
    dtype: torch.dtype | None = None,
) -> Any:
    """Frobenius ('fro'), nuclear ('nuc': the sum of singular values), spectral (2, -2: the largest or smallest
    singular value) or induced 1, -1, inf, -inf norms over the two `dim`s, composed as torch composes them."""
    meta_check(torch.linalg.matrix_norm, A, ord, dim, keepdim, dtype=dtype)
    x = A if dtype is None else ops.to(A, dtype=dtype, device=A.device)
    if ord == "fro":  # (vector_norm: gradient 0 at a zero matrix, as torch's)
        return ops.vector_norm(x, ord=2, dim=tuple(normalize_dims(dim, x.ndim)), keepdim=keepdim)
    if ord in ("nuc", 2, -2):
        return _singular_value_norm(x, ord, tuple(normalize_dims(dim, x.ndim)), keepdim)
    rows, cols = (normalize_dim(d, A.ndim) for d in dim)
    summed, reduced = (cols, rows) if abs(ord) == math.inf else (rows, cols)
    sums = ops.sum(_abs(x), dim=summed, keepdim=True)
    extreme = ops.max(sums, dim=reduced, keepdim=True) if ord > 0 else ops.min(sums, dim=reduced, keepdim=True)
    if keepdim:
        return extreme
    return ops.reshape(extreme, shape=tuple(n for i, n in enumerate(A.shape) if i not in (rows, cols)))


def _singular_value_norm(x: Any, ord: Any, dim: tuple[int, ...], keepdim: bool) -> Any:  # noqa: A002
    """The sum ('nuc'), max (2) or min (-2) of the singular values of the matrices over `dim`: moved last, as
    torch moves them (the other dims in order), and put back as size-1 dims with `keepdim`."""
    order = [d for d in range(x.ndim) if d not in dim] + list(dim)
    values = svdvals(_arrange(x, order))
    reduce = ops.sum if ord == "nuc" else ops.max if ord == 2 else ops.min
    out = reduce(values, dim=-1, keepdim=keepdim)
    if not keepdim:
        return out
    return ops.permute(ops.reshape(out, shape=(*out.shape, 1)), dims=tuple(ops.inverse_permutation(order)))


@implements(torch.linalg.norm)
def linalg_norm(
    A: Any,  # noqa: N803 (torch's name)
    ord: Any = None,  # noqa: A002
    dim: Any = None,
    keepdim: bool = False,
    *,
    dtype: torch.dtype | None = None,
) -> Any:
    """torch.linalg.norm: a matrix norm over two dims (or of a matrix), else a vector norm
    (torch.linalg.vector_norm's rule)."""
    matrix = (dim is None and ord is not None and A.ndim == 2) or (
        not isinstance(dim, int) and dim is not None and len(dim) == 2
    )
    if matrix:
        return matrix_norm(
            A, "fro" if ord is None else ord, (-2, -1) if dim is None else tuple(dim), keepdim, dtype=dtype
        )
    if ord is not None and dim is None and A.ndim != 1:
        meta_check(torch.linalg.norm, A, ord, dim, keepdim, dtype=dtype)  # torch's error for this ord
    return torch.linalg.vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype=dtype)
