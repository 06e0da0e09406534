"""eqzoo dataset adapters: scikit-learn, tensorflow-datasets and synthetic symmetric tasks.

`load(name, batch_size=..., seed=...)` returns `Splits(train, validation, test, info)`; see
`datasets.registry.load` for every argument and `list_datasets()` for the names.
"""

# Hugging Face's `datasets` is also a top-level package named `datasets`; whoever imports this one
# can check the marker to be sure which of the two they got.
EQZOO_DATASETS = True

from datasets.info import DatasetInfo, Splits, Symmetry  # noqa: E402
from datasets.registry import (  # noqa: E402
    UnknownDatasetError,
    describe,
    get_info,
    list_datasets,
    load,
    register,
)

# Importing the adapters registers their names.
from datasets import sklearn_sets, synthetic, tfds_sets  # noqa: E402, F401
from datasets.tfds_sets import DatasetNotPreparedError  # noqa: E402

__all__ = [
    "EQZOO_DATASETS",
    "DatasetInfo",
    "DatasetNotPreparedError",
    "Splits",
    "Symmetry",
    "UnknownDatasetError",
    "describe",
    "get_info",
    "list_datasets",
    "load",
    "register",
]
