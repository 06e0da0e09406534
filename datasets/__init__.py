"""eqzoo dataset adapters: scikit-learn, tensorflow-datasets, synthetic symmetric tasks, and
your own data ("csv:PATH", "npz:PATH", "images:DIR", "pointcloud:PATH", or `from_arrays(x, y)`,
`from_point_clouds(arrays)`).

`load(name, batch_size=..., seed=...)` returns `Splits(train, validation, test, info)`; see
`datasets.registry.load` for every argument and `list_datasets()` for the names.
"""

from eqzoo.native_logs import tensorflow_start_up_filtered

# First: TensorFlow's C++ start-up lines (oneDNN, CUDA probing) are noise, not warnings; every
# other line still shows, and TF_CPP_MIN_LOG_LEVEL=0 shows them all (eqzoo/native_logs.py).
with tensorflow_start_up_filtered():
    import keras  # noqa: F401
    import tensorflow  # noqa: F401

# Importing the adapters registers their names.
from eqzoo.datasets import (  # noqa: F401
    emlp_tasks,
    files,
    image_symmetry,
    images,
    nbody,
    point_clouds,
    sklearn_sets,
    synthetic,
    tfds_sets,
)
from eqzoo.datasets.arrays import DataFileNotFoundError, from_arrays
from eqzoo.datasets.info import DatasetInfo, PointCloudSymmetry, Splits, Symmetry
from eqzoo.datasets.point_clouds import from_point_clouds
from eqzoo.datasets.registry import (
    UnknownDatasetError,
    describe,
    get_info,
    list_datasets,
    load,
    register,
)
from eqzoo.datasets.tfds_sets import DatasetNotPreparedError

__all__ = [
    "DataFileNotFoundError",
    "DatasetInfo",
    "DatasetNotPreparedError",
    "PointCloudSymmetry",
    "Splits",
    "Symmetry",
    "UnknownDatasetError",
    "describe",
    "from_arrays",
    "from_point_clouds",
    "get_info",
    "list_datasets",
    "load",
    "register",
]
