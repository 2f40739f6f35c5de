"""WandbEvalCallback subclassed as wandb's Keras guide shows: a table of
validation inputs, then a table of predictions each epoch (Keras 3, torch backend)."""

import os

os.environ["KERAS_BACKEND"] = "torch"

import keras
import numpy as np

import runship.compat

runship.compat.install_as_wandb()
import wandb  # noqa: E402
from wandb.integration.keras import WandbEvalCallback  # noqa: E402


class PredictionTable(WandbEvalCallback):
    def __init__(self, x, y):
        super().__init__(
            data_table_columns=["idx", "x0", "label"], pred_table_columns=["epoch", "idx", "label", "pred"]
        )
        self.x, self.y = x, y

    def add_ground_truth(self, logs=None):
        for i in range(len(self.x)):
            self.data_table.add_data(i, float(self.x[i, 0]), int(self.y[i]))

    def add_model_predictions(self, epoch, logs=None):
        preds = self.model.predict(self.x, verbose=0)[:, 0]
        for i in range(len(self.x)):
            self.pred_table.add_data(epoch, i, int(self.y[i]), round(float(preds[i]), 4))


keras.utils.set_random_seed(0)
x = np.random.default_rng(0).normal(size=(32, 2)).astype("float32")
y = (x[:, 0] > 0).astype("float32")
wandb.init(project="keras-eval")
model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, activation="sigmoid")])
model.compile(optimizer="adam", loss="binary_crossentropy")
model.fit(x, y, epochs=2, verbose=0, callbacks=[PredictionTable(x[:5], y[:5])])
wandb.finish()
