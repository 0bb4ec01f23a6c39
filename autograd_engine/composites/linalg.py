"""Linear algebra with torch's names, signatures, return types and errors.

Products (mm, bmm, mv, dot, outer, einsum, tensordot, kron, ...) are compositions of matmul, mul,
permute, reshape, getitem and sum. The add* family (addmm, addmv, addr, baddbmm, addbmm) are primitives
(`ops/blas.py`): torch's one BLAS kernel each, which rounds otherwise than a product then an addition.
inverse, det, slogdet, solve, cholesky and eigh rest on the primitives of `ops/linalg.py`, and pinv (of
full-rank matrices) on solve. What needs singular values (svd, the nuclear and spectral norms) raises an
error naming itself. Each function first runs torch's own function on shape-only ("meta") copies of its
inputs, so a bad argument raises exactly what torch raises.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch

from .. import ops
from ..dispatch import implements
from ..ops import cholesky as _cholesky
from ..ops import det, inverse, logabsdet, matmul, normalize_dim, normalize_dims, transpose
from ..ops.core import outer as vector_outer
from ..variable import Variable, unwrap
from .elementwise import abs as _abs

__all__ = [
    "addbmm",
    "addmm",
    "addmv",
    "addr",
    "bmm",
    "chain_matmul",
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
    "matmul",
    "matrix_norm",
    "matrix_power",
    "mm",
    "multi_dot",
    "mv",
    "outer",
    "pinv",
    "pinverse",
    "SignLogAbsDet",
    "slogdet",
    "solve",
    "solve_triangular",
    "tensordot",
    "trace",
    "vdot",
    "vecdot",
]

implements(torch.matmul, torch.Tensor.matmul, torch.Tensor.__matmul__, torch.linalg.matmul)(matmul)
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
dot = _rule(torch.dot, "input other", matmul, "the inner product of two vectors of one size.")
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
Label = str | int  # a subscript letter, or an int for a dim of the ellipsis


@implements(torch.einsum)
def einsum(*args: Any) -> Any:
    """torch.einsum: any subscripts, ellipsis (broadcasting), repeated indices (diagonals), implicit
    output, operands as separate arguments or one list, or the sublist form. Repeated indices become
    diagonals (getitem), indices only one operand has are summed, and operands are contracted pairwise
    by permute, reshape and matmul (by mul where nothing is summed)."""
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
    prepared = []
    for i, (x, labels) in enumerate(zip(operands, terms)):
        others = {label for j, t in enumerate(terms) if j != i for label in t}
        prepared.append(_diagonals_and_sums(x, labels, others | set(output)))
    out, labels = prepared[0]
    for k in range(1, len(prepared)):
        keep = set(output).union(*(terms[j] for j in range(k + 1, len(terms))))
        out, labels = _contract(out, labels, *prepared[k], keep)
    order = tuple(labels.index(label) for label in output)
    return out if order == tuple(range(len(order))) else ops.permute(out, dims=order)


def _sublist_letter(n: Any) -> str:
    """A sublist subscript as an equation letter, as torch.einsum converts it."""
    if n is Ellipsis:
        return "..."
    if not 0 <= n < 52:
        raise ValueError("einsum(): subscript in subscript list is not within the valid range [0, 52)")
    return chr(ord("A") + n) if n < 26 else chr(ord("a") + n - 26)


def _parse_einsum(equation: str, ndims: list[int]) -> tuple[list[list[Label]], list[Label]]:
    """Each operand's labels and the output's (torch has validated the equation): the ellipsis's dims
    become ints 0..E-1, aligned from the right across operands."""
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


def _diagonals_and_sums(x: Any, labels: list[Label], needed: set[Label]) -> tuple[Any, list[Label]]:
    """Take the diagonal of each repeated label (as the first dim) and sum the labels not `needed`."""
    while len(set(labels)) < len(labels):
        repeated = next(label for label in labels if labels.count(label) > 1)
        at = [i for i, label in enumerate(labels) if label == repeated]
        rest = [i for i, label in enumerate(labels) if label != repeated]
        x = _arrange(x, at + rest)
        diagonal = torch.arange(x.shape[0], device=x.device)
        x = ops.getitem(x, index=(diagonal,) * len(at))
        labels = [repeated] + [labels[i] for i in rest]
    dropped = tuple(i for i, label in enumerate(labels) if label not in needed)
    if dropped:
        x = ops.sum(x, dim=dropped)
        labels = [label for label in labels if label in needed]
    return x, labels


def _arrange(x: Any, order: Sequence[int], shape: Sequence[int] | None = None) -> Any:
    """permute(x, order), then reshape to `shape`: each only where it changes something."""
    if tuple(order) != tuple(range(len(order))):
        x = ops.permute(x, dims=tuple(order))
    if shape is not None and tuple(shape) != tuple(x.shape):
        x = ops.reshape(x, shape=tuple(shape))
    return x


def _contract(a: Any, la: list[Label], b: Any, lb: list[Label], keep: set[Label]) -> tuple[Any, list[Label]]:
    """The product of a and b over their shared labels, summing those not in `keep`: laid out as
    (shared kept labels, a's own, b's own). Size-1 dims broadcast, as in torch.einsum."""
    size = {label: n for labels, x in ((la, a), (lb, b)) for label, n in zip(labels, x.shape) if n != 1}
    batch = [label for label in la if label in lb and label in keep]
    summed = [label for label in la if label in lb and label not in keep]
    left = [label for label in la if label not in lb]
    right = [label for label in lb if label not in la]
    out_labels = batch + left + right
    out_shape = [size.get(label, 1) for label in out_labels]
    ia, ib = [la.index(label) for label in batch + left], [lb.index(label) for label in batch + right]
    sa = [a.shape[i] for i in ia]
    sb = [b.shape[i] for i in ib]
    if not summed:  # nothing to sum: a broadcasting product
        a = _arrange(a, ia, sa + [1] * len(right))
        b = _arrange(b, ib, sb[: len(batch)] + [1] * len(left) + sb[len(batch) :])
        return ops.mul(a, b), out_labels
    full = [size.get(label, 1) for label in summed]
    a = _broadcast(a, la, summed, full)
    b = _broadcast(b, lb, summed, full)
    inner_size = math.prod(full)
    a = _arrange(
        a, ia + [la.index(label) for label in summed], sa[: len(batch)] + [math.prod(sa[len(batch) :]), inner_size]
    )
    b = _arrange(
        b,
        ib[: len(batch)] + [lb.index(label) for label in summed] + ib[len(batch) :],
        sb[: len(batch)] + [inner_size, math.prod(sb[len(batch) :])],
    )
    return ops.reshape(matmul(a, b), shape=tuple(out_shape)), out_labels


def _broadcast(x: Any, labels: list[Label], summed: list[Label], full: list[int]) -> Any:
    """x with its size-1 dims among `summed` expanded to the other operand's size."""
    shape = list(x.shape)
    for label, n in zip(summed, full):
        shape[labels.index(label)] = n
    return x if shape == list(x.shape) else ops.expand(x, shape=tuple(shape))


