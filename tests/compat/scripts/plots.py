"""wandb.plot.* as public examples use it (wandb's docs, the "log custom charts" guide)."""

import numpy as np

import runship as wandb

run = wandb.init(project="plots")
data = [[x, x * x] for x in range(10)]
table = wandb.Table(data=data, columns=["x", "y"])
y_true = [0, 1, 2, 2, 1, 0]
probs = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.3, 0.3, 0.4], [0.6, 0.3, 0.1], [0.5, 0.4, 0.1]])
wandb.log(
    {
        "custom_line": wandb.plot.line(table, "x", "y", title="Custom Y vs X Line Plot"),
        "custom_scatter": wandb.plot.scatter(table, "x", "y", title="Custom Y vs X Scatter Plot"),
        "custom_bar": wandb.plot.bar(
            wandb.Table(data=[["a", 3], ["b", 5]], columns=["label", "value"]), "label", "value", title="Bars"
        ),
        "custom_hist": wandb.plot.histogram(
            wandb.Table(data=[[v] for v in (1, 2, 2, 3)], columns=["scores"]), "scores"
        ),
        "series": wandb.plot.line_series(
            xs=[0, 1, 2], ys=[[10, 20, 30], [30, 20, 10]], keys=["up", "down"], title="two"
        ),
        "conf_mat": wandb.plot.confusion_matrix(probs=probs, y_true=y_true, class_names=["cat", "dog", "bird"]),
        "roc": wandb.plot.roc_curve(y_true, probs, labels=["cat", "dog", "bird"]),
        "pr": wandb.plot.pr_curve(y_true, probs, labels=["cat", "dog", "bird"], classes_to_plot=[0]),
    }
)
run.finish()
