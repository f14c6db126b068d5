"""The shared training loop: ``fit(TrainConfig(...))``."""

from qclf.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from qclf.train.config import TrainConfig
from qclf.train.loop import RunResult, TrainingDivergedError, fit

__all__ = ["CheckpointError", "RunResult", "TrainConfig", "TrainingDivergedError", "fit",
           "load_checkpoint", "save_checkpoint"]
