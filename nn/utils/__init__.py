"""Training utilities, as torch.nn.utils: gradient clipping, the flat-vector view of parameters, fusing a
batch norm into the layer before it, the weight and spectral norms (old style here, new style in
`parametrizations`, built on `parametrize`), `skip_init`, `stateless.functional_call` and (in `rnn`)
variable-length batches for the recurrent layers."""

from . import (
    clip_grad,
    convert_parameters,
    fusion,
    init,
    parametrizations,
    parametrize,
    rnn,
    stateless,
)
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
from .fusion import *  # noqa: F403
from .fusion import fuse_conv_bn_eval, fuse_conv_bn_weights, fuse_linear_bn_eval, fuse_linear_bn_weights  # noqa: F401
from .init import skip_init
from .spectral_norm import remove_spectral_norm, spectral_norm
from .weight_norm import remove_weight_norm, weight_norm

__all__ = [
    "clip_grad",
    "convert_parameters",
    "fusion",
    "init",
    "parametrizations",
    "parametrize",
    "remove_spectral_norm",
    "remove_weight_norm",
    "rnn",
    "skip_init",
    "spectral_norm",
    "stateless",
    "weight_norm",
]
__all__ += clip_grad.__all__
__all__ += convert_parameters.__all__
__all__ += fusion.__all__
