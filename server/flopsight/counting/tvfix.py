"""Make ``import torchvision`` work when its compiled ops cannot load.

A torchvision wheel built for another torch (here: a CUDA build next to a CPU torch) fails to
load ``torchvision/_C.so``; torchvision then still registers fake kernels for ``nms`` and ``qnms``
and dies with ``RuntimeError: operator torchvision::nms does not exist``. Defining the op
schemas (no kernels) before torchvision is imported lets the import, and every model that
needs none of these ops (all classification models), work.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import sys

import torch

# The schemas torchvision's C++ extension defines (torchvision/csrc/ops/*.cpp).
_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "roi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, "
    "SymInt pooled_width, int sampling_ratio, bool aligned) -> Tensor",
    "_roi_align_backward(Tensor grad, Tensor rois, float spatial_scale, SymInt pooled_height, "
    "SymInt pooled_width, SymInt batch_size, SymInt channels, SymInt height, SymInt width, "
    "int sampling_ratio, bool aligned) -> Tensor",
    "qroi_align(Tensor input, Tensor rois, float input_scale, int input_zero_point, "
    "float rois_scale, int rois_zero_point, float spatial_scale, SymInt pooled_height, "
    "SymInt pooled_width, int sampling_ratio, bool aligned) -> Tensor",
    "ps_roi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, "
    "SymInt pooled_width, int sampling_ratio) -> (Tensor, Tensor)",
    "_ps_roi_align_backward(Tensor grad, Tensor rois, Tensor channel_mapping, float spatial_scale, "
    "SymInt pooled_height, SymInt pooled_width, int sampling_ratio, SymInt batch_size, "
    "SymInt channels, SymInt height, SymInt width) -> Tensor",
    "roi_pool(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, "
    "SymInt pooled_width) -> (Tensor, Tensor)",
    "_roi_pool_backward(Tensor grad, Tensor rois, Tensor argmax, float spatial_scale, "
    "SymInt pooled_height, SymInt pooled_width, SymInt batch_size, SymInt channels, "
    "SymInt height, SymInt width) -> Tensor",
    "ps_roi_pool(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, "
    "SymInt pooled_width) -> (Tensor, Tensor)",
    "_ps_roi_pool_backward(Tensor grad, Tensor rois, Tensor channel_mapping, float spatial_scale, "
    "SymInt pooled_height, SymInt pooled_width, SymInt batch_size, SymInt channels, "
    "SymInt height, SymInt width) -> Tensor",
    "deform_conv2d(Tensor input, Tensor weight, Tensor offset, Tensor mask, Tensor bias, "
    "SymInt stride_h, SymInt stride_w, SymInt pad_h, SymInt pad_w, SymInt dilation_h, "
    "SymInt dilation_w, SymInt groups, SymInt offset_groups, bool use_mask) -> Tensor",
    "_deform_conv2d_backward(Tensor grad, Tensor input, Tensor weight, Tensor offset, "
    "Tensor mask, Tensor bias, SymInt stride_h, SymInt stride_w, SymInt pad_h, SymInt pad_w, "
    "SymInt dilation_h, SymInt dilation_w, SymInt groups, SymInt offset_groups, bool use_mask) "
    "-> (Tensor, Tensor, Tensor, Tensor, Tensor)",
    "_cuda_version() -> int",
)

# Kept alive for the life of the process: dropping the Library would drop the schemas.
_library: torch.library.Library | None = None
# Models whose forward ran flopsight's nms kernel (for the report's note).
nms_calls = 0

NMS_NOTE = (
    "torchvision's nms ran as flopsight's PyTorch kernel and roi_align as a shape-only one "
    "(zeros; its compiled ops cannot load here): the boxes kept depend on the random weights "
    "of this CPU run, bounded by the model's configured numbers (rpn post_nms_top_n, "
    "detections_per_img)"
)


def _nms_cpu(dets: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression as torchvision's CPU kernel computes it: highest score
    first, dropping every later box whose IoU with a kept one exceeds the threshold."""
    global nms_calls
    nms_calls += 1
    order = scores.argsort(descending=True)
    boxes = dets[order].double()
    x1, y1, x2, y2 = boxes.unbind(1)
    areas = (x2 - x1) * (y2 - y1)
    removed = [False] * int(order.numel())
    keep: list[int] = []
    for i in range(len(removed)):
        if removed[i]:
            continue
        keep.append(i)
        w = (torch.minimum(x2[i], x2[i + 1 :]) - torch.maximum(x1[i], x1[i + 1 :])).clamp(min=0)
        h = (torch.minimum(y2[i], y2[i + 1 :]) - torch.maximum(y1[i], y1[i + 1 :])).clamp(min=0)
        inter = w * h
        iou = inter / (areas[i] + areas[i + 1 :] - inter)
        for j in (iou > iou_threshold).nonzero().flatten().tolist():
            removed[i + 1 + j] = True
    return order[torch.tensor(keep, dtype=torch.long)]


