"""Training utilities, as torch.nn.utils."""
