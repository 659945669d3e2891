"""The zoo: everything a user may point flopsight at, each counted from a file as users write it.

    .venv/bin/python -m bench.zoo [--source timm,torchvision,transformers,files]
                                  [--limit N | --sample N] [--timeout 180] [--memory-mb 8192]
                                  [--retry] [--rerun REGEX] [--render-only]
                                  [--isolation fork|process] [--compare-pace N]

Sources: every ``timm.list_models()`` architecture at its default input size; every torchvision
model (classification, segmentation, detection, video, optical flow, quantized); every
``transformers`` causal-LM and base-model (``AutoModel``) architecture built from its default
config with ``input_ids`` at 512 tokens; nanoGPT-, minGPT- and Lightning-style files.

Each model runs in its own process under a wall-clock timeout and an address-space cap, one at
a time (the machine is shared). By default (``--isolation fork``, Linux) a warm parent imports
torch, torchvision, timm, transformers and flopsight once and forks a child per model, which
sends its result back through a pipe; a child that dies, hangs or runs out of memory is recorded
as crash, timeout or memory. ``--isolation process`` starts a fresh interpreter per model
(``python -m bench.zoo --one SPEC``) instead. Results accumulate in
bench/results/zoo.json, keyed by source and name, so an interrupted run resumes where it stopped
(``--retry`` runs the failed ones again). docs/zoo.md is rendered from that file after every run.

References, where one exists: torchvision's published GFLOPS (``weights.meta["_ops"]``, which
counts multiply-accumulates), and torch's own ``FlopCounterMode`` on the same model on meta for
the others (dense models agree exactly; for a Mixture-of-Experts its zero for
``_grouped_mm`` is recorded, not trusted).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import resource
import select as selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flopsight.worker.child import limit_memory

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "zoo.json"
PAGE = ROOT / "docs" / "zoo.md"
FILES = ROOT / "bench" / "zoo_files"
SOURCES = ("timm", "torchvision", "transformers", "files")
TOKENS = 512
STARTED = time.perf_counter()  # before torch is imported: what warming the parent costs


# --- what to count ----------------------------------------------------------------------------


def _spec(source: str, name: str, text: str, model: str, **extra: Any) -> dict[str, Any]:
    return {"source": source, "name": name, "text": text, "model": model, **extra}


def timm_specs() -> Iterator[dict[str, Any]]:
    import timm

    for name in timm.list_models():
        cfg = timm.get_pretrained_cfg(name)
        size = tuple(cfg.input_size) if cfg is not None and cfg.input_size else (3, 224, 224)
        shape = (1, *size)
        text = (
            "import timm\n\n"
            f"# flopsight: input={shape!r}\n"
            f"model = timm.create_model({name!r}, pretrained=False)\n"
        )
        yield _spec("timm", name, text, "model", reference="flop_counter")


def _torchvision_input(module: str, name: str, weights: Any) -> list[tuple[int, ...]]:
    if module == "optical_flow":
        return [(1, 3, 368, 496), (1, 3, 368, 496)]
    if module in ("segmentation",):
        return [(1, 3, 520, 520)]
    if module == "detection":
        return [(1, 3, 800, 800)]
    crop = 224
    if weights is not None:
        try:
            crop = int(weights.transforms().crop_size[0])
        except (AttributeError, TypeError, IndexError):
            crop = 224
    if module == "video":  # 16 frames at its weights' crop, as torchvision's table counts
        return [(1, 3, 16, crop, crop)]
    return [(1, 3, crop, crop)]


def torchvision_specs() -> Iterator[dict[str, Any]]:
    from flopsight.counting.tvfix import ensure_torchvision_importable

    ensure_torchvision_importable()
    import torchvision
    from torchvision import models

    families = {
        "video": models.video,
        "segmentation": models.segmentation,
        "optical_flow": models.optical_flow,
        "detection": models.detection,
        "quantization": models.quantization,
    }
    module_of = {}
    for module, namespace in families.items():
        for name in models.list_models(module=namespace):
            module_of[name] = module
    for name in models.list_models():
        module = module_of.get(name, "classification")
        try:
            weights = next(iter(torchvision.models.get_model_weights(name)))
        except (ValueError, StopIteration):
            weights = None
        shapes = _torchvision_input(module, name, weights)
        shape_text = repr(shapes[0]) if len(shapes) == 1 else repr(shapes)
        args = "weights=None"
        if module in ("detection", "segmentation") and "weights_backbone" in _params(name):
            args += ", weights_backbone=None"
        if module == "quantization":
            args += ", quantize=False"
        if name.startswith("vit_") and shapes[0][-1] != 224:
            # Built at the size its first weights (and their published figure) use, as they are.
            args += f", image_size={shapes[0][-1]}"
        if "aux_loss" in _params(name):
            args += ", aux_loss=True"  # as built with its weights, which torchvision's table counts
        text = (
            "from torchvision import models\n\n"
            f"# flopsight: input={shape_text}\n"
            f"model = models.get_model({name!r}, {args})\n"
        )
        published = (
            float(weights.meta["_ops"]) if weights is not None and "_ops" in weights.meta else None
        )
        yield _spec("torchvision", name, text, "model", family=module, published_gmacs=published)


def _params(name: str) -> set[str]:
    import inspect

    from torchvision import models

    try:
        return set(inspect.signature(models.get_model_builder(name)).parameters)
    except (ValueError, TypeError):
        return set()


def transformers_specs() -> Iterator[dict[str, Any]]:
    from transformers.models.auto import modeling_auto

    causal = modeling_auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    base = modeling_auto.MODEL_MAPPING_NAMES
    for model_type in sorted(set(causal) | set(base)):
        auto = "AutoModelForCausalLM" if model_type in causal else "AutoModel"
        tokens = min(TOKENS, _max_positions(model_type))
        inputs = f'"input_ids": (1, {tokens})'
        decoder = auto == "AutoModel" and _encoder_decoder(model_type)  # not BartForCausalLM
        if decoder:  # an encoder-decoder's decoder reads its own ids, as its users pass them
            inputs += f', "decoder_input_ids": (1, {tokens})'
        text = (
            f"from transformers import AutoConfig, {auto}\n\n"
            f"config = AutoConfig.for_model({model_type!r})\n"
            f'# flopsight: input={{{inputs}}}, dtype="long"\n'
            f"model = {auto}.from_config(config)\n"
        )
        yield _spec(
            "transformers",
            model_type,
            text,
            "model",
            auto=auto,
            reference="flop_counter",
            tokens=tokens,
            decoder=decoder,
        )


def _encoder_decoder(model_type: str) -> bool:
    from transformers import AutoConfig

    try:
        return bool(getattr(AutoConfig.for_model(model_type), "is_encoder_decoder", False))
    except Exception:
        return False


def _max_positions(model_type: str) -> int:
    """The longest sequence the default config takes (``max_position_embeddings``, of its text
    config where it has one), so a model made for 77 tokens (CLIP's text tower) runs at 77."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.for_model(model_type)
    except Exception:
        return TOKENS  # the build reports it
    for part in (getattr(config, "text_config", None), config):
        value = getattr(part, "max_position_embeddings", None)
        if isinstance(value, int) and value > 0:
            return value - _position_offset(model_type, part)
    return TOKENS


def _position_offset(model_type: str, config: Any) -> int:
    """RoBERTa-style positions start after the padding index (``padding_idx + 1``), so a
    default Longformer with 512 positions and padding id 1 takes at most 510 tokens."""
    import transformers

    folder = Path(transformers.__file__).parent / "models" / model_type.replace("-", "_")
    try:
        code = "".join(p.read_text() for p in folder.glob("modeling_*.py"))
    except OSError:
        return 0
    pad = getattr(config, "pad_token_id", None)
    marked = "create_position_ids_from_input_ids" in code or "padding_idx + 1" in code
    return pad + 1 if marked and isinstance(pad, int) and pad >= 0 else 0


# How the reference builds each file's model, the way its pragma says flopsight builds it.
FILE_MODELS = {
    "lightning_module": "LitAutoEncoder()",
    "mingpt_model": "model",
    "nanogpt_model": "GPT(GPTConfig(n_layer=2))",
}


def file_specs() -> Iterator[dict[str, Any]]:
    for path in sorted([*FILES.glob("*.py"), ROOT / "tests" / "data" / "zoo" / "nanogpt_model.py"]):
        yield _spec(
            "files",
            path.stem,
            path.read_text(),
            "",
            path=str(path),
            reference="flop_counter",
            reference_model=FILE_MODELS.get(path.stem),
        )


SPECS = {
    "timm": timm_specs,
    "torchvision": torchvision_specs,
    "transformers": transformers_specs,
    "files": file_specs,
}


# --- one model, in its own process ------------------------------------------------------------


def _reason(error: dict[str, Any] | None) -> str:
    """A failure's group: its type and message with numbers, names and shapes blanked."""
    if not error:
        return "unknown"
    message = error.get("message", "").strip().splitlines()[0] if error.get("message") else ""
    message = re.sub(r"'[^']*'|\"[^\"]*\"|`[^`]*`", "…", message)
    message = re.sub(r"\[[^\]]*\]|\([^)]*\)", "(…)", message)
    message = re.sub(r"\d+", "N", message)
    return f"{error.get('type', '?')}: {message[:110]}"


def _flop_counter_macs(spec: dict[str, Any], inputs: list[dict[str, Any]]) -> int | None:
    """torch's FlopCounterMode on the same model, built on meta from the same text."""
    import types

    import torch
    from flopsight.counting.build import torch_dtype
    from flopsight.counting.dataless import data_checks_skipped
    from torch.utils.flop_counter import FlopCounterMode

    # A module in sys.modules, as a file's own: its dataclasses (nanoGPT's GPTConfig) need one.
    module = sys.modules["zoo_reference"] = types.ModuleType("zoo_reference")
    namespace: dict[str, Any] = module.__dict__
    with torch.device("meta"):
        exec(compile(spec["text"], spec.get("path", "<zoo>"), "exec"), namespace)
        built = spec.get("reference_model") or spec["model"]
        model = eval(built, namespace) if built else None  # a name or a constructor call
        if model is None:
            return None
        model.eval()
        tensors = [torch.empty(i["shape"], dtype=torch_dtype(i["dtype"])) for i in inputs]
        args = [t for t, i in zip(tensors, inputs, strict=True) if not i.get("keyword")]
        kwargs = {i["name"]: t for t, i in zip(tensors, inputs, strict=True) if i.get("keyword")}
        # Value checks skipped as in flopsight's count (dataless.py): they count nothing.
        try:
            with torch.no_grad(), data_checks_skipped(), FlopCounterMode(display=False) as c:
                model(*args, **kwargs)
        except AssertionError:
            # torch's module tracker wants a grad_fn under no_grad (CaiT's class token): on
            # meta, with gradients on, the same forward costs nothing more and counts the same.
            with data_checks_skipped(), FlopCounterMode(display=False) as c:
                model(*args, **kwargs)
    return int(c.get_total_flops()) // 2


# Outcomes that are not flopsight's failures: the model is no text model, or does not build.
EXCLUDED = {
    "not-text": "not a text model (forward takes no `input_ids`, or needs another input)",
    "needs-other-inputs": "a multimodal model whose forward fails without its other inputs "
    "(pixel values, audio features)",
    "no-build": "the default config does not build, without flopsight either (on meta)",
    "no-forward": "the default config builds but its own forward fails on `input_ids` (and "
    "`decoder_input_ids` for an encoder-decoder), "
    "without flopsight too (plain forward on meta with only value checks skipped, as "
    "flopsight's dataless.py does: the same error, one that is no meta artefact)",
}

EXPLANATIONS = """\
## Why

- **Inputs.** timm at each model's default input size; torchvision classification at its first
  weights' crop (vit_h_14 built at 518, the size of those weights and of their published
  figure), video at 16 frames of its weights' crop, segmentation at 520, detection at 800,
  optical flow at two (368, 496) frames; transformers at 512 tokens, or fewer where the default
  config has fewer positions (CLIP's text tower 77, CTRL 256, BlenderBot 128; RoBERTa-style
  models whose positions start after the padding id, 510), with `decoder_input_ids` of the
  same length for an encoder-decoder built by `AutoModel`.
- **Peak RSS** is the child's: it includes the warm parent's pages it shares (the figure in
  the header), so a model's own cost is its peak minus that.
- **Value checks on meta** (flopsight's counting/dataless.py): `torch.distributions`' argument
  validation and transformers' data-dependent shortcuts (`is_tracing(tensor)`, which it already
  answers for FakeTensors) read values that meta tensors do not have; flopsight skips them on
  meta, so BART, Gemma 3n / 4 and the like count on meta instead of being rebuilt on the CPU
  with real weights (the same counts; tests/test_count_dataless.py). The reference runs with
  the same checks skipped (they count nothing).
- **Out of memory (flopsight's failures).** A forward that reads data flopsight cannot shape
  on meta sends the model to the CPU with real weights, and these default configs do not fit
  the zoo's address-space cap: glm5_next and glm5_next_text (`nonzero` selecting pooled keys;
  313 B parameters), higgs_audio_v2 (boolean-mask indexing of its audio tokens), and three
  Mixture-of-Experts models whose routing the balanced-routing assumption (counting/moe.py,
  which fakes `nonzero` / `bincount` after a router's `topk`) does not cover: JetMoE (expert
  sizes by `scatter` + `sum` then `.tolist()`), LongCat-Flash (a loop over the experts hit,
  `.item()` on each) and NLLB-MoE (top-2 gating by `argmax`, no `topk` for the assumption to
  read the router from). Not resolved: each needs its routing pattern added to moe.py.
- **Detection models with per-box heads** (Faster/Mask/Keypoint R-CNN): their box, mask and
  keypoint heads run once per proposal or detection, a number that depends on the data.
  torchvision's figures come from its trained weights on a random image (few boxes pass the
  score thresholds); flopsight runs them on the CPU with random weights, proposals at the
  model's configured maximum and almost no detections, so the box head costs more (the
  MobileNet Faster R-CNNs and Keypoint R-CNN, 3.6 to 4.2 times torchvision's figure) and the
  mask head less (docs/conventions.md, "Detection models"). Backbone, FPN and RPN agree;
  models without per-box heads (SSD, SSDLite, RetinaNet, FCOS) agree in total.
- **raft_large, raft_small**: counted at two (1, 3, 368, 496) frames and RAFT's default 12
  flow updates; the input torchvision measured its figure at is not in its metadata, and
  RAFT's cost scales with both (both come out at 0.69 of the figure). Not resolved.
- **No reference**: torch's `FlopCounterMode` fails on meta for some models flopsight counts
  (Mixture-of-Experts: `_grouped_mm`'s meta kernel takes bf16 only, and where it runs it
  counts the experts as zero, so tests/test_count_moe.py holds hand counts instead; models
  that read data on meta, which flopsight counted on the CPU). They are listed above with the
  reference's error.
- **Left out**: architectures whose `AutoModel` is a vision or audio model (its forward takes
  no `input_ids`), multimodal models that need their image or audio input, default configs
  that do not build even without flopsight, and default configs whose own forward fails on
  token ids without flopsight (same error on meta with only value checks skipped: cache or
  config bugs, inputs of another shape). They are listed with their errors, not counted as
  flopsight's failures.
"""

# A forward parameter that means the model reads more than token ids.
_OTHER_INPUTS = ("pixel_values", "input_features", "input_values", "audio", "image", "bbox")


def _transformers_failure(spec: dict[str, Any], error: dict[str, Any]) -> str:
    """``not-text`` (forward wants other inputs than input_ids), ``no-build`` (the default config
    does not build even without flopsight, on meta), else ``error``: flopsight's failure."""
    message = error.get("message", "")
    unknown_ids = "no parameter `input_ids`" in message  # FS104: forward takes no token ids
    if error.get("kind") == "pragma" and (unknown_ids or "required argument" in message):
        return "not-text"
    if error.get("kind") == "build":
        import torch

        namespace: dict[str, Any] = {"__name__": "zoo_plain_build"}
        try:
            with torch.device("meta"):
                exec(compile(spec["text"], "<zoo>", "exec"), namespace)
        except Exception:
            return "no-build"
        return "error"
    if error.get("kind") == "forward" and any(p in message for p in _OTHER_INPUTS):
        return "not-text"
    if error.get("kind") == "forward":
        params = _forward_params(spec)
        if params is None:
            return "error"
        if "input_ids" not in params:  # taken by **kwargs and ignored: not a text model
            return "not-text"
        if params & set(_OTHER_INPUTS) or any(p.endswith("pixel_values") for p in params):
            return "needs-other-inputs"
        if _plain_forward_fails_alike(spec, error):
            return "no-forward"
    return "error"


def _forward_params(spec: dict[str, Any]) -> set[str] | None:
    """The parameters of the built class's ``forward`` (from the auto mapping), or None."""
    import inspect

    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

    auto = AutoModelForCausalLM if spec.get("auto") == "AutoModelForCausalLM" else AutoModel
    try:
        cls = auto._model_mapping[type(AutoConfig.for_model(spec["name"]))]
        return set(inspect.signature(cls.forward).parameters)
    except Exception:
        return None


def _dispatch_frames() -> Any:
    """A pass-through dispatch mode: its frame lets shape_errors replay the failing op on the
    CPU for the CPU's wording, as flopsight's counter's frame does."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Passthrough(TorchDispatchMode):
        def __torch_dispatch__(
            self, func: Any, types: Any, args: Any = (), kwargs: Any = None
        ) -> Any:
            return func(*args, **(kwargs or {}))

    return Passthrough()


def _plain_forward_fails_alike(spec: dict[str, Any], error: dict[str, Any]) -> bool:
    """Whether the model, built and run without flopsight on meta, fails with flopsight's error
    (same type, same first line) for a reason meta itself does not cause (no ``.item()``)."""
    import torch
    from flopsight.counting.build import needs_real_tensors
    from flopsight.counting.dataless import data_checks_skipped

    namespace: dict[str, Any] = {"__name__": "zoo_plain_forward"}
    try:
        with torch.device("meta"):
            exec(compile(spec["text"], "<zoo>", "exec"), namespace)
            model = namespace["model"].eval()
            ids = torch.zeros((1, spec.get("tokens", TOKENS)), dtype=torch.long)
            inputs = {
                "input_ids": ids,
                **({"decoder_input_ids": ids} if spec.get("decoder") else {}),
            }
            with torch.no_grad(), data_checks_skipped(), _dispatch_frames():
                model(**inputs)
    except Exception as e:
        from flopsight.counting.shape_errors import cpu_wording

        # flopsight words a meta shape error as the CPU would: compare both wordings.
        wordings = {str(e), cpu_wording(e) or str(e)}
        firsts = {(w.strip().splitlines() or [""])[0] for w in wordings}
        theirs = (error.get("message", "").strip().splitlines() or [""])[0]
        same = type(e).__name__ == error.get("type") and theirs in firsts
        return same and not needs_real_tensors(e)
    return False


def _out_of_memory(error: dict[str, Any]) -> bool:
    message = error.get("message", "")
    return error.get("type") == "MemoryError" or "can't allocate memory" in message


def run_one(spec: dict[str, Any]) -> dict[str, Any]:
    from flopsight.counting.runner import analyse_file
    from flopsight.job import AnalysisRequest

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        path = spec.get("path") or os.path.join(folder, f"{spec['source']}_zoo.py")
        request = AnalysisRequest(
            text=spec["text"], path=path, models=[spec["model"]] if spec["model"] else None
        )
        report = analyse_file(request).to_json()
    seconds = time.perf_counter() - started
    models = report["models"] or [
        {"status": "error", "error": {"message": "no model found", "type": "LookupError"}}
    ]
    counted = [m for m in models if m["status"] != "skipped"] or models
    model = max(counted, key=lambda m: (m.get("total") or {}).get("macs", 0))
    total = model.get("total") or {}
    out: dict[str, Any] = {
        "status": model["status"],
        "device": model.get("device"),
        "seconds": round(seconds, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "macs": total.get("macs"),
        "params": total.get("params"),
        "active_params": total.get("active_params"),
        "uncounted_ops": model.get("uncounted_ops", []),
        "notes": model.get("notes", []),
        "error": model.get("error"),
    }
    if model["status"] == "error" and spec["source"] == "transformers":
        out["status"] = _transformers_failure(spec, model.get("error") or {})
    elif (
        model["status"] == "ok"
        and spec["source"] == "transformers"
        and "input_ids" not in (_forward_params(spec) or {"input_ids"})
    ):
        # A forward without `input_ids` that ran anyway (Whisper's **kwargs took them, its
        # encoder never ran): what was counted is no text model's forward.
        out["status"] = "not-text"
    if out["status"] == "error" and _out_of_memory(model.get("error") or {}):
        out["status"] = "memory"  # the address-space cap, met inside the count
    if model["status"] == "ok" and spec.get("published_gmacs") is not None:
        gmacs = total["macs"] / 1e9
        out["reference"] = {
            "kind": "torchvision GFLOPS",
            "value": spec["published_gmacs"],
            "ratio": round(gmacs / spec["published_gmacs"], 4) if spec["published_gmacs"] else None,
        }
    elif (
        model["status"] == "ok"
        and spec.get("reference") == "flop_counter"
        and (spec["model"] or spec.get("reference_model"))
    ):
        try:
            reference = _flop_counter_macs(spec, model["inputs"])
        except Exception as e:  # the reference's own failure is recorded, not ours
            out["reference"] = {
                "kind": "FlopCounterMode on meta",
                "error": _reason({"type": type(e).__name__, "message": str(e)}),
            }
        else:
            if reference is not None:
                out["reference"] = {
                    "kind": "FlopCounterMode on meta",
                    "value": reference,
                    "ratio": round(total["macs"] / reference, 4) if reference else None,
                }
    return out


def _died(returncode: int, tail: str, started: float) -> dict[str, Any]:
    """A child that ended without a result: out of memory (a MemoryError or killed by a signal,
    which is how the address-space cap usually ends a native allocation) or a crash."""
    kind = "memory" if "MemoryError" in tail or returncode < 0 else "crash"
    return {
        "status": kind,
        "seconds": round(time.perf_counter() - started, 1),
        "error": {"type": "ProcessDied", "message": f"exit {returncode}: {tail}"},
    }


def _timed_out(timeout: float, started: float) -> dict[str, Any]:
    return {
        "status": "timeout",
        "seconds": round(time.perf_counter() - started, 1),
        "error": {"type": "Timeout", "message": f"over {timeout:g} s"},
    }


def run_process(spec: dict[str, Any], timeout: float, memory_mb: int) -> dict[str, Any]:
    """One model in a fresh interpreter (``--isolation process``)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "server"), "TOKENIZERS_PARALLELISM": "false"}
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "bench.zoo", "--one", json.dumps(spec)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=lambda: limit_memory(memory_mb),
        )
    except subprocess.TimeoutExpired:
        return _timed_out(timeout, started)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        return _died(proc.returncode, tail, started)
    return dict(json.loads(lines[-1]))