@implements(torch.tensordot)
def tensordot(a: Any, b: Any, dims: Any = 2) -> Any:
    """Sum over the last `dims` dims of a and the first of b, or over the dims paired in `dims` (two lists
    or ints); the result has a's other dims, then b's."""
    if isinstance(dims, (torch.Tensor, Variable)):
        dims = unwrap(dims).tolist()
    meta_check(torch.tensordot, a, b, dims=dims)
    if isinstance(dims, int):
        da, db = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        da, db = ([d] if isinstance(d, int) else list(d) for d in dims)
    la: list[Label] = list(range(a.ndim))
    lb: list[Label] = [-1 - j for j in range(b.ndim)]
    for i, j in zip(da, db):
        lb[normalize_dim(j, b.ndim)] = normalize_dim(i, a.ndim)
    keep = {label for label in la if label not in lb} | {label for label in lb if label not in la}
    return _contract(a, la, b, lb, keep)[0]


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


@implements(torch.linalg.solve)
def solve(A: Any, B: Any, *, left: bool = True) -> Any:  # noqa: N803 (torch's names)
    """X with A @ X = B (X @ A = B when not `left`); B may be a (batch of) vector(s), as torch decides."""
    meta_check(torch.linalg.solve, A, B, left=left)
    a = A if left else transpose(A)
    if B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1])):
        x = ops.solve(a, ops.reshape(B, shape=(*B.shape, 1)))
        return ops.reshape(x, shape=tuple(x.shape[:-1]))
    return ops.solve(a, B) if left else transpose(ops.solve(a, transpose(B)))


