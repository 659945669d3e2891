"""The seed article's script: densenet161 at (1, 3, 224, 224) is 7.82 GMac, 28.68 M params.

The ptflops call below is the article's own; flopsight skips it (it is not a definition)
and, if it ever ran and failed, would record a warning and still count `net`.
"""

import re

import torch
import torchvision.models as models
from ptflops import get_model_complexity_info

# Model thats already available
net = models.densenet161()  # flopsight: input=(1, 3, 224, 224)
macs, params = get_model_complexity_info(
    net, (3, 224, 224), as_strings=True, print_per_layer_stat=True, verbose=True
)
# Extract the numerical value
flops = eval(re.findall(r"([\d.]+)", macs)[0]) * 2
# Extract the unit
flops_unit = re.findall(r"([A-Za-z]+)", macs)[0][0]
print("Computational complexity: {:<8}".format(macs))
print("Computational complexity: {} {}Flops".format(flops, flops_unit))
print("Number of parameters: {:<8}".format(params))
