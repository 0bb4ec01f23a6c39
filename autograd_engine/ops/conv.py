"""Patches and convolutions: unfold/fold (im2col and its adjoint) and torch's native convolution kernels."""

from __future__ import annotations

import torch
import torch.nn.functional as tnf

from ..primitive import primitive
from .core import cat, getitem, pad, sum, transpose

__all__ = [
    "conv2d",
    "conv2d_weight",
    "conv3d",
    "conv3d_weight",
    "conv_transpose2d",
    "conv_transpose3d",
    "fold",
    "unfold",
]


@primitive()
def unfold(x, *, kernel_size, dilation=1, padding=0, stride=1):
    """Sliding blocks of an (N, C, H, W) input as columns (N, C*kh*kw, L): im2col."""
    return tnf.unfold(x, kernel_size, dilation=dilation, padding=padding, stride=stride)


@primitive()
def fold(x, *, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Sum columns (N, C*kh*kw, L) back into an (N, C, H, W) image: col2im, the adjoint of unfold."""
    return tnf.fold(x, output_size, kernel_size, dilation=dilation, padding=padding, stride=stride)


unfold.defvjp(lambda g, ans, x, **kw: fold(g, output_size=tuple(x.shape[-2:]), **kw))
fold.defvjp(lambda g, ans, x, *, output_size, **kw: unfold(g, **kw))


# --- native convolutions: torch's kernels, VJPs in the same three primitives --------------------------
# conv, conv_transpose and conv_weight (the weight gradient of conv) are the three faces of one bilinear
# form <conv(x, w), g>, so each one's VJPs are the other two and every order of derivative stays inside
# the family; 2-d and 3-d are two such families, with the same VJPs (written for any number of dims).
@primitive(saves={"x": "w", "w": "x"})
def conv2d(x, w, b=None, *, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1, input_grad=False):
    """Cross-correlation of (N, C, H, W) with weight (O, C/groups, kh, kw), plus a bias (O,) if given, on
    torch's native kernel (which adds the bias as it writes the output). input_grad=True: the node is the input
    gradient of a conv_transpose (its weight gradient then in torch's double backward order, `_weight_grad_by_conv`)."""
    return tnf.conv2d(x, w, b, stride, padding, dilation, groups)


@primitive(saves={"x": "w", "w": "x"})
def conv_transpose2d(
    x, w, b=None, *, stride=(1, 1), padding=(0, 0), output_padding=(0, 0), dilation=(1, 1), groups=1, input_grad=False
):
    """Transposed convolution of (N, C, H, W) with weight (C, O/groups, kh, kw), plus a bias (O,) if given,
    on torch's native kernel. input_grad=True: the node is the input gradient of a conv (see conv2d)."""
    return tnf.conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation)


@primitive(saves={"x": "g", "g": "x"})
def conv2d_weight(x, g, *, weight_shape, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    """d<conv2d(x, w), g>/dw: the weight gradient of conv2d, as its own (bilinear) op."""
    return torch.nn.grad.conv2d_weight(x, weight_shape, g, stride, padding, dilation, groups)


@primitive(saves={"x": "w", "w": "x"})
def conv3d(x, w, b=None, *, stride=(1, 1, 1), padding=(0, 0, 0), dilation=(1, 1, 1), groups=1, input_grad=False):
    """Cross-correlation of (N, C, D, H, W) with weight (O, C/groups, kd, kh, kw), plus a bias (O,) if
    given, on torch's native kernel (input_grad: see conv2d)."""
    return tnf.conv3d(x, w, b, stride, padding, dilation, groups)


@primitive(saves={"x": "w", "w": "x"})
def conv_transpose3d(
    x,
    w,
    b=None,
    *,
    stride=(1, 1, 1),
    padding=(0, 0, 0),
    output_padding=(0, 0, 0),
    dilation=(1, 1, 1),
    groups=1,
    input_grad=False,
):
    """Transposed convolution of (N, C, D, H, W) with weight (C, O/groups, kd, kh, kw), plus a bias (O,) if
    given, on torch's native kernel (input_grad: see conv2d)."""
    return tnf.conv_transpose3d(x, w, b, stride, padding, output_padding, groups, dilation)


@primitive(saves={"x": "g", "g": "x"})
def conv3d_weight(x, g, *, weight_shape, stride=(1, 1, 1), padding=(0, 0, 0), dilation=(1, 1, 1), groups=1):
    """d<conv3d(x, w), g>/dw: the weight gradient of conv3d, as its own (bilinear) op."""
    return torch.nn.grad.conv3d_weight(x, weight_shape, g, stride, padding, dilation, groups)


_FAMILIES = {2: (conv2d, conv_transpose2d, conv2d_weight), 3: (conv3d, conv_transpose3d, conv3d_weight)}
"""Spatial dims -> (conv, conv_transpose, conv_weight)."""


def _geometry(n, stride=None, padding=None, dilation=None, groups=1):
    """A family's keyword arguments with their defaults filled in (a node keeps only those given)."""
    return {
        "stride": stride or (1,) * n,
        "padding": padding or (0,) * n,
        "dilation": dilation or (1,) * n,
        "groups": groups,
    }


def _transpose_to(n, g, w, like, input_grad=False, **kw):
    """conv_transpose of g that lands exactly on `like`'s spatial size (the adjoint of conv)."""
    kw = _geometry(n, **kw)
    extra = tuple(
        int(size - ((m - 1) * s - 2 * p + d * (k - 1) + 1))
        for size, m, s, p, d, k in zip(
            like.shape[2:], g.shape[2:], kw["stride"], kw["padding"], kw["dilation"], w.shape[2:]
        )
    )
    return _FAMILIES[n][1](g, w, output_padding=extra, input_grad=input_grad, **kw)


def _conv_to(n, g, w, like, input_grad=False, **kw):
    """conv of g cropped to `like`'s spatial size (the adjoint of conv_transpose)."""
    out = _FAMILIES[n][0](g, w, input_grad=input_grad, **kw)
    size = tuple(like.shape[2:])
    return out if tuple(out.shape[2:]) == size else getitem(out, index=(..., *(slice(0, m) for m in size)))


def _weight_grad_by_conv(n, x, g, w, **kw):
    """d<conv(x, w), g>/dw as torch's double backward computes it (_convolution_double_backward): per group, the
    conv of x's channels as a batch with g's as the weight (stride and dilation swapped), cut to w's size."""
    kw = _geometry(n, **kw)
    groups = kw["groups"]
    x_t, g_t = transpose(x, 0, 1), transpose(g, 0, 1)

    def part(t, i):
        size = t.shape[0] // groups
        return t if groups == 1 else getitem(t, index=(slice(i * size, (i + 1) * size),))

    parts = [
        _FAMILIES[n][0](part(x_t, i), part(g_t, i), stride=kw["dilation"], padding=kw["padding"], dilation=kw["stride"])
        for i in range(groups)
    ]
    grad = transpose(parts[0] if groups == 1 else cat(*parts, dim=1), 0, 1)
    if tuple(grad.shape[2:]) == tuple(w.shape[2:]):
        return grad
    return getitem(grad, index=(..., *(slice(0, k) for k in w.shape[2:])))


def _transpose_weight_grad(n, g, x, w, **kw):
    """The weight VJP of conv_transpose: conv_weight with the roles of input and output swapped.

    With output_padding >= stride (allowed below the dilation) g is taller than x's adjoint covers;
    x then gets zero rows/columns, which add nothing to the gradient.
    """
    kw = _geometry(n, **kw)
    covered = [
        (size + 2 * p - d * (k - 1) - 1) // s + 1
        for size, s, p, d, k in zip(g.shape[2:], kw["stride"], kw["padding"], kw["dilation"], w.shape[2:])
    ]
    extra = [c - m for c, m in zip(covered, x.shape[2:])]
    if any(extra):
        x = pad(x, widths=tuple(width for e in reversed(extra) for width in (0, e)))
    return _FAMILIES[n][2](g, x, weight_shape=tuple(w.shape), **kw)


def _bias_grad(g, ans, x, w, b=None, **kw):
    return sum(g, dim=(0, *range(2, g.ndim)))


def _define_vjps(n: int) -> None:
    """The VJPs of family n. A conv's input gradient is a conv_transpose flagged input_grad (and the other way
    round), whose weight gradient, a second-order term, follows torch's double backward (`_weight_grad_by_conv`)."""
    conv, transpose, weight = _FAMILIES[n]

    def conv_vjp_w(g, ans, x, w, b=None, *, input_grad=False, **kw):
        if input_grad:  # torch's gW = conv(gO^T, ggI^T): x is the gO of the conv_transpose this is the gradient of
            return _weight_grad_by_conv(n, x, g, w, **kw)
        return weight(x, g, weight_shape=tuple(w.shape), **kw)

    def transpose_vjp_w(g, ans, x, w, b=None, *, output_padding=None, input_grad=False, **kw):
        if input_grad:  # torch's gW = conv(ggI^T, gO^T): x is the gO of the conv this is the gradient of
            return _weight_grad_by_conv(n, g, x, w, **kw)
        return _transpose_weight_grad(n, g, x, w, **kw)

    conv.defvjp(
        lambda g, ans, x, w, b=None, *, input_grad=False, **kw: _transpose_to(n, g, w, x, input_grad=True, **kw),
        conv_vjp_w,
        _bias_grad,
    )
    transpose.defvjp(
        lambda g, ans, x, w, b=None, *, output_padding=None, input_grad=False, **kw: _conv_to(
            n, g, w, x, input_grad=True, **kw
        ),
        transpose_vjp_w,
        _bias_grad,
    )
    weight.defvjp(
        lambda h, ans, x, g, *, weight_shape, **kw: _transpose_to(n, g, h, x, **kw),
        lambda h, ans, x, g, *, weight_shape, **kw: conv(x, h, **kw),
    )


_define_vjps(2)
_define_vjps(3)
