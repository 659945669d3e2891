"""torchvision's detection models as users build them (no weights downloaded)."""

from torchvision.models import detection

# flopsight: input=(1, 3, 320, 320)
ssdlite = detection.ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None)
# flopsight: input=(1, 3, 320, 320)
faster_rcnn_mobile = detection.fasterrcnn_mobilenet_v3_large_320_fpn(
    weights=None, weights_backbone=None
)
