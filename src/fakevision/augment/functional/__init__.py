"""Pixel and geometry kernels (the math), kept apart from the transform classes (the policy), as Albumentations
does: plain functions of arrays and explicit parameters, easy to benchmark and test on their own."""
