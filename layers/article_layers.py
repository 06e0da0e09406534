"""The article's three class names, as correct thin subclasses of SymmetricDense.

Code written against the article (`../shared/seed/`) runs unchanged with these, and right: the
article's versions fail on call (lower-triangular), take thousands of times longer than Dense
(flat vector) or are not symmetric at all (masked). Each keeps the article's constructor
`(units, activation=None)` and fixes its parametrization. The lower-triangular and flat-vector
examples both mean `"packed"`: the second is the first under another name.
"""

import keras

from eqzoo.layers.symmetric_dense import SymmetricDense


class _ArticleLayer(SymmetricDense):
    PARAMETRIZATION = None

    def __init__(self, units, activation=None, **kwargs):
        kwargs.pop("parametrization", None)
        super().__init__(units, activation=activation, parametrization=self.PARAMETRIZATION,
                         **kwargs)

    def get_config(self):
        config = super().get_config()
        del config["parametrization"]
        return config


@keras.saving.register_keras_serializable(package="eqzoo")
class SymmetricDenseLayerLowerTriangular(_ArticleLayer):
    """The article's examples 1 (packed lower triangle, mirrored) and 2 (a flat vector of
    n(n+1)/2 values): `SymmetricDense` with the "packed" parametrization."""

    PARAMETRIZATION = "packed"


@keras.saving.register_keras_serializable(package="eqzoo")
class SymmetricDenseLayerFlatVector(SymmetricDenseLayerLowerTriangular):
    """The article's example 2 by its own name: the same layer as example 1.

    A name, not an alias, because Keras files the weights of a model's layers under the snake-case
    class name: `.keras` files holding it keep loading, and new ones keep the same layout.
    """


@keras.saving.register_keras_serializable(package="eqzoo")
class SymmetricDenseLayerMasked(_ArticleLayer):
    """The article's example 3: an n x n matrix, one triangle mirrored ("triangular")."""

    PARAMETRIZATION = "triangular"
