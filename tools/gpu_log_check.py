"""One short GPU check of log() with CUDA tensors (run on a machine with an NVIDIA GPU).

1. Synchronisations: a row of 10 CUDA 0-d tensors (float32, bfloat16,
   float16, float64, int64, bool) through ``run.log`` against ``.item()`` on
   each value, counted by PyTorch itself (``torch.cuda.set_sync_debug_mode``
   warns once a synchronising operation); the values read back exactly.
2. A real training loop (a Transformer encoder, AdamW, gradient
   clipping, a learning-rate schedule): step time without logging, with
   ``loss.item()`` alone (the one synchronisation any logging of the loss
   costs), with ``run.log`` of the loss, the grad norm and the learning rate
   as tensors, and with ``run.log`` of the three as ``.item()`` floats (what
   a wandb script does: three synchronisations). Configurations alternate,
   three rounds, medians.

    python tools/gpu_log_check.py [OUT_DIR] [--device cpu]   (cpu: a dry run of the script)
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import runship


def count_syncs(torch, fn) -> list[str]:
    """Synchronising CUDA operations ``fn`` makes, as PyTorch reports them:
    the Python line that made each."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            fn()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    # (set_sync_debug_mode's own notice, "Synchronization debug mode is a prototype...", is not one)
    return [f"{os.path.basename(w.filename)}:{w.lineno}" for w in seen if "called a synchronizing" in str(w.message)]


def per_call(fn, n: int = 200) -> float:
    """Seconds a call of ``fn``, over ``n`` calls."""
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def sync_check(torch, device: str, root: str) -> dict:
    dtypes = [torch.float32, torch.bfloat16, torch.float16, torch.float64, torch.int64, torch.bool]
    row = {}
    for i in range(10):
        dt = dtypes[i % len(dtypes)]
        value = (i * 0.37 + 0.1) if dt.is_floating_point else (i % 2 == 0 if dt == torch.bool else 2**40 + i)
        row[f"m{i}"] = torch.tensor(value, dtype=dt, device=device)
    expected = {k: v.item() for k, v in row.items()}
    run = runship.init(project="gpu", id="syncs", dir=root, settings={"quiet": True})
    run.log(row)  # warm: converters met once
    torch.cuda.synchronize() if device == "cuda" else None
    syncs_log = count_syncs(torch, lambda: run.log(row)) if device == "cuda" else []
    syncs_item = count_syncs(torch, lambda: [v.item() for v in row.values()]) if device == "cuda" else []
    one = {"loss": row["m0"]}
    syncs_one = count_syncs(torch, lambda: run.log(one)) if device == "cuda" else []
    # the cost of one such log() with the GPU idle, and of .item() on each value
    f32 = {f"f{i}": torch.tensor(i * 0.37 + 0.1, device=device) for i in range(10)}
    run.log(f32)
    per_log = per_call(lambda: run.log(row))
    per_items = per_call(lambda: {k: v.item() for k, v in row.items()})
    per_log_f32 = per_call(lambda: run.log(f32))
    per_items_f32 = per_call(lambda: {k: v.item() for k, v in f32.items()})
    run.finish()
    got = [r for r in runship.open_run(run.run_dir).history() if "m1" in r]
    exact = all({k: r[k] for k in expected} == expected for r in got)
    return {
        "syncs_per_log_of_10_tensors": len(syncs_log),
        "syncs_item_on_each": len(syncs_item),
        "syncs_per_log_of_1_tensor": len(syncs_one),
        "where_log_synchronised": syncs_log + syncs_one,
        "log_us_10_cuda_tensors": per_log * 1e6,
        "item_on_each_us": per_items * 1e6,
        "log_us_10_float32_cuda_tensors": per_log_f32 * 1e6,
        "item_on_each_float32_us": per_items_f32 * 1e6,
        "rows_read_back": len(got),
        "read_back_exact": exact,
        "values": {k: [str(v.dtype).replace("torch.", ""), expected[k]] for k, v in row.items()},
    }