@implements(torch.linalg.solve_triangular)
def solve_triangular(A: Any, B: Any, *, upper: bool, left: bool = True, unitriangular: bool = False) -> Any:  # noqa: N803
    """solve with only A's upper (or lower) triangle read, its diagonal taken as ones when `unitriangular`."""
    meta_check(torch.linalg.solve_triangular, A, B, upper=upper, left=left, unitriangular=unitriangular)
    raw = unwrap(A)
    ones = torch.ones(raw.shape[-2:], dtype=raw.dtype, device=raw.device)
    mask = ones.triu(int(unitriangular)) if upper else ones.tril(-int(unitriangular))
    triangle = ops.mul(A, mask)
    if unitriangular:
        triangle = ops.add(triangle, torch.eye(raw.shape[-1], dtype=raw.dtype, device=raw.device))
    return solve(triangle, B, left=left)


@implements(torch.linalg.pinv)
def pinv(A: Any, *, atol: Any = None, rtol: Any = None, hermitian: bool = False) -> Any:  # noqa: N803 (torch's name)
    """The pseudo-inverse of full-rank matrices, (A^T A)^-1 A^T or A^T (A A^T)^-1; a matrix whose singular values
    fall below torch's cutoff (max(atol, rtol * largest)) would need svd, and says so."""
    raw = unwrap(A)
    m, n = raw.shape[-2:]
    singular = torch.linalg.svdvals(raw)
    if rtol is None:
        rtol = (
            0.0 if atol is not None and torch.any(torch.as_tensor(atol) > 0) else torch.finfo(raw.dtype).eps * max(m, n)
        )
    cutoff = torch.maximum(torch.as_tensor(0.0 if atol is None else atol), rtol * singular[..., :1])
    if bool((singular <= cutoff).any()):
        raise NotImplementedError(
            "torch.linalg.pinv: a rank-deficient matrix (a singular value under the cutoff) needs svd, which "
            "autograd_engine has no derivative for; the pseudo-inverse of full-rank matrices works"
        )
    if m >= n:
        return ops.solve(matmul(transpose(A), A), transpose(A))
    return transpose(ops.solve(matmul(A, transpose(A)), A))


@implements(torch.pinverse, torch.Tensor.pinverse)
def pinverse(input: Any, rcond: float = 1e-15) -> Any:  # noqa: A002
    """torch.pinverse: pinv with rtol=rcond."""
    return pinv(input, rtol=rcond)


@implements(torch.linalg.cholesky, torch.cholesky, torch.Tensor.cholesky)
def cholesky(A: Any, upper: bool = False) -> Any:  # noqa: N803 (torch's name)
    """The Cholesky factor of each symmetric positive-definite matrix: lower L with A = L L^T, or upper U = L^T."""
    factor = _cholesky(A)
    return transpose(factor) if upper else factor


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
    """Frobenius ('fro') or induced 1, -1, inf, -inf norms over the two `dim`s; 'nuc', 2 and -2 need
    singular values, which the engine has no derivative for."""
    meta_check(torch.linalg.matrix_norm, A, ord, dim, keepdim, dtype=dtype)
    if ord in ("nuc", 2, -2):
        raise NotImplementedError(
            f"torch.linalg.matrix_norm: ord={ord!r} needs singular values (svd), which autograd_engine has no "
            "derivative for; ord='fro', 1, -1, inf and -inf work"
        )
    x = A if dtype is None else ops.to(A, dtype=dtype, device=A.device)
    if ord == "fro":  # (vector_norm: gradient 0 at a zero matrix, as torch's)
        return ops.vector_norm(x, ord=2, dim=tuple(normalize_dims(dim, x.ndim)), keepdim=keepdim)
    rows, cols = (normalize_dim(d, A.ndim) for d in dim)
    summed, reduced = (cols, rows) if abs(ord) == math.inf else (rows, cols)
    sums = ops.sum(_abs(x), dim=summed, keepdim=True)
    extreme = ops.max(sums, dim=reduced, keepdim=True) if ord > 0 else ops.min(sums, dim=reduced, keepdim=True)
    if keepdim:
        return extreme
    return ops.reshape(extreme, shape=tuple(n for i, n in enumerate(A.shape) if i not in (rows, cols)))


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
