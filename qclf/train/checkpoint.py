"""Atomic, self-describing checkpoints.

A checkpoint holds everything needed to continue (model, optimiser, scheduler, RNG states,
epoch, history) and the configuration fingerprint of the run that wrote it, so that resuming
under a different configuration is an error rather than a silently different experiment.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from qclf.errors import option
from qclf.results.files import umask

FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: corrupt, from another run, or missing."""


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write a temporary file in the same folder, then rename: a kill never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format_version": FORMAT_VERSION, **payload}
    fd, tmp = tempfile.mkstemp(prefix=".ckpt-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~umask())  # mkstemp's 0600 -> what open() would give
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: Path, fingerprint: dict[str, Any]) -> dict[str, Any]:
    """Load and check a checkpoint against the configuration of the run that wants to resume."""
    if not path.exists():
        raise CheckpointError(
            f"{option('resume', True)} was given but there is no checkpoint at {path}. Run "
            f"without {option('resume', True)} to start a new run, or point {option('out')} at "
            "the folder of the run to continue."
        )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises several types for truncated/garbage files
        raise CheckpointError(
            f"checkpoint {path} is corrupt or unreadable ({type(exc).__name__}: {exc}). "
            f"Nothing was overwritten; move it away and start again without "
            f"{option('resume', True)}."
        ) from None
    required = {"format_version", "fingerprint", "epoch", "model", "optimizer", "rng", "history"}
    if not isinstance(payload, dict) or not required <= set(payload):
        raise CheckpointError(
            f"checkpoint {path} is not a qclf training checkpoint (missing "
            f"{sorted(required - set(payload) if isinstance(payload, dict) else required)})."
        )
    if payload["format_version"] != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format {payload['format_version']}, this qclf reads "
            f"{FORMAT_VERSION}."
        )
    saved = payload["fingerprint"]
    diff = sorted(k for k in set(saved) | set(fingerprint) if saved.get(k) != fingerprint.get(k))
    if diff:
        detail = ", ".join(f"{k}: checkpoint={saved.get(k)!r} now={fingerprint.get(k)!r}"
                           for k in diff)
        raise CheckpointError(
            f"checkpoint {path} was written by a run with a different configuration ({detail}). "
            f"Resume with the same options, or use another {option('out')} for a new run."
        )
    return payload
