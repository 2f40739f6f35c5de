"""Keras 3 (torch backend) with WandbMetricsLogger and WandbModelCheckpoint, as wandb's Keras guide shows them."""

import os

os.environ["KERAS_BACKEND"] = "torch"

import keras
import numpy as np

import runship.compat

runship.compat.install_as_wandb()
import wandb  # noqa: E402
from wandb.integration.keras import WandbMetricsLogger, WandbModelCheckpoint  # noqa: E402

keras.utils.set_random_seed(0)
x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
y = (x.sum(axis=1) > 0).astype("float32")
wandb.init(project="keras", config={"epochs": 3})
model = keras.Sequential(
    [keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1, activation="sigmoid")]
)
model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"])
model.fit(
    x,
    y,
    validation_split=0.25,
    epochs=3,
    batch_size=16,
    verbose=0,
    callbacks=[WandbMetricsLogger(), WandbModelCheckpoint("models/model.keras")],
)
print("predictions", model.predict(x[:4], verbose=0).ravel().tolist())
wandb.finish()
