"""Patches and convolutions: unfold/fold (im2col and its adjoint) and torch's native convolution kernels."""

from __future__ import annotations

import torch
import torch.nn.functional as tnf

from ..primitive import primitive
from .core import getitem, pad, sum


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
# conv2d, conv_transpose2d and conv2d_weight (the weight gradient of conv2d) are the three faces of one
# bilinear form <conv2d(x, w), g>, so each one's VJPs are the other two and every order of derivative
# stays inside the family.
@primitive(saves={"x": "w", "w": "x"})
def conv2d(x, w, b=None, *, stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
    """Cross-correlation of (N, C, H, W) with weight (O, C, kh, kw), plus a bias (O,) if given, on torch's
    native kernel (which adds the bias as it writes the output)."""
    return tnf.conv2d(x, w, b, stride, padding, dilation)


@primitive(saves={"x": "w", "w": "x"})
def conv_transpose2d(x, w, b=None, *, stride=(1, 1), padding=(0, 0), output_padding=(0, 0), dilation=(1, 1)):
    """Transposed convolution of (N, C, H, W) with weight (C, O, kh, kw), plus a bias (O,) if given, on
    torch's native kernel."""
    return tnf.conv_transpose2d(x, w, b, stride, padding, output_padding, 1, dilation)


@primitive(saves={"x": "g", "g": "x"})
def conv2d_weight(x, g, *, weight_shape, stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
    """d<conv2d(x, w), g>/dw: the weight gradient of conv2d, as its own (bilinear) op."""
    return torch.nn.grad.conv2d_weight(x, weight_shape, g, stride, padding, dilation)


def _transpose_to(g, w, like, stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
    """conv_transpose2d of g that lands exactly on `like`'s spatial size (the adjoint of conv2d)."""
    kh, kw = w.shape[-2:]
    extra = tuple(
        int(n - ((m - 1) * s - 2 * p + d * (k - 1) + 1))
        for n, m, s, p, d, k in zip(like.shape[-2:], g.shape[-2:], stride, padding, dilation, (kh, kw))
    )
    return conv_transpose2d(g, w, stride=stride, padding=padding, output_padding=extra, dilation=dilation)


def _conv_to(g, w, like, stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
    """conv2d of g cropped to `like`'s spatial size (the adjoint of conv_transpose2d)."""
    out = conv2d(g, w, stride=stride, padding=padding, dilation=dilation)
    h, wd = like.shape[-2:]
    return out if tuple(out.shape[-2:]) == (h, wd) else getitem(out, index=(..., slice(0, h), slice(0, wd)))


def _transpose_weight_grad(g, x, w, stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
    """The weight VJP of conv_transpose2d: conv2d_weight with the roles of input and output swapped.

    With output_padding >= stride (allowed below the dilation) g is taller than x's adjoint covers;
    x then gets zero rows/columns, which add nothing to the gradient.
    """
    kh, kw = w.shape[-2:]
    covered = [
        (n + 2 * p - d * (k - 1) - 1) // s + 1
        for n, s, p, d, k in zip(g.shape[-2:], stride, padding, dilation, (kh, kw))
    ]
    extra = (covered[0] - x.shape[-2], covered[1] - x.shape[-1])
    if extra != (0, 0):
        x = pad(x, widths=(0, extra[1], 0, extra[0]))
    return conv2d_weight(g, x, weight_shape=tuple(w.shape), stride=stride, padding=padding, dilation=dilation)


conv2d.defvjp(
    lambda g, ans, x, w, b=None, **kw: _transpose_to(g, w, x, **kw),
    lambda g, ans, x, w, b=None, **kw: conv2d_weight(x, g, weight_shape=tuple(w.shape), **kw),
    lambda g, ans, x, w, b=None, **kw: sum(g, dim=(0, 2, 3)),
)
conv_transpose2d.defvjp(
    lambda g, ans, x, w, b=None, *, output_padding, **kw: _conv_to(g, w, x, **kw),
    lambda g, ans, x, w, b=None, *, output_padding, **kw: _transpose_weight_grad(g, x, w, **kw),
    lambda g, ans, x, w, b=None, **kw: sum(g, dim=(0, 2, 3)),
)
conv2d_weight.defvjp(
    lambda h, ans, x, g, *, weight_shape, **kw: _transpose_to(g, h, x, **kw),
    lambda h, ans, x, g, *, weight_shape, **kw: conv2d(x, h, **kw),
)