def warm_parent() -> float:
    """Import everything a model needs once, before any fork; return the parent's RSS in MB."""
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    import torch

    # One thread: a fork copies no thread pool, and a child must not inherit a locked one.
    torch.set_num_threads(1)
    with contextlib.suppress(RuntimeError):  # refused once parallel work ran: none has here
        torch.set_num_interop_threads(1)
    from flopsight.counting.tvfix import ensure_torchvision_importable

    ensure_torchvision_importable()
    import timm  # noqa: F401
    import torchvision  # noqa: F401
    import transformers  # noqa: F401
    from flopsight.counting.warm import warm_up
    from transformers.models.auto import modeling_auto  # noqa: F401

    warm_up()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(spec: dict[str, Any], memory_mb: int, write: int, log: int) -> None:
    """The forked child: count, write the JSON result to the pipe, exit without cleanup."""
    code = 0
    try:
        os.setpgid(0, 0)  # its own group, so a timeout kills whatever it started too
        os.dup2(log, 1)
        os.dup2(log, 2)
        limit_memory(memory_mb)
        payload = json.dumps(run_one(spec)).encode()
        with os.fdopen(write, "wb") as pipe:
            pipe.write(payload)
    except BaseException as e:  # the parent records it as today's died child: crash or memory
        code = 1
        with contextlib.suppress(BaseException):
            os.write(log, f"\n{type(e).__name__}: {str(e)[:300]}\n".encode())
    finally:
        os._exit(code)


