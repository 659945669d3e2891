"""docs/conventions.md, the part that is not measured against peers: Mixture-of-Experts and
detection models (issue 12). Static text; render_conventions appends it."""

from __future__ import annotations

MOE_AND_DETECTION = """\
## Mixture-of-Experts

**Grouped matmuls.** Hugging Face's experts (Mixtral, Qwen3-MoE, DeepSeek-V3, ...) call
`torch._grouped_mm(x, W, offs)`: the rows of `x`, sorted by expert, each meet their expert's
K × N matrix. flopsight charges Σ over groups of rows × K × N, which is rows × K × N for the
usual layout (every token-expert pair runs one expert), and gives the op a meta output in any
dtype (torch's meta kernel takes bf16 only and fails on float32 models). torch's
`FlopCounterMode` has no formula for `_grouped_mm` and counts the experts as zero: for the small
Mixtral of `tests/data/moe/mixtral_small.py` it gives 24.31 GMac, flopsight 69.41 GMac, the
hand count in `tests/test_count_moe.py`. The same applies to `_scaled_grouped_mm` (fp8).

The issue that asked for this quoted 70.48 GMac for "hidden 1024, 4 layers, 8 experts, top-2,
512 tokens", and 25.38 GMac from `FlopCounterMode`. Its expert part (70.48 − 25.38 = 45.10 G)
is exactly the hand count of the experts at `intermediate_size=3584`; the dense part differs by
1.07 G (4 × 512² × 1024: one more 512 × 512 × 1024 product per layer than 32-head attention
has), which the stated configuration does not produce: with `MixtralConfig`'s defaults for
everything not stated (32 heads, 8 KV heads, vocab 32000) both `FlopCounterMode` on meta and the
hand count give 24.31 GMac for the dense part. flopsight follows the hand count.

**Balanced routing.** MoE code that routes by data (`nonzero`, `torch.where(mask)`,
`bincount`, `.tolist()` of the counts, sorting by expert) has no shapes on meta. flopsight
assumes balanced routing: each of the E experts receives T × k / E of the T tokens' k choices.
The last `topk` the model ran (its router) gives T, E and k; a mask over (token, choice) pairs is
then true for 1 / E of its elements, a mask over tokens or (token, expert) pairs for k / E, and
per-expert counts read back (`bincount(...).tolist()`) as T × k / E each. Whenever the
assumption shaped the count, the report says so in a note ("routing depends on the data ...;
counted on meta assuming balanced routing: each of 8 experts receives 64 tokens × 2 / 8 = 16
rows"). For the experts' matmuls the assumption does not change the total (T × k rows are
multiplied however they are spread); it only lets the code run. Python control flow on a routed
value (`if expert_idx == self.num_experts:`) cannot run on meta: such a model is built and run on
the CPU with random weights instead, and the report says that too.

**Active parameters.** `total.active_params` (schema `flopsight.report/2` and later) is what one
token uses: every parameter outside the routed experts, plus the routed experts' parameters × k /
E. Routed experts are an `experts` ModuleList of E modules, or an experts module holding E-stacked
weights (Hugging Face's fused `gate_up_proj` of shape (E, 2I, H)); shared experts count whole; k
comes from the router seen choosing among E, else from the config's `num_experts_per_tok`.
Embeddings and the output head are included, as Mistral counts them: Mixtral-8x7B is 46.70 B params
· 12.88 B active (published: 46.7 B, 12.9 B). DeepSeek-V3 is 671.03 B · 37.55 B and Qwen3-30B-A3B
30.53 B · 3.35 B: their published "37B" and "3.3B activated" truncate these.

## Detection models (torchvision)

torchvision's detection models call `nms` and `roi_align`, whose compiled kernels cannot load
here (torchvision was built for another torch). Their forward also reads data (image sizes
through `.item()`, score thresholds through `torch.where`), so they run on the CPU with random
weights. flopsight supplies `nms` as a PyTorch kernel (greedy suppression, exactly torchvision's
result) and `roi_align` as a shape-only kernel (zeros: pooling costs no multiply-accumulates).
The boxes kept then depend on the random weights, bounded by the model's configured numbers
(`rpn_post_nms_top_n_test`, `box_detections_per_img`); a note in the report says so.

torchvision's published GFLOPS (`weights.meta["_ops"]`, multiply-accumulates) were measured with
the trained weights on a random image, on which few proposals pass the RPN's score threshold.
For models without per-box heads the figures agree: SSDLite320 counts 583.17 MMac, published
0.583. For Faster R-CNN MobileNetV3-320 the backbone and RPN give 0.719 G, the published
figure; flopsight adds the box head at the model's configured 150 proposals (2.15 G: the
TwoMLPHead and predictor, hand-counted in `tests/test_runner_detection.py`), which the published
figure leaves out. An op flopsight does not supply (`deform_conv2d`, `ps_roi_align`, ...) stops
the count with an error that names it, at the line that called it (FS202).
"""
