"""torch.func's spelling of the module utilities: `nn.func.functional_call`."""

from .utils.stateless import functional_call

__all__ = ["functional_call"]
