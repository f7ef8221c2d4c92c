"""Training infrastructure shared by every model the project trains: one loop (``loop.run_training``) that owns
the budget, checkpoints, resume, logs, validation-based selection and sample grids; models implement
``loop.Trainable``."""

from fakevision.train.loop import LoopConfig, Trainable, TrainResult, run_training

__all__ = ["LoopConfig", "TrainResult", "Trainable", "run_training"]
