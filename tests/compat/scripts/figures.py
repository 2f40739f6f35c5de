"""matplotlib and plotly figures logged as public scripts do: the pyplot
module, a Figure, wandb.Image(fig), a plotly figure."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import plotly.express as px

import runship as wandb

run = wandb.init(project="figures")
plt.plot([1, 2, 3, 4], [1, 4, 9, 16], label="squares")
plt.ylabel("some interesting numbers")
wandb.log({"chart": plt})
fig, ax = plt.subplots()
ax.plot([0, 1, 2], [2, 1, 0], label="down")
ax.set_title("falling")
wandb.log({"figure": fig, "as_image": wandb.Image(fig, caption="falling")})
wandb.log({"plotly": px.scatter(x=[1, 2, 3], y=[3, 1, 2], title="px")})
run.finish()
