"""What a preset's task means for training: its loss and metrics, and the optimizers by name.

A preset's `metadata["task"]` chooses its loss and metrics, so no model needs code of its own in
the training loop. Classification heads output logits.

    make_loss, metrics = TASK_LOSS_AND_METRICS[preset["metadata"]["task"]]
    model.compile(optimizer=OPTIMIZERS["adam"](3e-3), loss=make_loss(), metrics=metrics)

or, as `train.py` does, with the learning-rate schedule by name: `compile_for_task(model, ...)`.
"""

import keras

TASK_LOSS_AND_METRICS = {
    "classification": (lambda: keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                       ["accuracy"]),
    "regression": (keras.losses.MeanSquaredError, ["mae"]),
    "reconstruction": (keras.losses.MeanSquaredError, ["mae"]),
}
OPTIMIZERS = {
    "adam": lambda learning_rate: keras.optimizers.Adam(learning_rate),
    "adamw": lambda learning_rate: keras.optimizers.AdamW(learning_rate),
    "sgd": lambda learning_rate: keras.optimizers.SGD(learning_rate, momentum=0.9),
}


def compile_for_task(model, task, optimizer, learning_rate, lr_schedule, total_steps):
    """Compiles `model` with the task's loss and metrics and the named optimizer; a "cosine"
    `lr_schedule` decays the learning rate to 0 over `total_steps`, "constant" keeps it."""
    if lr_schedule == "cosine":
        learning_rate = keras.optimizers.schedules.CosineDecay(learning_rate, total_steps)
    make_loss, metrics = TASK_LOSS_AND_METRICS[task]
    model.compile(optimizer=OPTIMIZERS[optimizer](learning_rate), loss=make_loss(),
                  metrics=metrics)
