"""eqzoo model zoo: reference architectures with named presets, built by name.

    from eqzoo import zoo
    zoo.list_models("symmetric_*")
    model = zoo.create_model("symmetric_mlp_digits", width=32)
"""

# Importing an architecture module registers its presets.
from eqzoo.zoo import equivariant, graph, interaction, symmetric_mlp, tied_autoencoder  # noqa: F401
from eqzoo.zoo.registry import (
    create_model,
    get_preset,
    list_architectures,
    list_models,
    pretrained_weights_path,
)

__all__ = [
    "create_model",
    "get_preset",
    "list_architectures",
    "list_models",
    "pretrained_weights_path",
]
