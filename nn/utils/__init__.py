"""Training utilities, as torch.nn.utils: gradient clipping and the flat-vector view of parameters."""

from . import clip_grad, convert_parameters
from .clip_grad import *  # noqa: F403
from .clip_grad import (  # noqa: F401  (named again for mypy, which does not follow star imports of star imports)
    clip_grad_norm,
    clip_grad_norm_,
    clip_grad_value_,
    clip_grads_with_norm_,
    get_total_norm,
)
from .convert_parameters import *  # noqa: F403
from .convert_parameters import parameters_to_vector, vector_to_parameters  # noqa: F401

__all__ = ["clip_grad", "convert_parameters"]
__all__ += clip_grad.__all__
__all__ += convert_parameters.__all__
