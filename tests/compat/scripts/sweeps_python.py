"""wandb/examples (5cab887) examples/wandb-sweeps/sweeps-python/sweep.py with its
train_lib.py inlined (wandb.sweep + wandb.agent with a function, a grid over layers).
Changed: tensorflow -> keras 3 on torch (the same tf.keras calls); fashion_mnist.load_data()
(a download) -> synthetic arrays of its shape, 120/30 examples; epochs 5 -> 2, batch_size 30;
init(magic=True) (wandb 0.31's init no longer takes magic) -> WandbMetricsLogger, as wandb's
Keras guide now says; `import wandb` through runship.compat.install_as_wandb()."""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import runship.compat

runship.compat.install_as_wandb()
import wandb  # noqa: E402


def train():
    import keras
    import numpy as np
    from wandb.integration.keras import WandbMetricsLogger

    config_defaults = {"layers": 128}
    wandb.init(config=config_defaults)

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    (train_images, train_labels), (test_images, test_labels) = (
        (rng.integers(0, 256, (120, 28, 28)).astype("uint8"), rng.integers(0, 10, 120)),
        (rng.integers(0, 256, (30, 28, 28)).astype("uint8"), rng.integers(0, 10, 30)),
    )
    train_images = train_images / 255.0
    test_images = test_images / 255.0

    model = keras.Sequential(
        [
            keras.Input((28, 28)),
            keras.layers.Flatten(),
            keras.layers.Dense(wandb.config.layers, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(
        train_images,
        train_labels,
        epochs=2,
        batch_size=30,
        verbose=0,
        validation_data=(test_images, test_labels),
        callbacks=[WandbMetricsLogger()],
    )
    print("params", wandb.config.layers, model.count_params())


if __name__ == "__main__":
    sweep_config = {"method": "grid", "parameters": {"layers": {"values": [32, 64, 96, 128, 256]}}}
    sweep_id = wandb.sweep(sweep_config)
    print("sweep_id", sweep_id)
    wandb.agent(sweep_id, function=train)
