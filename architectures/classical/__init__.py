"""Classical machine-learning architectures on the flattened lookback window: gradient
boosting (LightGBM, XGBoost), tree ensembles (random forest, extra trees), a kernel SVM,
penalised linear models (ridge, lasso, elastic net) and a logistic direction classifier.
Modules starting with ``_`` hold shared code."""
