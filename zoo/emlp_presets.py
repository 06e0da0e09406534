"""Presets of the `emlp` architecture (zoo/emlp.py) for the EMLP paper's three tasks, and twins.

Each task's group and representations are EMLP's own (`emlp/datasets.py`): O(5) on two vectors
to a scalar (`o5_synthetic`), O(3) on 5 masses and 5 positions to the inertia matrix T(2)
(`inertia`), the Lorentz group O(1,3) on four 4-momenta to a scalar (`particle_scattering`).
The paper's model is 3 EMLP layers of 384 channels; these use 128, so that the shipped weights
stay small (about 100 KB) and an epoch stays within a few times the twin's. Each twin is EMLP's
MLP baseline (`constrained=False`: Dense layers as wide as the hidden features, swish).
"""

from eqzoo.layers.groups import group_from_name
from eqzoo.layers.representations import parse_rep
from eqzoo.zoo.emlp import REFERENCE
from eqzoo.zoo.registry import make_preset, register_presets

CHANNELS = 128
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
    **_pair("o5_synthetic", params=27_378, twin_params=34_561),
    **_pair("inertia", params=22_167, twin_params=36_873),
    **_pair("particle_scattering", params=25_439, twin_params=35_329),
}

register_presets(PRESETS)
