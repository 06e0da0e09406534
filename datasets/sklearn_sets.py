"""scikit-learn's bundled datasets (no network): digits, iris, wine, breast_cancer, diabetes.

Splits are drawn by `train_test_split` from the seed, stratified by class for classification.
Whatever is fitted (feature scaling, target scaling) is fitted on the training split alone and
then applied to all three, so no statistic of validation or test data reaches training.
"""

import numpy as np
from sklearn import datasets as sk_datasets
from sklearn.preprocessing import StandardScaler

from eqzoo.datasets import pipeline
from eqzoo.datasets.info import DatasetInfo, Splits
from eqzoo.datasets.registry import register, reject_options, reject_tfds_arguments

# name: (loader, task, description)
SETS = {
    "digits": (
        sk_datasets.load_digits,
        "classification",
        "1797 handwritten digits as 8x8 grey images, 10 classes (the embedded default dataset).",
    ),
    "iris": (
        sk_datasets.load_iris,
        "classification",
        "150 iris flowers, 4 measurements, 3 species.",
    ),
    "wine": (
        sk_datasets.load_wine,
        "classification",
        "178 wines, 13 chemical measurements, 3 cultivars.",
    ),
    "breast_cancer": (
        sk_datasets.load_breast_cancer,
        "classification",
        "569 breast-mass biopsies, 30 cell-nucleus features, malignant or benign.",
    ),
    "diabetes": (
        # `scaled=False`: the default scaling uses statistics of all 442 patients, test ones too.
        lambda: sk_datasets.load_diabetes(scaled=False),
        "regression",
        "442 diabetes patients, 10 baseline variables; target: disease progression after one year.",
    ),
}


def make_arrays(name, *, seed, validation_fraction, test_fraction, train_size=None):
    """The scaled numpy splits of one set and the `DatasetInfo` fields that describe them.

    `train_size` keeps that many training examples (stratified), before anything is fitted.
    """
    loader, task, description = SETS[name]
    bunch = loader()
    y = bunch.target
    if name == "digits":
        x = bunch.images[..., None]
    else:
        x = bunch.data
    indices = pipeline.split_indices(
        len(x), validation_fraction, test_fraction, seed,
        name=name, stratify=y if task == "classification" else None,
    )
    indices = pipeline.subsample_train(
        indices, train_size, seed, name=name, stratify=y if task == "classification" else None
    )
    xs = {split: x[idx] for split, idx in indices.items()}
    ys = {split: y[idx] for split, idx in indices.items()}

    if name == "digits":
        # Pixels are counts in 0..16: dividing by the fixed maximum fits nothing, so leaks nothing.
        xs = {split: (v / 16.0).astype(np.float32) for split, v in xs.items()}
        preprocessing = "pixel values divided by 16, their fixed maximum (no fitted statistics)"
    else:
        scaler = StandardScaler().fit(xs["train"])
        xs = {split: scaler.transform(v).astype(np.float32) for split, v in xs.items()}
        preprocessing = "features standardized by the training split's mean and standard deviation"

    if task == "classification":
        ys = {split: v.astype(np.int32) for split, v in ys.items()}
        num_classes, output_shape = int(len(np.unique(y))), (int(len(np.unique(y))),)
    else:
        target_scaler = StandardScaler().fit(ys["train"][:, None])
        ys = {
            split: target_scaler.transform(v[:, None]).astype(np.float32) for split, v in ys.items()
        }
        num_classes, output_shape = None, (1,)
        preprocessing += (
            "; target standardized with the training split's mean "
            f"{target_scaler.mean_[0]:.4g} and standard deviation {target_scaler.scale_[0]:.4g}"
        )

    fields = dict(
        name=name,
        task=task,
        structure="image" if name == "digits" else "vector",
        input_shape=tuple(int(d) for d in x.shape[1:]),
        output_shape=output_shape,
        num_classes=num_classes,
        train_size=len(indices["train"]),
        validation_size=len(indices["validation"]),
        test_size=len(indices["test"]),
        symmetry=None,
        source=f"scikit-learn load_{name}",
        description=description,
        preprocessing=preprocessing,
    )
    return pipeline.ArraySplits(xs, ys, indices), fields


def load(name, *, batch_size, seed, validation_fraction, test_fraction, reconstruction,
         data_dir, download, **options):
    reject_tfds_arguments(name, data_dir, download)
    reject_options(name, options, allowed=("train_size",))
    arrays, fields = make_arrays(
        name,
        seed=seed,
        train_size=options.get("train_size"),
        validation_fraction=validation_fraction or pipeline.DEFAULT_VALIDATION_FRACTION,
        test_fraction=test_fraction or pipeline.DEFAULT_TEST_FRACTION,
    )
    info = DatasetInfo(**fields)
    if reconstruction:
        arrays, info = pipeline.as_reconstruction(arrays, info)
    return Splits(*pipeline.to_pipelines(arrays, batch_size=batch_size, seed=seed), info)


for _name, (_, _task, _description) in SETS.items():
    register(_name, load, source="scikit-learn", description=_description)
