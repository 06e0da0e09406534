"""The split contract every dataset source keeps, checked once for the registry and for files.

`assert_splits_match_info(splits, batch_size)`: each of the three splits of `datasets.load`'s
`(train, validation, test, info)` holds as many examples as `info` declares, float32 inputs of
`info.input_shape`; classification labels are int32 class ids below `info.num_classes` (and
`info.output_shape` is `(num_classes,)`), other targets float32 of `info.output_shape`; the
training split comes in batches of `batch_size`.
"""

import numpy as np


def collect(ds):
    """A batched `(x, y)` dataset as two NumPy arrays (`x` a dict of arrays for named inputs)."""
    xs, ys = zip(*[(x, y.numpy()) for x, y in ds], strict=True)
    if isinstance(xs[0], dict):
        return {k: np.concatenate([x[k].numpy() for x in xs]) for k in xs[0]}, np.concatenate(ys)
    return np.concatenate([x.numpy() for x in xs]), np.concatenate(ys)


def assert_splits_match_info(splits, batch_size):
    """Returns the collected `(x, y)` of the train, validation and test splits, in that order."""
    train, validation, test, info = splits[:4]
    sizes = [info.train_size, info.validation_size, info.test_size]
    arrays = []
    for ds, size in zip([train, validation, test], sizes, strict=True):
        x, y = collect(ds)
        if isinstance(info.input_shape, dict):
            assert sorted(x) == sorted(info.input_shape)
            for key, shape in info.input_shape.items():
                assert x[key].dtype == np.float32 and x[key].shape == (size, *shape)
        else:
            assert x.dtype == np.float32 and x.shape == (size, *info.input_shape)
        if info.task == "classification":
            assert y.dtype == np.int32 and y.shape == (size,)
            assert info.output_shape == (info.num_classes,)
            assert 0 <= y.min() and y.max() < info.num_classes
        else:
            assert y.dtype == np.float32 and y.shape == (size, *info.output_shape)
        arrays.append((x, y))
    first = next(iter(train))[0]
    assert (first[next(iter(first))] if isinstance(first, dict) else first).shape[0] == batch_size
    return arrays
