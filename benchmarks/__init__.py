"""Side-by-side benchmarks of autograd-engine against PyTorch (python -m benchmarks [--quick])."""
