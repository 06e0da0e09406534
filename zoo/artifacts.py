"""A run's trained models back into the zoo, and the digest that identifies their weights.

train.py logs two versions of one W&B artifact of type `model`, named after the run's preset
(`eqzoo.wandb_logging.log_model_artifacts`): its best model (alias `best`) and its final model
(aliases `latest` and `seed-<n>`). Each holds `model.keras` and the run's `config.json`; its
metadata holds the resolved config, that model's metrics and `weights_sha256`, the digest
`weights_digest` computes.

`zoo.create_model(name, weights=...)` reads them back through `load_trained_weights`: a run
folder (`"runs/<id>"`, its `model.keras`), a `.keras` file, or `"wandb:ENTITY/PROJECT/NAME:ALIAS"`.
"""

import hashlib
import json
import os
import re
import socket
import urllib.parse
import urllib.request

import keras
import numpy as np

from eqzoo.messages import first_line
from eqzoo.zoo.arguments import renamed_quietly

WANDB_PREFIX = "wandb:"
WANDB_REFERENCE = re.compile(r"[^/:\s]+/[^/:\s]+/[^/:\s]+:[^/:\s]+")
EXPECTED_WEIGHTS = ("None, 'pretrained', a run folder such as 'runs/<id>', a .keras file or "
                    "'wandb:ENTITY/PROJECT/NAME:ALIAS'")
WANDB_CONNECT_TIMEOUT = 5.0  # seconds to reach the W&B server before giving up


def weights_digest(model):
    """SHA-256 of every weight's bytes: equal on all workers of a synchronous run."""
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight)).tobytes())
    return digest.hexdigest()


# ----------------------------------------------------------------------------------------------
# Loading, for zoo.create_model
# ----------------------------------------------------------------------------------------------
def load_trained_weights(model, name, weights, architecture):
    """Loads trained weights into `model`, built from preset `name` (of `architecture`), after
    checking that they come from a run of that preset and that every weight's name and shape
    matches."""
    source = weights = os.fspath(weights)
    expected_digest = None
    if weights.startswith(WANDB_PREFIX):
        weights, expected_digest = download_artifact(weights)
    path = os.fspath(weights)
    if os.path.isdir(path):
        folder, file = path, os.path.join(path, "model.keras")
    elif path.endswith(".keras"):
        folder, file = os.path.dirname(path), path
    elif os.sep in path or "/" in path:
        raise FileNotFoundError(f"weights={source!r}: no run folder there (expected a folder "
                                "such as runs/<id>, or a .keras file).")
    else:
        raise ValueError(f"Invalid value for argument `weights`: expected {EXPECTED_WEIGHTS}. "
                         f"Received: weights={source!r}")
    if not os.path.isfile(file):
        raise FileNotFoundError(f"weights={source!r}: no model file at {file} (a run folder "
                                "holds model.keras once its run has finished).")
    run_config = _read_json(os.path.join(folder, "config.json"))
    trained_preset = run_config.get("model")
    if trained_preset is not None and trained_preset != name:
        raise ValueError(f"weights={source!r} were trained as preset {trained_preset!r}, not "
                         f"{name!r}: load them with "
                         f"{_call(trained_preset, source, run_config.get('overrides'))}.")
    trained = keras.saving.load_model(file, compile=False)
    expected = [(w.path, tuple(w.shape)) for w in model.weights]
    received = [(w.path, tuple(w.shape)) for w in trained.weights]
    if expected != received:
        hint = _overrides_hint(name, architecture, source, run_config.get("overrides"))
        raise ValueError(f"weights={source!r} do not fit preset {name!r}: "
                         f"{_first_difference(received, expected, name)}{hint}.")
    model.set_weights(trained.get_weights())
    if expected_digest is None and os.path.basename(file) == "model.keras":
        expected_digest = _read_json(os.path.join(folder, "metrics.json")).get("weights_sha256")
    if expected_digest is not None and weights_digest(model) != expected_digest:
        raise ValueError(f"weights={source!r}: {file} holds weights with SHA-256 "
                         f"{weights_digest(model)}, but its run recorded {expected_digest}: "
                         "the file changed after the run.")
    return model


