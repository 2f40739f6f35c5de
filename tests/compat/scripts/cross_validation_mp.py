"""wandb/examples (5cab887) examples/wandb-sweeps/sweeps-cross-validation/train-cross-validation.py:
k-fold cross-validation, one worker process (multiprocessing) and one run per fold, grouped under
the parent run's sweep id, the parent logging the mean of the folds' val_accuracy.
Changed: get_sweep_url() (gone in wandb 0.31) -> getattr(run, "sweep_url", None); get_project_url()
-> getattr(run, "project_url", None); sweep_run.save() dropped (wandb 0.31's save needs a glob_str);
the folds' val_accuracy printed; formatted by ruff. Left as is: reset_wandb_env(), which deletes the
workers' WANDB_MODE, so that under wandb offline they ask for an API key and the parent waits forever."""

# ruff: noqa: B007, UP032  (the public code as written)
import collections
import multiprocessing
import os
import random

import runship as wandb

Worker = collections.namedtuple("Worker", ("queue", "process"))
WorkerInitData = collections.namedtuple("WorkerInitData", ("num", "sweep_id", "sweep_run_name", "config"))
WorkerDoneData = collections.namedtuple("WorkerDoneData", ("val_accuracy"))


def reset_wandb_env():
    exclude = {
        "WANDB_PROJECT",
        "WANDB_ENTITY",
        "WANDB_API_KEY",
    }
    for k, v in os.environ.items():
        if k.startswith("WANDB_") and k not in exclude:
            del os.environ[k]


def train(sweep_q, worker_q):
    reset_wandb_env()
    worker_data = worker_q.get()
    run_name = "{}-{}".format(worker_data.sweep_run_name, worker_data.num)
    config = worker_data.config
    run = wandb.init(
        group=worker_data.sweep_id,
        job_type=worker_data.sweep_run_name,
        name=run_name,
        config=config,
    )
    val_accuracy = random.random()
    run.log(dict(val_accuracy=val_accuracy))
    wandb.join()
    sweep_q.put(WorkerDoneData(val_accuracy=val_accuracy))


def main():
    num_folds = 5

    # Spin up workers before calling wandb.init()
    # Workers will be blocked on a queue waiting to start
    sweep_q = multiprocessing.Queue()
    workers = []
    for num in range(num_folds):
        q = multiprocessing.Queue()
        p = multiprocessing.Process(target=train, kwargs=dict(sweep_q=sweep_q, worker_q=q))
        p.start()
        workers.append(Worker(queue=q, process=p))

    sweep_run = wandb.init()
    sweep_id = sweep_run.sweep_id or "unknown"
    sweep_url = getattr(sweep_run, "sweep_url", None)
    project_url = getattr(sweep_run, "project_url", None)
    sweep_group_url = "{}/groups/{}".format(project_url, sweep_id)
    sweep_run.notes = sweep_group_url
    sweep_run_name = sweep_run.name or sweep_run.id or "unknown"

    metrics = []
    for num in range(num_folds):
        worker = workers[num]
        # start worker
        worker.queue.put(
            WorkerInitData(
                sweep_id=sweep_id,
                num=num,
                sweep_run_name=sweep_run_name,
                config=dict(sweep_run.config),
            )
        )
        # get metric from worker
        result = sweep_q.get()
        # wait for worker to finish
        worker.process.join()
        # log metric to sweep_run
        metrics.append(result.val_accuracy)

    sweep_run.log(dict(val_accuracy=sum(metrics) / len(metrics)))
    wandb.join()

    print("*" * 40)
    print("Sweep URL:       ", sweep_url)
    print("Sweep Group URL: ", sweep_group_url)
    print("Folds' val_accuracy:", metrics)
    print("*" * 40)


if __name__ == "__main__":
    main()
