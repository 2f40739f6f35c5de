"""runship's own integrations with training libraries (TensorBoard,
Lightning, transformers, Keras, XGBoost, LightGBM, scikit-learn). Each
module imports its library only when used."""


def imported_run(root: str | None, resume: str = "allow", **init: object) -> object:
    """A runship run made from another tool's records (``runship import``):
    ``runship.init(dir=root, resume=resume, **init)`` (by default resumed
    if the id exists), recording nothing of this process (no console,
    system metrics or environment)."""
    import runship

    settings = {"quiet": True, "console": "off", "system_metrics": False, "environment": False}
    return runship.init(dir=root, reinit="create_new", resume=resume, settings=settings, **init)  # type: ignore[arg-type]
