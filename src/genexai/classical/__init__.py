"""Classical ML baselines (random forest, XGBoost, SVM, L1 logistic regression) through the same pipeline.

``python train.py model=xgboost`` fits one on the same splits and preprocessing as the
neural models (:func:`train_classical`), and its gene importances (impurity,
permutation, TreeSHAP, coefficients, feature ablation) land in the same tidy table.
"""

from genexai.classical.importance import (
    attribute_classical,
    available_importance_methods,
    classical_importance_table,
    compute_classical_importance,
    register_importance,
)
from genexai.estimators.classical import META_FILE, MODEL_FILE, ClassicalModel, load_classical

__all__ = [
    "META_FILE",
    "MODEL_FILE",
    "ClassicalModel",
    "attribute_classical",
    "available_importance_methods",
    "build_classical",
    "classical_importance_table",
    "classification_metrics",
    "compute_classical_importance",
    "is_classical",
    "load_classical",
    "register_importance",
    "train_classical",
]
