"""The article's three class names, as correct thin subclasses of SymmetricDense.

Code written against the article (`../shared/seed/`) runs unchanged with these, and right: the
article's versions fail on call (lower-triangular), take thousands of times longer than Dense
(flat vector) or are not symmetric at all (masked). Each keeps the article's constructor
`(units, activation=None)` and fixes its parametrization.
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
    """The article's example 1: packed lower triangle, mirrored (`SymmetricDense`, "packed")."""

    PARAMETRIZATION = "packed"


@keras.saving.register_keras_serializable(package="eqzoo")
class SymmetricDenseLayerFlatVector(_ArticleLayer):
    """The article's example 2: a flat vector of n(n+1)/2 values (`SymmetricDense`, "packed")."""

    PARAMETRIZATION = "packed"


@keras.saving.register_keras_serializable(package="eqzoo")
class SymmetricDenseLayerMasked(_ArticleLayer):
    """The article's example 3: an n x n matrix, one triangle mirrored ("triangular")."""

    PARAMETRIZATION = "triangular"