def run_forked(spec: dict[str, Any], timeout: float, memory_mb: int) -> dict[str, Any]:
    """One model in a child forked from the warm parent (``--isolation fork``)."""
    started = time.perf_counter()
    read, write = os.pipe()
    with tempfile.TemporaryFile() as log:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            _child(spec, memory_mb, write, log.fileno())
        os.close(write)
        chunks: list[bytes] = []
        deadline = started + timeout
        killed = False
        with os.fdopen(read, "rb", buffering=0) as pipe:
            while True:
                left = deadline - time.perf_counter()
                if left <= 0:
                    killed = True
                    break
                ready, _, _ = selectors.select([pipe], [], [], min(left, 1.0))
                if ready:
                    chunk = pipe.read(1 << 16)
                    if not chunk:
                        break
                    chunks.append(chunk)
        if killed:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        if killed:
            return _timed_out(timeout, started)
        returncode = os.waitstatus_to_exitcode(status)
        data = b"".join(chunks)
        if returncode != 0 or not data:
            log.seek(0)
            text = log.read().decode(errors="replace").strip().splitlines()
            tail = text[-1] if text else "(no output)"
            if returncode < 0:
                tail = f"{signal.Signals(-returncode).name}; {tail}"
            return _died(returncode, tail, started)
    return dict(json.loads(data))