def training_check(torch, device: str, root: str, steps: int, rounds: int) -> dict:
    torch.manual_seed(0)
    # big enough that the GPU, not the launching of kernels, sets the step time, as in real training
    d_model, seq, batch = (1024, 1024, 16) if device == "cuda" else (32, 8, 2)
    layer = torch.nn.TransformerEncoderLayer(d_model, 8, 4 * d_model, batch_first=True, dropout=0.0)
    model = torch.nn.Sequential(torch.nn.TransformerEncoder(layer, 6), torch.nn.Linear(d_model, 1)).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 100))
    x = torch.randn(batch, seq, d_model, device=device)
    y = torch.randn(batch, seq, 1, device=device)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type=device, dtype=torch.bfloat16):
            loss = torch.nn.functional.mse_loss(model(x).float(), y)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        # on the host, as a schedule's rate is: a tensor made on the GPU from a Python
        # float is copied from pageable memory, which waits for the stream (a sync a step)
        lr = torch.tensor(sched.get_last_lr()[0])
        return loss.detach(), gnorm, lr

    run = runship.init(project="gpu", id="train", dir=root, settings={"quiet": True})
    modes = {
        "no logging": lambda loss, g, lr: None,
        "loss.item() alone": lambda loss, g, lr: loss.item(),
        "runship log() of 3 tensors": lambda loss, g, lr: run.log({"loss": loss, "grad_norm": g, "lr": lr}),
        "runship log() of 3 .item() floats": lambda loss, g, lr: run.log(
            {"loss": loss.item(), "grad_norm": g.item(), "lr": lr.item()}
        ),
    }
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    for _ in range(20):  # warm-up: kernels chosen, allocator filled
        step()
    sync()
    t0 = time.perf_counter()
    for _ in range(5):
        step()
    sync()
    if device == "cuda":  # blocks of about 2.5 s: the whole loop within a device check's minutes
        steps = max(5, min(steps, int(2.5 / ((time.perf_counter() - t0) / 5))))
    syncs_in_a_step = len(count_syncs(torch, step)) if device == "cuda" else 0  # without logging: should be 0
    times: dict[str, list[float]] = {m: [] for m in modes}
    inside: dict[str, list[float]] = {m: [] for m in modes}
    perf = time.perf_counter
    for r in range(rounds):
        order = list(modes.items()) if r % 2 == 0 else list(reversed(modes.items()))
        for name, after in order:
            sync()
            spent = 0.0
            t0 = perf()
            for _ in range(steps):
                got = step()
                t1 = perf()
                after(*got)
                spent += perf() - t1
            sync()
            times[name].append((perf() - t0) / steps * 1e3)
            inside[name].append(spent / steps * 1e6)
    run.finish()
    base = statistics.median(times["no logging"])
    out = {}
    for name, ts in times.items():
        med = statistics.median(ts)
        out[name] = {
            "step_ms": med,
            "overhead_pct": (med - base) / base * 100,
            "in_the_call_us": statistics.median(inside[name]),
            "all_ms": [round(t, 3) for t in ts],
        }
    out["rows_logged"] = len(runship.open_run(run.run_dir).history())
    out["steps_a_block"], out["blocks_a_mode"] = steps, rounds
    out["syncs_in_a_step_without_logging"] = syncs_in_a_step
    out["model"] = f"TransformerEncoder 6 x d{d_model}, seq {seq}, batch {batch}, bf16 autocast, AdamW, clip, schedule"
    return out


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    device = "cpu" if "--device" in sys.argv and sys.argv[sys.argv.index("--device") + 1] == "cpu" else "cuda"
    if device == "cpu" and "cpu" in args:
        args.remove("cpu")
    out_dir = args[0] if args else tempfile.mkdtemp()
    import torch

    root = tempfile.mkdtemp()
    result = {
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "gpu": torch.cuda.get_device_name(0) if device == "cuda" else None,
        "syncs": sync_check(torch, device, root),
    }
    print(json.dumps(result["syncs"], indent=1), flush=True)
    steps, rounds = (100, 10) if device == "cuda" else (5, 2)
    result["training"] = training_check(torch, device, root, steps, rounds)
    print(json.dumps(result["training"], indent=1), flush=True)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "gpu_log_check.json"), "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
