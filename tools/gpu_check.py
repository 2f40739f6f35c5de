"""One short GPU check of the system metrics (run on a machine with an NVIDIA GPU).

Logs a run while a matrix-multiply loop keeps the GPU busy, samples every
0.5 s, then prints what the run's system stream recorded next to what
nvidia-smi says.

    python tools/gpu_check.py [OUT_DIR]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import runship


def main() -> None:
    out_dir = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp()
    root = tempfile.mkdtemp()
    run = runship.init(project="gpu", id="check", dir=root, settings={"stats_interval": 0.5, "quiet": True})
    import torch

    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    t0 = time.time()
    step = 0
    while time.time() - t0 < 6:
        b = a @ a
        torch.cuda.synchronize()
        run.log({"step_time": time.time() - t0, "norm": float(b[0, 0])})
        step += 1
    smi = subprocess.run(
        [
            "nvidia-smi",
            "--query-gpu=index,name,utilization.gpu,memory.used,memory.total,temperature.gpu,power.draw",
            "--format=csv",
        ],
        capture_output=True,
        text=True,
    ).stdout
    run.finish()
    view = runship.open_run(run.run_dir)
    samples = list(view.system())
    gpu_keys = sorted({k for s in samples for k in s if k.startswith("gpu.")})
    report = {
        "samples": len(samples),
        "gpu_keys": gpu_keys,
        "last_sample": samples[-1] if samples else None,
        "max_gpu_util": max((s.get("gpu.0.gpu", 0) for s in samples), default=None),
        "nvidia_smi_at_end": smi,
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "rows": len(view.history()),
        "environment_gpus": (view.environment or {}).get("cuda_visible_devices"),
    }
    text = json.dumps(report, indent=1, default=str)
    print(text)
    with open(os.path.join(out_dir, "gpu_check.json"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