# --- the run and the page ---------------------------------------------------------------------


def load() -> dict[str, Any]:
    if RESULTS.exists():
        return dict(json.loads(RESULTS.read_text()))
    return {"models": {}}


def save(results: dict[str, Any]) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    partial = RESULTS.with_suffix(".json.part")  # then renamed: a run stopped mid-write loses none
    partial.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    os.replace(partial, RESULTS)


def select(
    specs: list[dict[str, Any]], limit: int | None, sample: int | None, seed: int
) -> list[dict[str, Any]]:
    if sample is not None and sample < len(specs):
        return random.Random(seed).sample(specs, sample)
    return specs[:limit] if limit is not None else specs


def _agrees(result: dict[str, Any]) -> bool:
    """Within 1 % of its reference, or within the rounding of torchvision's table (which gives
    GFLOPS to three decimals: shufflenet_v2_x0_5's 0.040 is anything from 0.0395 to 0.0405)."""
    ref = result.get("reference") or {}
    if not ref.get("ratio"):
        return False
    if abs(ref["ratio"] - 1) <= 0.01:
        return True
    published = ref["kind"].startswith("torchvision")
    return bool(published and abs(result["macs"] / 1e9 - ref["value"]) <= 0.0005)


# The goals: the share of each group's tried models (left-out ones aside) counted.
GOALS = (
    ("timm", None, 99.0),
    ("torchvision", "classification", 100.0),
    ("torchvision", "segmentation", 100.0),
    ("torchvision", "video", 100.0),
    ("transformers", None, 95.0),
)


