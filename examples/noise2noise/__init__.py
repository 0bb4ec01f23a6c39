"""Noise2Noise denoising trained with autograd-engine: data, models, training CLI, course harness."""
