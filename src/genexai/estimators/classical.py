"""A scikit-learn / XGBoost classifier on the same standardised inputs as the neural models.

:class:`ClassicalModel` wraps one estimator (instantiated by Hydra from
``configs/model/<name>.yaml``) and remembers the genes and classes it was fitted on, so
a model is never applied to another gene set; :mod:`genexai.estimators.classical_io`
saves and loads it without pickle.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.calibration import CalibratedClassifierCV

from genexai.errors import AttributionError, ConfigError

__all__ = ["ClassicalModel", "check_gene_set"]

log = logging.getLogger(__name__)


def _is_xgboost(estimator: Any) -> bool:
    # Checked by module name so xgboost is imported only when it is used.
    return type(estimator).__module__.startswith("xgboost")


class ClassicalModel:
    """One fitted scikit-learn-compatible classifier and the gene set it belongs to.

    Parameters
    ----------
    estimator
        An unfitted classifier with ``fit``/``predict`` (``RandomForestClassifier``,
        ``xgboost.XGBClassifier``, ``LogisticRegression``, an ``SVC`` wrapped in
        ``CalibratedClassifierCV(ensemble=False)`` for probabilities, ...).
    importance_methods
        Default gene-importance methods for this model (names or ``{name: ..., **options}``),
        see :mod:`genexai.attribution.classical_methods`.
    gene_names, class_names
        Filled in from the data module; ``class_names[1]`` is the non-reference level.

    Notes
    -----
    An XGBoost estimator with ``early_stopping_rounds`` set is early-stopped on the
    validation split; every prediction and TreeSHAP value then uses the trees up to
    ``best_iteration`` only.
    """

    def __init__(
        self,
        estimator: Any,
        importance_methods: Sequence[str | Mapping[str, Any]] | None = None,
        gene_names: Sequence[str] | None = None,
        class_names: Sequence[str] | None = None,
    ) -> None:
        if not (hasattr(estimator, "fit") and hasattr(estimator, "predict")):
            raise ConfigError(
                f"model.estimator must be a classifier with fit/predict (e.g. sklearn.ensemble.RandomForestClassifier), "
                f"got {type(estimator).__name__}"
            )
        self.estimator = estimator
        from genexai.attribution.compute import method_configs  # late: attribution imports this module

        self.importance_methods = method_configs(importance_methods)
        self.gene_names = None if gene_names is None else [str(g) for g in gene_names]
        self.class_names = None if class_names is None else [str(c) for c in class_names]
        self.best_iteration: int | None = None
        self.fitted = False

    # ------------------------------------------------------------------ description
    @property
    def name(self) -> str:
        """Class name of the estimator actually making the decisions (``SVC`` inside a calibrator)."""
        return type(self.core).__name__

    @property
    def core(self) -> Any:
        """The fitted decision model: the calibrated SVC inside ``CalibratedClassifierCV(ensemble=False)``, else the estimator."""
        est = self.estimator
        if isinstance(est, CalibratedClassifierCV):
            if not self.fitted:
                return est.estimator
            if len(est.calibrated_classifiers_) != 1:
                # ensemble=True averages k models: no single coefficient vector or margin exists.
                return est
            return est.calibrated_classifiers_[0].estimator
        return est

    @property
    def is_xgboost(self) -> bool:
        return _is_xgboost(self.core)

    @property
    def one_vs_one(self) -> bool:
        """Whether the decisions come from pairwise SVMs (a K > 2-class SVC; see :func:`one_vs_one_margin`)."""
        return is_one_vs_one(self.core)

    @property
    def has_proba(self) -> bool:
        # sklearn hides predict_proba (``available_if``) where it does not exist, e.g. SVC without calibration.
        return hasattr(self.estimator, "predict_proba")

    def __repr__(self) -> str:
        genes = "?" if self.gene_names is None else len(self.gene_names)
        return f"ClassicalModel({self.name}, genes={genes}, fitted={self.fitted})"

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        x_val: np.ndarray | None = None,
        y_val: np.ndarray | None = None,
    ) -> ClassicalModel:
        """Fit on ``x [n, G]``, ``y [n]``; the validation split early-stops XGBoost when configured."""
        x, y = self._check_x(x), np.asarray(y)
        kwargs: dict[str, Any] = {}
        if self.is_xgboost and getattr(self.estimator, "early_stopping_rounds", None):
            if x_val is None or y_val is None:
                raise ConfigError(
                    "XGBoost early_stopping_rounds needs a validation split; set data.split.val_fraction > 0 "
                    "or model.estimator.early_stopping_rounds=null"
                )
            kwargs = {"eval_set": [(self._check_x(x_val), np.asarray(y_val))], "verbose": False}
        if len(np.unique(y)) > 2:
            self._multiclass_settings()
        self.estimator.fit(x, y, **kwargs)
        classes = list(np.asarray(self.estimator.classes_).tolist())
        if classes != list(range(len(classes))):
            raise ConfigError(f"{self.name}: training labels must be class indices 0..k-1, got classes {classes}")
        if self.is_xgboost:
            best = getattr(self.estimator, "best_iteration", None)
            self.best_iteration = None if best is None else int(best)
        self.fitted = True
        return self

    def _multiclass_settings(self) -> None:
        """Swap the two binary-only settings of genexai's configs for their K-class equivalents (logged).

        XGBoost's ``logloss`` metric is binary (``mlogloss`` is the K-class log-loss) and
        liblinear fits no multinomial model (saga fits the same L1-penalised multinomial
        log-likelihood, so coefficients are per class and the contrasts are log-odds).
        """
        params = self.estimator.get_params()
        if self.is_xgboost and params.get("eval_metric") == "logloss":
            self.estimator.set_params(eval_metric="mlogloss")
            log.info("%s: more than two classes, eval_metric logloss -> mlogloss", self.name)
        if params.get("solver") == "liblinear":
            self.estimator.set_params(solver="saga")
            log.info("%s: more than two classes, solver liblinear -> saga (multinomial)", self.name)

    # ------------------------------------------------------------------ prediction
    def _check_x(self, x: Any) -> np.ndarray:
        x = np.asarray(x.numpy() if hasattr(x, "numpy") else x, dtype=np.float32)
        if x.ndim != 2:
            raise ConfigError(f"{self.name}: inputs must be (samples, genes), got shape {x.shape}")
        if self.gene_names is not None and x.shape[1] != len(self.gene_names):
            raise ConfigError(
                f"{self.name}: inputs have {x.shape[1]} genes but the model was built for {len(self.gene_names)}"
            )
        return x

    def _require_fitted(self) -> None:
        if not self.fitted:
            raise ConfigError(f"{self.name} is not fitted yet; call fit() or load a checkpoint with genexai.estimators.classical_io.load_classical()")

    def predict(self, x: Any) -> np.ndarray:
        """Class index per sample."""
        self._require_fitted()
        return np.asarray(self.estimator.predict(self._check_x(x))).astype(np.int64)

    def predict_proba(self, x: Any) -> np.ndarray | None:
        """Class probabilities ``[n, k]``, or ``None`` for an estimator without them."""
        self._require_fitted()
        if not self.has_proba:
            return None
        proba = np.asarray(self.estimator.predict_proba(self._check_x(x)), dtype=np.float64)
        return proba / proba.sum(axis=1, keepdims=True)  # float32 outputs (XGBoost) miss 1 by ~1e-7

    def decision(self, x: Any, target: int = 1) -> np.ndarray:
        """The model's score for class ``target`` per sample, on its natural scale.

        XGBoost: margin (log-odds); SVM / logistic regression: ``decision_function``
        (the inner SVC's margin for a calibrated SVM); otherwise (random forest):
        the predicted probability. For two classes, class 0's score is the negated
        class-1 score (probability: ``1 - p``). For ``K > 2`` classes the score is the
        contrast with the reference class 0, ``score_target - score_0`` (the log-odds
        of class ``target`` vs class 0 for a softmax margin), as the neural attributions
        explain (:mod:`genexai.attribution.target`); ``target=0`` is then refused.
        """
        self._require_fitted()
        x = self._check_x(x)
        core = self.core
        if self.is_xgboost:
            margin = np.asarray(core.predict(x, output_margin=True, **self._xgb_range()), dtype=np.float64)
        elif is_one_vs_one(core):
            return one_vs_one_margin(core, x, target)
        elif hasattr(core, "decision_function"):
            margin = np.asarray(core.decision_function(x), dtype=np.float64)
        else:
            proba = self.predict_proba(x)
            if proba is None:
                raise ConfigError(f"{self.name} has neither decision_function nor predict_proba")
            return _against_reference(proba, target)
        if margin.ndim == 2:
            return _against_reference(margin, target)
        return margin if target == 1 else -margin

    def _xgb_range(self) -> dict[str, Any]:
        return {} if self.best_iteration is None else {"iteration_range": (0, self.best_iteration + 1)}

    # ------------------------------------------------------------------ gene set
    def check_genes(self, gene_names: Sequence[str], source: str = "this data") -> None:
        """Refuse a gene set other than the one the model was fitted on (same genes, same order)."""
        check_gene_set(self.gene_names, gene_names, self.name, source)


def check_gene_set(expected: Sequence[str] | None, genes: Sequence[str], model_name: str, source: str) -> None:
    """Refuse ``genes`` unless they are ``expected`` in the same order (``None``: nothing recorded, nothing to check)."""
    if expected is None:
        return
    expected, genes = [str(g) for g in expected], [str(g) for g in genes]
    if genes == expected:
        return
    missing = [g for g in expected if g not in set(genes)]
    detail = f"{len(missing)} of its genes are missing, e.g. {missing[:3]}" if missing else "the gene order differs"
    raise ConfigError(
        f"{model_name} was fitted on {len(expected)} genes but {source} has {len(genes)} ({detail}); "
        "reload the run's own data config (same data file, n_genes and seed) or retrain"
    )


def _against_reference(scores: np.ndarray, target: int) -> np.ndarray:
    """Column ``target`` of per-class scores ``[n, K]``; for ``K > 2`` its contrast with the reference column 0."""
    if scores.shape[1] == 2:
        return scores[:, target]
    if target == 0:
        raise AttributionError(
            f"target=0 is the reference class of a {scores.shape[1]}-class model, so its contrast with the reference "
            f"is zero; choose a target in 1..{scores.shape[1] - 1}"
        )
    return scores[:, target] - scores[:, 0]


def is_one_vs_one(core: Any) -> bool:
    """A K > 2-class SVC: one binary SVM per pair of classes, whose margins are not per class."""
    return getattr(core, "decision_function_shape", None) is not None and len(getattr(core, "classes_", ())) > 2


def one_vs_one_margin(core: Any, x: np.ndarray, target: int) -> np.ndarray:
    """The margin of an SVC's pairwise SVM "reference class 0 vs ``target``", positive toward ``target``.

    scikit-learn orders the pairs (0, 1), (0, 2), …, (0, K−1), (1, 2), …, and a pair's
    decision value is positive for its first class; the pair (0, target) is column
    ``target − 1``, negated. Its ``decision_function_shape="ovr"`` output aggregates votes
    over all pairs and is no contrast with the reference, hence the switch to ``ovo``.
    """
    if target == 0:
        raise AttributionError(f"target=0 is the reference class of a {len(core.classes_)}-class model; choose 1..")
    shape = core.decision_function_shape
    core.decision_function_shape = "ovo"
    try:
        pairs = np.asarray(core.decision_function(x), dtype=np.float64)
    finally:
        core.decision_function_shape = shape
    return -pairs[:, target - 1]
