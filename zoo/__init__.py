"""eqzoo model zoo: reference architectures with named presets, built by name.

    from eqzoo import zoo
    zoo.list_models("symmetric_*")
    model = zoo.create_model("symmetric_mlp_digits", width=32)
"""

from eqzoo.native_logs import tensorflow_start_up_filtered

# First: TensorFlow's C++ start-up lines (oneDNN, CUDA probing) are noise, not warnings; every
# other line still shows, and TF_CPP_MIN_LOG_LEVEL=0 shows them all (eqzoo/native_logs.py).
with tensorflow_start_up_filtered():
    import keras  # noqa: F401

# Importing an architecture module registers its presets.
from eqzoo.zoo import (  # noqa: F401
    egnn,
    emlp,
    emlp_presets,
    equivariant,
    gcnn,
    graph,
    image,
    interaction,
    symmetric_mlp,
    tied_autoencoder,
)
from eqzoo.zoo.cards import model_card
from eqzoo.zoo.export import ExportVerificationError, export_model, export_run
from eqzoo.zoo.registry import (
    UnknownModelError,
    architecture_arguments,
    check_arguments,
    create_model,
    estimate_memory,
    get_preset,
    list_architectures,
    list_models,
    pretrained_weights_path,
    rename_run_config,
)

__all__ = [
    "ExportVerificationError",
    "UnknownModelError",
    "architecture_arguments",
    "check_arguments",
    "create_model",
    "estimate_memory",
    "export_model",
    "export_run",
    "get_preset",
    "list_architectures",
    "list_models",
    "model_card",
    "pretrained_weights_path",
    "rename_run_config",
]
