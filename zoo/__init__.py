"""eqzoo model zoo: reference architectures with named presets, built by name.

    from eqzoo import zoo
    zoo.list_models("symmetric_*")
    model = zoo.create_model("symmetric_mlp_digits", width=32)
"""

# Importing an architecture module registers its presets.
from eqzoo.zoo import (  # noqa: F401
    equivariant,
    gcnn,
    graph,
    image,
    interaction,
    symmetric_mlp,
    tied_autoencoder,
)
from eqzoo.zoo.cards import model_card
from eqzoo.zoo.export import ExportVerificationError, export_model
from eqzoo.zoo.registry import (
    create_model,
    get_preset,
    list_architectures,
    list_models,
    pretrained_weights_path,
)

__all__ = [
    "ExportVerificationError",
    "create_model",
    "export_model",
    "get_preset",
    "list_architectures",
    "list_models",
    "model_card",
    "pretrained_weights_path",
]
