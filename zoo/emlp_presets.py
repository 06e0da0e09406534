"""Presets of the `emlp` architecture (zoo/emlp.py) for the EMLP paper's three tasks, and twins.

Each task's group and representations are EMLP's own (`emlp/datasets.py`): O(5) on two vectors
to a scalar (`o5_synthetic`), O(3) on 5 masses and 5 positions to the inertia matrix T(2)
(`inertia`), the Lorentz group O(1,3) on four 4-momenta to a scalar (`particle_scattering`).
The model is the paper's: 3 EMLP layers of 384 channels (at 128 channels the inertia fit stalls
near an MSE of 0.7, against 0.14 at 384: benchmarks/results/emlp_tasks.md). Each twin is EMLP's
MLP baseline (`constrained=False`: Dense layers as wide as the hidden features, swish).
"""

from eqzoo.layers.groups import group_from_name
from eqzoo.layers.representations import parse_rep
from eqzoo.zoo.emlp import REFERENCE
from eqzoo.zoo.registry import make_preset, register_presets, shipped_weights

CHANNELS = 384
TRAIN_FLAGS = "--epochs 100 --lr-schedule cosine"  # what the shipped weights were trained with
# task -> (group, rep_in, rep_out, what the input and output are)
TASKS = {
    "o5_synthetic": ("O(5)", "2*V", "S", "two vectors of R^5 to an invariant scalar"),
    "inertia": ("O(3)", "5*S + 5*V", "T2",
                "5 masses and 5 positions in R^3 to the inertia matrix"),
    "particle_scattering": ("O(1,3)", "4*V", "S",
                            "four 4-momenta to the Lorentz-invariant scattering term"),
}


def _pair(task, *, params, twin_params, weights=None):
    """The EMLP preset of `task` and its MLP twin, as `{name: preset}`."""
    group, rep_in, rep_out, what = TASKS[task]
    config = {"group": group, "rep_in": rep_in, "rep_out": rep_out, "channels": CHANNELS}
    g = group_from_name(group)
    common = {"architecture": "emlp", "task": "regression", "datasets": [task],
              "reference": REFERENCE}
    name, twin = f"emlp_{task}", f"mlp_{task}"
    return {
        name: make_preset(
            **common, config=config, params=params, twin=twin, constraint="equivariant",
            description=f"{group}-equivariant EMLP, 3 layers of {CHANNELS} channels: {what}",
            equivariance=(parse_rep(rep_in, g), parse_rep(rep_out, g)), weights=weights),
        twin: make_preset(
            **common, config={**config, "constrained": False}, params=twin_params, twin=name,
            constraint=None,
            description=f"MLP twin of {name} (EMLP's baseline): 3 swish Dense layers as wide "
                        "as its hidden features"),
    }


PRESETS = {
    # Each `weights` is the final weights of the preset's train.py command (the dataset's
    # default 1,000 training examples, 100 epochs with a cosine schedule), which
    # tests/test_pretrained.py reproduces; test/loss is the MSE of standardised targets, times
    # the target scale squared the raw MSE of the EMLP paper's tables (x 34.91 for o5_synthetic:
    # 0.00160; x 30.26 for inertia: 0.0858; x 0.674 for particle_scattering: 0.000315).
    **_pair("o5_synthetic", params=206_004, twin_params=300_289, weights=shipped_weights(
        preset="emlp_o5_synthetic", dataset="o5_synthetic", train_flags=TRAIN_FLAGS,
        sha256="7fa6feced509e9ea6862c59a0fb79c801b74c02cfe4abd4d9d35d445955e46a9",
        test_metrics={"test/loss": 4.58858e-05, "test/mae": 0.0047394},
        weights_digest="5f2c7b7f182e9e0870975b4a9d8c4deb95674c50e85325e8a0321c360d1c4725")),
    **_pair("inertia", params=269_259, twin_params=307_209, weights=shipped_weights(
        preset="emlp_inertia", dataset="inertia", train_flags=TRAIN_FLAGS,
        sha256="8a7312c0e4ffcb512565e5e30c475c92863f6a113cea53799de5fbfc969809d0",
        test_metrics={"test/loss": 0.00283475, "test/mae": 0.0302685},
        weights_digest="25dd6b18a47c22676e2e4a7e27345dfb357fa9fe0866319d4b20d12a1e6c569d")),
    **_pair("particle_scattering", params=149_663, twin_params=302_593, weights=shipped_weights(
        preset="emlp_particle_scattering", dataset="particle_scattering", train_flags=TRAIN_FLAGS,
        sha256="3581c1755ba23508a810101bd3cadf2454807589cdd7f0ef3a10322f2eb81ecb",
        test_metrics={"test/loss": 0.000467933, "test/mae": 0.00997584},
        weights_digest="5139c44534aea18e1cadf38359a2d9b5c744029c739e260dd0a857d3dfb9a309")),
}

register_presets(PRESETS)
