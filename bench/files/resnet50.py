"""torchvision's resnet50 as a user would write it: the worker benchmark's file."""

from torchvision import models

net = models.resnet50(weights=None)  # flopsight: input=(1, 3, 224, 224)