def _goals(results: dict[str, Any], everything: list[tuple[str, dict[str, Any]]]) -> list[str]:
    families = results.get("families", {})
    totals = results.get("totals", {})
    lines = [
        "## Goals",
        "",
        "| group | counted of tried | share | goal | met |",
        "|---|--:|--:|--:|---|",
    ]
    for source, family, goal in GOALS:
        rows = [
            r
            for k, r in everything
            if k.startswith(f"{source}:") and (family is None or families.get(k) == family)
        ]
        tried = [r for r in rows if r["status"] not in EXCLUDED]
        if family is not None and not families:
            continue  # which torchvision model is which family: not recorded yet
        counted = sum(1 for r in tried if r["status"] == "ok")
        share = 100 * counted / len(tried) if tried else 0.0
        group = f"{source} {family}" if family else source
        run_all = family is not None or len(rows) >= totals.get(source, 0)
        met = ("yes" if share >= goal else "no") + ("" if run_all else " (so far: not all run)")
        if not rows:
            met = "not run yet"
        lines.append(
            f"| {group} | {counted} of {len(tried)} | {share:.1f} % | ≥ {goal:g} % | {met} |"
        )
    return lines


def render(results: dict[str, Any]) -> str:
    models: dict[str, dict[str, Any]] = results["models"]
    by_source: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for key, value in sorted(models.items()):
        source, name = key.split(":", 1)
        by_source[source].append((name, value))
    run = results.get("run", {})
    totals = results.get("totals", {})
    isolation = Counter(r.get("isolation", "process") for r in models.values())
    how = []
    if isolation.get("fork"):
        how.append(
            f"{isolation['fork']} in a child forked from a warm parent that imported torch, "
            "torchvision, timm, transformers and flopsight once (its RSS, "
            f"{run.get('parent_rss_mb') or '?'} MB, is shared with each child and included in "
            "the child's peak RSS below)"
        )
    if isolation.get("process"):
        how.append(f"{isolation['process']} in a fresh interpreter each")
    lines = [
        "# The zoo",
        "",
        "Generated by `make zoo` (`bench/zoo.py`) from `bench/results/zoo.json`. Each model is "
        "counted from a file written as a user writes it, in its own process, one at a time "
        f"(timeout {run.get('timeout', '?')} s, address space {run.get('memory_mb', '?')} MB): "
        f"{'; '.join(how) or 'none yet'}. The reference (below) is counted in the same process.",
        "",
    ]
    coverage = [(s, len(by_source.get(s, [])), totals.get(s, 0)) for s in SOURCES if s in totals]
    missing = sum(total - n for _, n, total in coverage)
    if missing:
        lines += [
            f"**Not the full zoo yet: {sum(n for _, n, _ in coverage)} of "
            f"{sum(t for _, _, t in coverage)} architectures run** "
            f"({', '.join(f'{s}: {n} of {t} run' for s, n, t in coverage)}); the other "
            f"{missing} were not run yet (`make zoo` resumes where it stopped).",
            "",
        ]
    else:
        lines += [f"The full zoo: all {sum(t for _, _, t in coverage)} architectures run.", ""]
    compare = results.get("pace_compare")
    if compare:
        lines += [
            f"Pace, measured on the same {len(compare['models'])} models (`--compare-pace`, "
            "wall clock from start to result, the reference counted too): a fresh interpreter "
            f"each took {compare['process_s']:.1f} s a model on average (median "
            f"{compare['process_median_s']:.1f} s), a forked child {compare['fork_s']:.1f} s "
            f"(median {compare['fork_median_s']:.1f} s), after {compare['warm_s']:.0f} s "
            "warming the parent once.",
            "",
        ]
    for mode, pace in sorted(results.get("pace", {}).items()):
        if pace.get("models"):
            per_model = pace["seconds"] / pace["models"]
            lines += [
                f"Every run that wrote this file, {mode} (reruns after fixes included): "
                f"{pace['models']} models in {pace['seconds'] / 60:.1f} min, "
                f"{per_model:.1f} s a model wall clock on this shared 2-core machine (at "
                "`nice -n 19`)"
                + (
                    f"; at that pace the {missing} not run take about "
                    f"{per_model * missing / 3600:.1f} h."
                    if missing
                    else "."
                ),
                "",
            ]
    lines += [
        "| source | tried | counted | share | left out | meta / meta-params / cpu | median s |"
        " agree with reference |",
        "|---|--:|--:|--:|--:|---|--:|---|",
    ]
    for source in SOURCES:
        rows = by_source.get(source, [])
        if not rows:
            continue
        ok = [r for _, r in rows if r["status"] == "ok"]
        not_text = [r for _, r in rows if r["status"] in EXCLUDED]
        tried = len(rows) - len(not_text)
        devices = Counter(r.get("device") for r in ok)
        times = sorted(r["seconds"] for r in ok) or [0.0]
        refs = [r["reference"] for r in ok if "reference" in r and r["reference"].get("ratio")]
        agree = sum(1 for r in ok if _agrees(r))
        share = 100 * len(ok) / tried if tried else 0
        lines.append(
            f"| {source} | {tried} | {len(ok)} | {share:.1f} % | {len(not_text)} | "
            f"{devices.get('meta', 0)} / {devices.get('meta-params', 0)} / "
            f"{devices.get('cpu', 0)} | {times[len(times) // 2]:.1f} | "
            f"{agree} of {len(refs)} within 1 % |"
        )
    everything = [(f"{s}:{n}", r) for s, rows in by_source.items() for n, r in rows]
    ok_all = [(k, r) for k, r in everything if r["status"] == "ok"]
    lines += ["", *_goals(results, everything)]
    lines += [
        "",
        "## Slowest and largest",
        "",
        "Count s: flopsight's own count; wall s: the child from fork to result (its imports "
        "and the reference too), where recorded.",
        "",
        "| model | count s | wall s | peak RSS MB | device |",
        "|---|--:|--:|--:|---|",
    ]
    slowest = sorted(ok_all, key=lambda kr: -max(kr[1]["seconds"], kr[1].get("wall_s", 0)))
    for key, r in slowest[:10]:
        wall = f"{r['wall_s']:.1f}" if "wall_s" in r else "–"
        lines.append(
            f"| {key} | {r['seconds']:.1f} | {wall} | {r.get('peak_rss_mb', 0):.0f} | "
            f"{r.get('device')} |"
        )
    largest = sorted(ok_all, key=lambda kr: -kr[1].get("peak_rss_mb", 0))[:5]
    if largest:
        shown = ", ".join(
            f"{k} {r.get('peak_rss_mb', 0):.0f} MB ({r.get('device')})" for k, r in largest
        )
        lines += ["", f"Largest peak RSS of the models counted: {shown}."]
    failures: dict[str, list[str]] = defaultdict(list)
    for key, r in everything:
        if r["status"] not in ("ok", *EXCLUDED):
            failures[f"{r['status']} · {_reason(r.get('error'))}"].append(key)
    left_out: dict[str, list[str]] = defaultdict(list)
    for key, r in everything:
        if r["status"] in EXCLUDED:
            left_out[r["status"]].append(key)
    if left_out:
        lines += ["", "## Left out (not flopsight failures)", ""]
        for status, keys in sorted(left_out.items()):
            lines.append(f"- **{len(keys)}** × {EXCLUDED[status]}: {', '.join(keys)}")
            if status in ("no-build", "no-forward"):  # their own errors, to check by
                own: dict[str, list[str]] = defaultdict(list)
                for key in keys:
                    own[_reason(models[key].get("error"))].append(key.split(":", 1)[1])
                for reason, names in sorted(own.items(), key=lambda kv: -len(kv[1])):
                    lines.append(f"  - `{reason}`: {', '.join(names)}")
    lines += ["", "## Not counted, by reason", ""]
    if not failures:
        lines.append("Every model tried was counted.")
    for reason, keys in sorted(failures.items(), key=lambda kv: -len(kv[1])):
        shown = ", ".join(keys[:12]) + (f", … ({len(keys) - 12} more)" if len(keys) > 12 else "")
        lines.append(f"- **{len(keys)}** × `{reason}`: {shown}")
    no_reference: dict[str, list[str]] = defaultdict(list)
    for key, r in ok_all:
        ref = r.get("reference")
        if ref is None and not key.startswith("files:"):
            no_reference["none recorded (torchvision publishes no figure)"].append(key)
        elif ref is not None and ref.get("error"):
            no_reference[f"{ref['kind']} failed: {ref['error']}"].append(key)
    lines += ["", "## Counted, but no reference to compare with", ""]
    if not no_reference:
        lines.append("None.")
    for reason, keys in sorted(no_reference.items(), key=lambda kv: -len(kv[1])):
        shown = ", ".join(keys[:12]) + (f", … ({len(keys) - 12} more)" if len(keys) > 12 else "")
        lines.append(f"- **{len(keys)}** × {reason}: {shown}")
    disagree = [(k, r) for k, r in ok_all if r.get("reference", {}).get("ratio") and not _agrees(r)]
    lines += ["", "## Disagreements with a reference (more than 1 %)", ""]
    if not disagree:
        lines.append("None.")
    for key, r in disagree:
        ref = r["reference"]
        lines.append(
            f"- {key}: flopsight {r['macs'] / 1e9:.3f} GMac, {ref['kind']} "
            f"{ref['value'] if ref['kind'].startswith('torchvision') else ref['value'] / 1e9:.3f}"
            f" (ratio {ref['ratio']})"
        )
    return "\n".join(lines) + "\n\n" + EXPLANATIONS


