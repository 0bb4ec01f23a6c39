"""python -m autograd_engine: what this installation can do."""

from __future__ import annotations

import platform

import torch

import autograd_engine as ag


def main() -> None:
    cuda = f"CUDA ({torch.cuda.get_device_name()})" if torch.cuda.is_available() else "CPU only (no CUDA device)"
    dot = "available" if ag.graph.dot_available() else "not installed (apt-get install graphviz); export still works"
    print(f"autograd-engine {ag.__version__}")
    print(f"python {platform.python_version()}, torch {torch.__version__}")
    print(f"device: {cuda}")
    print(f"graph rendering (graphviz dot): {dot}")
    print(f"primitives: {', '.join(sorted(ag.PRIMITIVES))}")


if __name__ == "__main__":
    main()