def _roi_align_shape(
    input: torch.Tensor,
    rois: torch.Tensor,
    spatial_scale: float,
    pooled_height: int,
    pooled_width: int,
    sampling_ratio: int,
    aligned: bool,
) -> torch.Tensor:
    """roi_align's output shape, filled with zeros: pooling costs no multiply-accumulates, and
    torchvision's Python fallback takes seconds a call on the CPU."""
    shape = (int(rois.shape[0]), int(input.shape[1]), int(pooled_height), int(pooled_width))
    return input.new_zeros(shape)


def provide_nms() -> bool:
    """Let ``torchvision.ops.nms`` (and ``batched_nms``) run on the CPU with ``_nms_cpu`` when
    flopsight defined torchvision's schemas; True when it does. Idempotent."""
    boxes = sys.modules.get("torchvision.ops.boxes")
    if _library is None or boxes is None:
        return False
    check = getattr(boxes, "_assert_has_ops", None)
    if getattr(check, "__flopsight__", False):
        return True

    def nms_available() -> None:
        pass

    nms_available.__flopsight__ = True  # type: ignore[attr-defined]
    # Module globals the ops look up at call time (torchvision.ops.boxes / roi_align).
    setattr(boxes, "_assert_has_ops", nms_available)  # noqa: B010
    roi_align = sys.modules.get("torchvision.ops.roi_align")
    if roi_align is not None:
        setattr(roi_align, "_has_ops", lambda: True)  # noqa: B010
        setattr(roi_align, "_assert_has_ops", nms_available)  # noqa: B010
    from flopsight.counting import formulas

    # Suppression and pooling: no multiply-accumulates, as torchvision's table counts them.
    formulas.register([torch.ops.torchvision.nms, torch.ops.torchvision.roi_align], "")(
        lambda args, kwargs, out: 0
    )
    return True


def _has_torchvision_ops() -> bool:
    return hasattr(torch.ops.torchvision, "nms")


def _extension_loads(package_dir: str) -> bool:
    """Load torchvision's ``_C`` the way ``torchvision.extension`` does; False when it cannot."""
    for path in glob.glob(os.path.join(package_dir, "_C*.so")) + glob.glob(
        os.path.join(package_dir, "_C*.pyd")
    ):
        try:
            torch.ops.load_library(path)  # type: ignore[no-untyped-call]
        except (ImportError, OSError):
            continue
        return _has_torchvision_ops()
    return False


def fix_applied() -> bool:
    """Whether this process runs with the torchvision op schemas defined by flopsight."""
    return _library is not None


def ensure_torchvision_importable() -> bool:
    """Define torchvision's op schemas when its compiled ops cannot load.

    True when the fix was applied by this call; False when torchvision imports on its own,
    is not installed, or was already fixed or imported. Cheap and idempotent.
    """
    global _library
    if _library is not None or "torchvision" in sys.modules:
        return False
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return False
    if _has_torchvision_ops():
        return False
    package_dir = next(iter(spec.submodule_search_locations))
    if _extension_loads(package_dir):
        return False
    library = torch.library.Library("torchvision", "DEF")  # type: ignore[no-untyped-call]
    for schema in _SCHEMAS:
        library.define(schema)  # type: ignore[no-untyped-call]
    library.impl("nms", _nms_cpu, "CPU")  # type: ignore[no-untyped-call]
    library.impl("roi_align", _roi_align_shape, "CPU")  # type: ignore[no-untyped-call]
    _library = library
    return True


def explain_missing_op(error: BaseException) -> str | None:
    """For torchvision's "Couldn't load custom C++ ops": which op stopped the count, and why."""
    if not str(error).startswith("Couldn't load custom C++ ops"):
        return None
    op = "a compiled op"
    tb = error.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if f"torchvision{os.sep}ops{os.sep}" in code.co_filename:
            op = f"torchvision.ops.{code.co_name}"
        tb = tb.tb_next
    return (
        f"{op} needs torchvision's compiled kernels, which cannot load here (torchvision was "
        "built for another torch): flopsight supplies nms and roi_align only; install the "
        "torchvision build matching this torch to count this model"
    )