def compare_pace(
    results: dict[str, Any], n: int, timeout: float, memory_mb: int, seed: int
) -> None:
    """The same models both ways, a fresh interpreter each then forked children: seconds a
    model from start to result. Results go to ``pace_compare`` only, not the zoo's table."""
    warm_parent()  # first, before listing the models imports their libraries
    warm = time.perf_counter() - STARTED
    rng = random.Random(seed)
    share = {"timm": 0.3, "torchvision": 0.3, "transformers": 0.3, "files": 0.1}
    specs: list[dict[str, Any]] = []
    for source, part in share.items():
        every = list(SPECS[source]())
        specs += rng.sample(every, min(len(every), max(1, round(n * part))))
    keys = [f"{s['source']}:{s['name']}" for s in specs]
    walls: dict[str, list[float]] = {}
    statuses: dict[str, list[str]] = {}
    for mode, runner in (("process", run_process), ("fork", run_forked)):
        walls[mode], statuses[mode] = [], []
        for key, spec in zip(keys, specs, strict=True):
            started = time.perf_counter()
            result = runner(spec, timeout, memory_mb)
            walls[mode].append(time.perf_counter() - started)
            statuses[mode].append(result["status"])
            print(f"{mode} {key}: {result['status']} {walls[mode][-1]:.1f}s", flush=True)
    results["pace_compare"] = {
        "models": keys,
        "process_s": round(sum(walls["process"]) / len(keys), 2),
        "fork_s": round(sum(walls["fork"]) / len(keys), 2),
        "process_median_s": round(sorted(walls["process"])[len(keys) // 2], 2),
        "fork_median_s": round(sorted(walls["fork"])[len(keys) // 2], 2),
        "walls": {mode: [round(w, 2) for w in ws] for mode, ws in walls.items()},
        "warm_s": round(warm, 1),
        "statuses": statuses,
    }
    save(results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--source", default=",".join(SOURCES))
    parser.add_argument("--limit", type=int, help="the first N models of each source")
    parser.add_argument("--sample", type=int, help="N models of each source, at random")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("--memory-mb", type=int, default=8192)
    parser.add_argument("--retry", action="store_true", help="run failed models again")
    parser.add_argument(
        "--rerun", metavar="REGEX", help="run again the models whose source:name matches"
    )
    parser.add_argument(
        "--isolation",
        choices=("fork", "process"),
        default="fork" if hasattr(os, "fork") and sys.platform == "linux" else "process",
        help="fork a warm parent per model (default on Linux) or start a fresh interpreter",
    )
    parser.add_argument("--render-only", action="store_true")
    parser.add_argument(
        "--compare-pace", type=int, metavar="N", help="time N models both ways (pace_compare)"
    )
    args = parser.parse_args(argv)
    from flopsight.counting.tvfix import ensure_torchvision_importable

    ensure_torchvision_importable()  # timm imports torchvision
    if args.one:
        print(json.dumps(run_one(json.loads(args.one))))
        return 0
    results = load()
    if args.compare_pace:
        compare_pace(results, args.compare_pace, args.timeout, args.memory_mb, args.seed)
    elif not args.render_only:
        sources = [s for s in args.source.split(",") if s]
        parent_rss = warm_parent() if args.isolation == "fork" else None
        run_isolated = run_forked if args.isolation == "fork" else run_process
        run = {
            "isolation": args.isolation,
            "parent_rss_mb": round(parent_rss, 1) if parent_rss is not None else None,
            "timeout": args.timeout,
            "memory_mb": args.memory_mb,
            "sources": sources,
            "limit": args.limit,
            "sample": args.sample,
            "seed": args.seed,
        }
        pace = results.setdefault("pace", {}).setdefault(args.isolation, {})
        # Every source's size first, so a run stopped early says "timm: 0 of 1371 run".
        listed = {source: list(SPECS[source]()) for source in sources}
        for source, every in listed.items():
            results.setdefault("totals", {})[source] = len(every)
        for source, every in listed.items():
            for spec in select(every, args.limit, args.sample, args.seed):
                key = f"{source}:{spec['name']}"
                if spec.get("family"):
                    results.setdefault("families", {})[key] = spec["family"]
                previous = results["models"].get(key)
                again = args.rerun is not None and re.search(args.rerun, key)
                done = previous and (previous["status"] in ("ok", *EXCLUDED) or not args.retry)
                if done and not again:
                    continue
                results["run"] = run  # the settings of the run that last counted a model
                started = time.perf_counter()
                result = run_isolated(spec, args.timeout, args.memory_mb)
                result["isolation"] = args.isolation
                result["wall_s"] = round(time.perf_counter() - started, 2)  # start to result
                results["models"][key] = result
                # Per model, saved with it, so a run stopped early still says its pace.
                pace["models"] = pace.get("models", 0) + 1
                pace["seconds"] = round(pace.get("seconds", 0) + time.perf_counter() - started, 2)
                print(
                    f"{key}: {result['status']} {result.get('seconds', 0):.1f}s "
                    f"{(result.get('macs') or 0) / 1e9:.2f} GMac",
                    flush=True,
                )
                save(results)
        save(results)
    PAGE.write_text(render(results))
    print(f"wrote {RESULTS.relative_to(ROOT)} and {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