def _first_difference(received, expected, name):
    if len(received) != len(expected):
        return f"the file holds {len(received)} weights, {name!r} has {len(expected)}"
    for (path, shape), (want_path, want_shape) in zip(received, expected, strict=True):
        if path != want_path:
            return f"the file holds weight {path!r} where {name!r} has {want_path!r}"
        if shape != want_shape:
            return (f"weight {path!r} has shape {shape} in the file but {want_shape} in "
                    f"{name!r}")
    return "the weights differ"


def _overrides_hint(name, architecture, source, overrides):
    if not overrides:
        return ""
    current = renamed_quietly(architecture, overrides)  # an earlier run's spellings, as now spelt
    return f"; its run overrode {overrides}: pass the same, {_call(name, source, current)}"


def _call(name, source, overrides):
    given = "".join(f"{key}={value!r}, " for key, value in (overrides or {}).items())
    return f"zoo.create_model({name!r}, {given}weights={source!r})"


def download_artifact(reference):
    """Downloads the model artifact `wandb:ENTITY/PROJECT/NAME:ALIAS`; returns (folder, the
    recorded weights SHA-256). Fails at once, without a network call, when W&B is offline."""
    spec = reference[len(WANDB_PREFIX):]
    if not WANDB_REFERENCE.fullmatch(spec):
        raise ValueError(f"Invalid W&B artifact reference: expected "
                         f"'wandb:ENTITY/PROJECT/NAME:ALIAS', e.g. "
                         f"'wandb:me/eqzoo/symmetric_mlp_digits:best'. Received: {reference!r}")
    fallback = ("download it where you are online (`wandb artifact get " + spec +
                "`) and pass its folder as weights=")
    mode = os.environ.get("WANDB_MODE", "").strip().lower()
    if mode in ("offline", "dryrun", "disabled"):
        raise ConnectionError(f"weights={reference!r} needs W&B online, but WANDB_MODE={mode}; "
                              f"unset it, or {fallback}")
    import wandb

    base_url = wandb.env.get_base_url(wandb.Settings().base_url)
    api_key = os.environ.get("WANDB_API_KEY") or _netrc_api_key(base_url)
    if not api_key:
        raise ConnectionError(f"weights={reference!r} needs a W&B API key, and none is configured "
                              f"(`wandb login` or WANDB_API_KEY); or {fallback}")
    url = urllib.parse.urlparse(base_url)
    port = url.port or (443 if url.scheme == "https" else 80)
    # Through a proxy the server is not reached directly; W&B's own timeout then applies.
    direct = (url.scheme not in urllib.request.getproxies()
              or urllib.request.proxy_bypass(url.hostname))
    try:
        if direct:
            socket.create_connection((url.hostname, port), timeout=WANDB_CONNECT_TIMEOUT).close()
    except OSError as error:
        raise ConnectionError(f"weights={reference!r}: cannot reach W&B at {base_url} "
                              f"({error}); {fallback}") from None
    try:
        artifact = wandb.Api(api_key=api_key, timeout=30).artifact(spec, type="model")
        folder = artifact.download()
    except Exception as error:
        raise ValueError(f"weights={reference!r}: W&B could not fetch the artifact "
                         f"({first_line(error)}).") from None
    return folder, artifact.metadata.get("weights_sha256")


def _netrc_api_key(base_url):
    """The key `wandb login` stored for `base_url`, or None."""
    try:
        from wandb.sdk.lib import wbauth

        return wbauth.read_netrc_auth(host=base_url)
    except Exception:  # an unreadable netrc means no key, as for wandb itself
        return None


def _read_json(path):
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)
