"""Memory guard: refuse a call whose state vectors cannot fit before allocating anything.

The estimate is ``batch x 2**n x bytes per complex amplitude x STATE_COPIES`` (the state, the
copies autograd keeps and fused unitaries; see :mod:`.thresholds`), compared with the limit:
``QCLF_MEMORY_LIMIT`` (bytes, or with a K/M/G/T suffix) when set, else ``MEMORY_FRACTION`` of
the memory available now (free GPU memory on CUDA, ``MemAvailable`` on Linux).
"""

from __future__ import annotations

import os

import torch

from . import thresholds
from .errors import MemoryLimitExceeded

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def _parse_bytes(text: str) -> int:
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    unit = t[-1] if t and t[-1] in _UNITS else ""
    try:
        return int(float(t[: len(t) - len(unit)]) * _UNITS[unit])
    except ValueError as exc:
        raise ValueError(f"QCLF_MEMORY_LIMIT={text!r} is not a size: use e.g. 8G or 500M") from exc


def _available(device: torch.device) -> int | None:
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def memory_limit(device: torch.device) -> int | None:
    """Bytes a call may plan for state vectors on ``device`` (None: unknown, no check)."""
    env = os.environ.get("QCLF_MEMORY_LIMIT")
    if env:
        return _parse_bytes(env)
    avail = _available(device)
    return None if avail is None else int(avail * thresholds.MEMORY_FRACTION)


def check_memory(n_qubits: int, batch: int, rdtype: torch.dtype, device) -> None:
    """Raise :class:`MemoryLimitExceeded` if ``batch`` states of ``n_qubits`` cannot fit."""
    device = torch.device(device)
    amp_bytes = 2 * torch.tensor([], dtype=rdtype).element_size()
    need = batch * (1 << n_qubits) * amp_bytes * thresholds.STATE_COPIES
    limit = memory_limit(device)
    if limit is not None and need > limit:
        raise MemoryLimitExceeded(
            f"{n_qubits} qubits x batch {batch} needs about {need / 2**30:.1f} GiB of state "
            f"vectors on {device}, over the limit of {limit / 2**30:.1f} GiB: use fewer qubits "
            f"or a smaller batch, or set QCLF_MEMORY_LIMIT (e.g. 64G) to raise the limit"
        )
