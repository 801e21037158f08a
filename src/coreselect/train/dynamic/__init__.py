"""Dynamic data selection in the training loop: :class:`DynamicSampler` and its policies."""

from coreselect.train.dynamic.policies import EpochPlan, InfoBatch, Policy, RandomBudget, Reselect
from coreselect.train.dynamic.sampler import DynamicSampler

__all__ = ["DynamicSampler", "EpochPlan", "InfoBatch", "Policy", "RandomBudget", "Reselect"]
