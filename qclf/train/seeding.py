"""Seeds and RNG snapshots: what makes a resumed run equal an uninterrupted one."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The shuffling order of an epoch depends only on (seed, epoch).

    Deriving it instead of carrying one generator through the run means every seed sees
    the same data order in every model of a comparison, and a resumed run needs no
    generator state to shuffle the next epoch exactly as the uninterrupted run did.
    """
    g = torch.Generator()
    g.manual_seed(1_000_003 * seed + epoch)
    return g


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
