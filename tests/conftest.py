"""Make torchvision importable for every test (and for ptflops, which imports it)."""

from flopsight.count.tvfix import ensure_torchvision_importable

ensure_torchvision_importable()
