"""System metrics, sampled on the writer thread into the run's ``system`` stream.

Sources, each optional: Linux's /proc, else psutil when installed (process
and system CPU, memory, disk and network I/O rates), and NVIDIA GPUs through
nvidia-ml-py (``pynvml``) when installed, respecting CUDA_VISIBLE_DEVICES.
A source that is missing or fails records nothing, and never raises.
Keys follow wandb's system metrics where it has them (``cpu``,
``proc.memory.rssMB``, ``memory_percent``, ``gpu.0.gpu``, ...).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runship.schema import format as fmt
from runship.schema.records import StatsFields

if TYPE_CHECKING:
    from runship.writer.stream import Stream

MB = 1024 * 1024


def _whole_disk(name: str) -> bool:
    """Count whole disks only, not their partitions (nor loop, RAM, device-mapper)."""
    if name.startswith(("loop", "ram", "dm-", "sr", "zram", "md")):
        return False
    if name.startswith(("nvme", "mmcblk")):
        return "p" not in name[name.rfind("n") + 1 :] if name.startswith("nvme") else "p" not in name[6:]
    return not name[-1].isdigit()


class ProcSource:
    """Linux /proc, no dependency."""

    name = "proc"

    def __init__(self) -> None:
        self._ticks = os.sysconf("SC_CLK_TCK")
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._last: dict[str, Any] | None = None
        if not os.path.exists("/proc/self/stat"):
            raise OSError("no /proc")

    def _read(self) -> dict[str, Any]:
        now = time.monotonic()
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        proc_cpu = (int(fields[11]) + int(fields[12])) / self._ticks  # utime + stime
        rss = int(fields[21]) * self._page
        with open("/proc/stat") as f:
            cpu = [int(x) for x in f.readline().split()[1:]]
        idle, total = cpu[3] + (cpu[4] if len(cpu) > 4 else 0), sum(cpu)
        mem = {}
        with open("/proc/meminfo") as f:
            for line in f:
                key, value = line.split(":", 1)
                mem[key] = int(value.split()[0]) * 1024
        disk_r = disk_w = 0
        try:
            with open("/proc/diskstats") as f:
                for line in f:
                    p = line.split()
                    if len(p) > 9 and _whole_disk(p[2]):
                        disk_r += int(p[5]) * 512
                        disk_w += int(p[9]) * 512
        except OSError:
            pass
        net_r = net_s = 0
        try:
            with open("/proc/net/dev") as f:
                for line in f.readlines()[2:]:
                    name, data = line.split(":", 1)
                    if name.strip() == "lo":
                        continue
                    d = data.split()
                    net_r += int(d[0])
                    net_s += int(d[8])
        except OSError:
            pass
        return {
            "t": now, "proc_cpu": proc_cpu, "rss": rss, "idle": idle, "total": total, "mem": mem,
            "disk_r": disk_r, "disk_w": disk_w, "net_r": net_r, "net_s": net_s,
        }  # fmt: skip

    def sample(self) -> dict[str, Any]:
        cur = self._read()
        last, self._last = self._last, cur
        mem = cur["mem"]
        total_mem = mem.get("MemTotal", 0)
        available = mem.get("MemAvailable", mem.get("MemFree", 0))
        out = {
            "proc.memory.rssMB": cur["rss"] / MB,
            "proc.memory.percent": 100.0 * cur["rss"] / total_mem if total_mem else None,
            "memory_percent": 100.0 * (total_mem - available) / total_mem if total_mem else None,
            "proc.memory.availableMB": available / MB,
        }
        if last is not None:
            dt = cur["t"] - last["t"]
            if dt > 0:
                out["cpu"] = 100.0 * (cur["proc_cpu"] - last["proc_cpu"]) / dt / (os.cpu_count() or 1)
                out["disk.in"] = (cur["disk_r"] - last["disk_r"]) / MB / dt
                out["disk.out"] = (cur["disk_w"] - last["disk_w"]) / MB / dt
                out["network.recv"] = (cur["net_r"] - last["net_r"]) / dt
                out["network.sent"] = (cur["net_s"] - last["net_s"]) / dt
            if cur["total"] > last["total"]:
                busy = 1 - (cur["idle"] - last["idle"]) / (cur["total"] - last["total"])
                out["system.cpu"] = 100.0 * busy
        return {k: v for k, v in out.items() if v is not None}


class PsutilSource:
    """psutil, where it is installed."""

    name = "psutil"

    def __init__(self) -> None:
        import psutil

        self.psutil = psutil
        self.proc = psutil.Process()
        self.proc.cpu_percent(None)
        psutil.cpu_percent(None)
        # (time, disk read bytes, disk written bytes, network received bytes, sent bytes)
        self._last: tuple[float, float, float, float, float] | None = None

    def sample(self) -> dict[str, Any]:
        ps = self.psutil
        now = time.monotonic()
        vm = ps.virtual_memory()
        rss = self.proc.memory_info().rss
        out = {
            "cpu": self.proc.cpu_percent(None) / (os.cpu_count() or 1),
            "system.cpu": ps.cpu_percent(None),
            "proc.memory.rssMB": rss / MB,
            "proc.memory.percent": 100.0 * rss / vm.total,
            "memory_percent": vm.percent,
            "proc.memory.availableMB": vm.available / MB,
        }
        try:
            disk = ps.disk_io_counters()
        except Exception:
            disk = None
        net = ps.net_io_counters()
        cur = (now, disk.read_bytes if disk else 0, disk.write_bytes if disk else 0, net.bytes_recv, net.bytes_sent)
        if self._last is not None and cur[0] > self._last[0]:
            dt = cur[0] - self._last[0]
            out["disk.in"] = (cur[1] - self._last[1]) / MB / dt
            out["disk.out"] = (cur[2] - self._last[2]) / MB / dt
            out["network.recv"] = (cur[3] - self._last[3]) / dt
            out["network.sent"] = (cur[4] - self._last[4]) / dt
        self._last = cur
        return out


class NvmlSource:
    """NVIDIA GPUs through nvidia-ml-py; only the devices this process sees."""

    name = "nvml"

    def __init__(self) -> None:
        import pynvml

        self.nvml = pynvml
        pynvml.nvmlInit()
        count = pynvml.nvmlDeviceGetCount()
        self.devices = []  # (index as this process numbers it, handle)
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        if visible is None or visible.strip() == "":
            physical = list(range(count)) if visible is None else []
        else:
            physical = []
            for item in visible.split(","):
                item = item.strip()
                if item.isdigit() and int(item) < count:
                    physical.append(int(item))
                elif item.startswith(("GPU-", "MIG-")):
                    for i in range(count):
                        uuid = pynvml.nvmlDeviceGetUUID(pynvml.nvmlDeviceGetHandleByIndex(i))
                        uuid = uuid.decode() if isinstance(uuid, bytes) else uuid
                        if uuid.startswith(item):
                            physical.append(i)
                else:
                    break  # CUDA stops at the first invalid entry
        for local, index in enumerate(physical):
            self.devices.append((local, pynvml.nvmlDeviceGetHandleByIndex(index)))
        if not self.devices:
            raise OSError("no visible NVIDIA GPU")

    def sample(self) -> dict[str, Any]:
        nv = self.nvml
        out = {}
        for i, h in self.devices:
            readers: tuple[tuple[str, Callable[[Any], Any]], ...] = (
                ("gpu", lambda h: nv.nvmlDeviceGetUtilizationRates(h).gpu),
                ("memory", lambda h: nv.nvmlDeviceGetUtilizationRates(h).memory),
                ("memoryAllocatedBytes", lambda h: nv.nvmlDeviceGetMemoryInfo(h).used),
                (
                    "memoryAllocated",
                    lambda h: 100.0 * nv.nvmlDeviceGetMemoryInfo(h).used / nv.nvmlDeviceGetMemoryInfo(h).total,
                ),
                ("temp", lambda h: nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU)),
                ("powerWatts", lambda h: nv.nvmlDeviceGetPowerUsage(h) / 1000.0),
            )
            for key, read in readers:
                try:
                    out[f"gpu.{i}.{key}"] = read(h)
                except Exception:
                    pass  # a reading this device does not offer
        return out


def open_sources(prefer: str = "auto") -> list[Any]:
    """The sources that work here. ``prefer``: "auto" (/proc, else psutil),
    "psutil", "proc"; NVML is added whenever it works."""
    sources: list[Any] = []
    # /proc first on Linux: no import into the training process
    order = {"auto": (ProcSource, PsutilSource), "psutil": (PsutilSource,), "proc": (ProcSource,)}.get(
        prefer, (ProcSource,)
    )
    for cls in order:
        try:
            sources.append(cls())
            break
        except Exception:
            continue
    try:
        sources.append(NvmlSource())
    except Exception:
        pass
    return sources


class Sampler:
    """Called on each writer pass; samples every ``interval`` seconds."""

    def __init__(self, stream: Stream, interval: float, prefer: str = "auto") -> None:
        self.stream = stream
        self.interval = interval
        self.prefer = prefer
        self.sources: list[Any] | None = None  # opened on the writer thread, not in init()
        self._next = 0.0

    def tick(self, final: bool) -> None:
        now = time.monotonic()
        if final or now < self._next:
            return
        self._next = now + self.interval
        if self.sources is None:
            self.sources = open_sources(self.prefer)
        data: dict[str, Any] = {}
        for source in self.sources:
            try:
                data.update(source.sample())
            except Exception:
                continue
        if data:
            self.stream.write(fmt.STATS, StatsFields(d=data))
