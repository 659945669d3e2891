"""One job in a freshly spawned interpreter: the host's fallback where there is no fork()
(Windows), and ``--spawn`` anywhere. Slower (torch is imported per job), otherwise the same:
the job's answer goes to a file only the host names, its stdout/stderr to a capture file.

    python -m flopsight.worker.spawned --job module:function --result PATH  < {"request": ...}
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import signal
import sys
import traceback

from flopsight.worker.child import PR_SET_PDEATHSIG, limit_memory, prctl, run_job


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m flopsight.worker.spawned")
    parser.add_argument("--job", required=True)
    parser.add_argument("--result", required=True)
    args = parser.parse_args()
    code = 70
    try:
        # Die with the host where Linux can arrange it (it started us in a session of our own).
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        host = int(os.environ.get("FLOPSIGHT_HOST_PID", "0") or 0)
        if host and os.getppid() != host:
            return
        order = json.loads(sys.stdin.buffer.read())
        request, memory_mb = order["request"], int(order["memory_mb"])
        with contextlib.suppress(ImportError):
            from flopsight.counting.tvfix import ensure_torchvision_importable

            ensure_torchvision_importable()
        module_name, _, function_name = args.job.partition(":")
        job = getattr(importlib.import_module(module_name), function_name)
        measure = request.get("measure") or {}
        if str(measure.get("device", "cpu")).startswith("cpu"):
            limit_memory(memory_mb)
        answer = run_job(job, request)
        with open(args.result, "w", encoding="utf-8") as f:
            json.dump(answer, f, separators=(",", ":"))
        code = 0
    except BaseException:
        with contextlib.suppress(BaseException):
            traceback.print_exc()
    finally:
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    main()
