"""Datasets for coreselect: the benchmark datasets by name, a user's own files, and toy data.

>>> from coreselect.data import load_dataset
>>> ds = load_dataset("four-moons", seed=0)
>>> ds.x_train.shape, ds.num_classes
((2000, 2), 4)
"""

from coreselect.data.arrays import load_array, load_arrays_npz, load_vector
from coreselect.data.dataset import Dataset
from coreselect.data.registry import DATASETS, load_dataset
from coreselect.data.root import default_data_root
from coreselect.data.synthetic import digits, four_moons

__all__ = [
    "DATASETS",
    "Dataset",
    "default_data_root",
    "digits",
    "four_moons",
    "load_array",
    "load_arrays_npz",
    "load_dataset",
    "load_vector",
]
