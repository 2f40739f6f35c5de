"""runship's own integrations with training libraries (TensorBoard,
Lightning, transformers, Keras, XGBoost, LightGBM, scikit-learn). Each
module imports its library only when used."""
