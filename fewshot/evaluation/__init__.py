"""Evaluation over test episodes, inductive or transductive."""

from .evaluate import EvalResult, ci95, embed_split, episode_labels, evaluate

__all__ = ["EvalResult", "ci95", "embed_split", "episode_labels", "evaluate"]
