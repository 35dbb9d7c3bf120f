"""The engine: training, evaluation and prediction around the model (no model code here)."""

from mdfnet.engine.evaluate import evaluate_model, evaluate_run, predict_detections
from mdfnet.engine.predict import Predictor
from mdfnet.engine.train import TrainingDiverged, train

__all__ = ["Predictor", "TrainingDiverged", "evaluate_model", "evaluate_run", "predict_detections", "train"]
