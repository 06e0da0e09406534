"""W&B for a run: online when logged in, else offline; a failure downgrades, never stops training.

    run = start_wandb(config, folder)          # None when disabled or when W&B cannot start
    callbacks.append(WandbEpochLogger())       # train/*, val/*, symmetry/*, ... per epoch
    finish_run(run, config, summary, folder, history)

Every W&B call goes through `wandb_call`, which turns a failure into a one-line warning. The
final and the best model are logged as versions of one `model` artifact (`log_model_artifacts`,
read back by `zoo.create_model(name, weights="wandb:...")`, see `eqzoo.zoo.artifacts`).
"""

import contextlib
import io
import os

import keras
import wandb
from wandb.integration.keras import WandbMetricsLogger

from eqzoo.messages import first_line, warn
from eqzoo.zoo.artifacts import weights_digest

WANDB_INIT_TIMEOUT = float(os.environ.get("EQZOO_WANDB_INIT_TIMEOUT", 20))


def wandb_logged_in():
    if os.environ.get("WANDB_API_KEY"):
        return True
    with contextlib.redirect_stderr(io.StringIO()):  # wandb.api warns that it is deprecated
        try:
            return bool(wandb.api.api_key)
        except Exception:
            return False


def start_wandb(config, folder, rewind=None):
    """The run's W&B run (None when disabled or W&B cannot start), resumed under the run's id;
    `rewind`: the epoch of the checkpoint restored, when W&B's history holds later epochs that
    are trained again (W&B's `resume_from` then rewinds the run to that step: its steps are
    epochs, so each epoch stays in its history once)."""
    mode = config["wandb_mode"]
    if mode == "auto":
        env_mode = os.environ.get("WANDB_MODE", "").strip().lower()
        mode = {"dryrun": "offline", "run": "online"}.get(env_mode, env_mode) or (
            "online" if wandb_logged_in() else "offline")
        if mode not in ("online", "offline", "disabled"):
            warn(f"W&B: ignoring WANDB_MODE={env_mode!r} (expected online, offline or "
                 "disabled); offline.")
            mode = "offline"
    elif mode == "online" and not wandb_logged_in():
        warn("W&B: online was asked for, but no API key is configured (`wandb login`); offline.")
        mode = "offline"
    if mode == "disabled":
        return None
    for attempt in dict.fromkeys([mode, "offline"]):
        try:
            run = wandb.init(
                project=config["wandb_project"], entity=config["wandb_entity"],
                group=config["wandb_group"], tags=config["wandb_tags"] or None,
                id=config["run_id"], dir=folder, config=config, mode=attempt,
                **({"resume": "allow"} if rewind is None else
                   {"resume_from": f"{config['run_id']}?_step={rewind}"}),
                settings=wandb.Settings(init_timeout=WANDB_INIT_TIMEOUT, silent=True))
        except Exception as error:  # no network, a server error, a timeout, a bad entity...
            then = "trying offline" if attempt == "online" else "continuing without W&B"
            warn(f"W&B {attempt} failed ({first_line(error)}); {then}.")
            with contextlib.suppress(Exception):
                wandb.teardown()  # the failed run would keep its id busy
            continue
        if attempt == "offline":
            print(f"W&B offline: sync later with `wandb sync {os.path.join(folder, 'wandb')}`")
        else:
            print(f"W&B: {getattr(run, 'url', None) or 'online'}")
        return run
    return None


def wandb_call(what, function, *args, **kwargs):
    try:
        function(*args, **kwargs)
    except Exception as error:
        warn(f"W&B {what} failed ({first_line(error)}); training goes on.")


def wandb_name(key):
    """Keras log names to W&B's: loss -> train/loss, val_loss -> val/loss; a/b stays."""
    if "/" in key:
        return key
    return f"val/{key[4:]}" if key.startswith("val_") else f"train/{key}"


class WandbEpochLogger(WandbMetricsLogger):
    """W&B's Keras logger, with the names train/*, val/*, symmetry/*, equivariance/*, time/*
    against the epoch, which is also W&B's step (so a resumed run logs each epoch once)."""

    def __init__(self):
        super().__init__(log_freq="epoch")
        for prefix in ("train", "val", "test", "symmetry", "equivariance", "time"):
            wandb.define_metric(f"{prefix}/*", step_metric="epoch")

    def on_epoch_end(self, epoch, logs=None):
        logs = {wandb_name(key): value for key, value in (logs or {}).items()}
        logs["epoch"] = epoch + 1
        learning_rate = self._get_lr()
        if learning_rate is not None:
            logs["train/learning_rate"] = learning_rate
        wandb_call("log", wandb.log, logs, step=epoch + 1)



def finish_run(run, config, summary, folder, history):
    """The test metrics (evaluated once, at the end, never to choose epochs), the summary, the
    model artifacts and the end of a finished run."""
    tests = {key: value for key, value in summary.items() if key.startswith("test/")}
    wandb_call("log", run.log, {"epoch": summary["epochs_completed"], **tests})
    wandb_call("summary", run.summary.update, summary)
    wandb_call("model artifacts", log_model_artifacts, run, config, summary, folder, history)
    wandb_call("finish", run.finish, exit_code=0)


def log_model_artifacts(run, config, summary, folder, history):
    """Logs `folder`'s best.keras, then its model.keras, as versions of the artifact
    `config["model"]`; the final one is logged last so that W&B's `latest` lands on it.

    Args:
        run: the W&B run.
        config: the resolved config, as config.json holds it.
        summary: the final metrics, as metrics.json holds them (with `weights_sha256`).
        folder: the run folder.
        history: history.csv's rows, one dict per epoch (the best one's `val_*` go with best).
    """
    best_path = os.path.join(folder, "best.keras")
    scored = [row for row in history if row.get("val_loss")]
    if os.path.exists(best_path) and scored:
        row = min(scored, key=lambda r: float(r["val_loss"]))
        metrics = {f"val/{key[4:]}": float(value) for key, value in row.items()
                   if key.startswith("val_") and value}
        best = keras.saving.load_model(best_path, compile=False)
        _log(run, config, best_path, ["best"], {
            "role": "best", "epoch": int(row["epoch"]) + 1, "metrics": metrics,
            "weights_sha256": weights_digest(best)})
    _log(run, config, os.path.join(folder, "model.keras"),
         ["latest", f"seed-{config['seed']}"],
         {"role": "final", "epoch": summary["epochs_completed"], "metrics": summary,
          "weights_sha256": summary["weights_sha256"]})


def _log(run, config, model_path, aliases, metadata):
    artifact = wandb.Artifact(
        config["model"], type="model", metadata={"config": config, **metadata},
        description=f"{metadata['role']} model of run {config['run_id']} ({config['model']} on "
                    f"{config['dataset']}, seed {config['seed']})")
    # "immutable": referenced in place (by absolute path, so `wandb sync` may run from any
    # directory), not copied, so an offline run folder holds what `wandb sync` uploads;
    # train.py never rewrites these files after the run.
    model_path = os.path.abspath(model_path)
    artifact.add_file(model_path, name="model.keras", policy="immutable")
    artifact.add_file(os.path.join(os.path.dirname(model_path), "config.json"),
                      name="config.json", policy="immutable")
    run.log_artifact(artifact, aliases=aliases)
