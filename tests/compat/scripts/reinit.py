import runship as wandb

first = wandb.init(project="reinit", name="first")
first.log({"a": 1})
same = wandb.init(project="reinit", name="ignored")  # default: returns the active run
assert same is first
second = wandb.init(project="reinit", name="second", reinit="finish_previous")
second.log({"a": 2})
side = wandb.init(project="reinit", name="side", reinit="create_new")
side.log({"b": 3})
assert wandb.run is second
side.finish()
second.finish()
