"""Classical models on disk without pickle: ``model.skops`` (scikit-learn) or ``model.ubj`` (XGBoost), and ``model.json``.

Run directories travel (collaborators, W&B model artifacts) and a pickle runs whatever
code it holds when it is opened, so nothing here unpickles by default. A scikit-learn
estimator is written with :mod:`skops.io` and read back trusting skops' defaults plus
the fixed, reviewed :data:`TRUSTED_SKOPS_TYPES` (never the types a file asks for); an
XGBoost model with its own UBJSON ``save_model``. ``model.json`` beside it holds what
genexai adds (genes, classes, importance methods, early-stopping iteration), readable
without opening the model, so a model is refused on another gene set before it is read.
A ``model.joblib`` of an older genexai is opened only with ``trust_pickle=True``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sklearn
import skops
import skops.io as sio
from skops.io.exceptions import UntrustedTypesFoundException

from genexai.errors import ConfigError
from genexai.estimators.classical import ClassicalModel, check_gene_set
from genexai.utils.files import atomic_write, write_json

__all__ = ["LEGACY_FILE", "META_FILE", "MODEL_FILES", "TRUSTED_SKOPS_TYPES", "load_classical", "model_file", "save_classical"]

log = logging.getLogger(__name__)

#: Files inside ``<run dir>/checkpoints/``: the metadata, and the model file per ``model.json`` "format".
META_FILE = "model.json"
MODEL_FILES = {"skops": "model.skops", "xgboost": "model.ubj"}
#: The pickle an older genexai wrote (format 1), opened only with ``trust_pickle=True``.
LEGACY_FILE = "model.joblib"
_FORMAT_VERSION = 2
_LEGACY_VERSION = 1
_META_KEYS = ("format", "gene_names", "class_names", "importance_methods", "best_iteration")

#: The types beyond skops' defaults that genexai's classical configs need, reviewed: skops
#: rebuilds each from arrays and plain values with its own loaders, calling no code of the file's.
TRUSTED_SKOPS_TYPES = (
    "sklearn.calibration._CalibratedClassifier",  # the refitted SVC of CalibratedClassifierCV (svm, svm_rbf)
    "sklearn.calibration._SigmoidCalibration",  # its Platt scaling
    "sklearn.tree._tree.Tree",  # the node arrays of each tree of a random forest
)


def save_classical(model: ClassicalModel, directory: str | Path) -> Path:
    """Write a fitted model as ``model.skops`` or ``model.ubj`` plus ``model.json`` into ``directory``; return the model file.

    A scikit-learn model that needs a type outside skops' defaults and
    :data:`TRUSTED_SKOPS_TYPES` is refused here, not when someone tries to open it.
    """
    if not model.fitted:
        raise ConfigError(f"{model.name} is not fitted yet; nothing to save")
    directory = Path(directory)
    xgboost_native = model.is_xgboost and model.core is model.estimator
    fmt = "xgboost" if xgboost_native else "skops"
    path = directory / MODEL_FILES[fmt]
    meta = {"format_version": _FORMAT_VERSION, "format": fmt, "model_file": path.name, **_description(model)}
    if xgboost_native:
        import xgboost

        meta["params"] = _plain_params(model)  # the wrapper's settings (n_jobs, ...): load_model restores only the trees
        meta["versions"]["xgboost"] = xgboost.__version__
        atomic_write(path, lambda tmp: model.estimator.save_model(str(tmp)), suffix=path.suffix)
    else:
        meta["versions"]["skops"] = skops.__version__
        atomic_write(path, lambda tmp: _dump_skops(model, tmp))
    write_json(directory / META_FILE, meta)
    return path


def _description(model: ClassicalModel) -> dict[str, Any]:
    estimator = model.estimator
    return {
        "estimator": f"{type(estimator).__module__}.{type(estimator).__qualname__}",
        "core": model.name,
        "best_iteration": model.best_iteration,
        "importance_methods": model.importance_methods,
        "gene_names": model.gene_names,
        "class_names": model.class_names,
        "versions": {"scikit-learn": sklearn.__version__},
    }


def _plain_params(model: ClassicalModel) -> dict[str, Any]:
    params = model.estimator.get_params(deep=False)
    odd = sorted(key for key, value in params.items() if not isinstance(value, str | int | float | bool | list | dict | None))
    if odd:
        raise ConfigError(f"{model.name}: parameters {odd} are not plain values and cannot be saved without pickle; "
                          "set them in the model config as numbers or strings")
    return params


def _dump_skops(model: ClassicalModel, tmp: Path) -> None:
    sio.dump(model.estimator, tmp)
    untrusted = sorted(set(sio.get_untrusted_types(file=tmp)) - set(TRUSTED_SKOPS_TYPES))
    if untrusted:
        raise ConfigError(
            f"{model.name}: saving it needs types genexai does not load ({', '.join(untrusted)}); review them and add "
            "them to TRUSTED_SKOPS_TYPES in genexai/estimators/classical_io.py, or choose another estimator"
        )


def model_file(path: str | Path) -> Path:
    """The model file of a run directory, its ``checkpoints/`` folder, its ``model.json`` or the file itself."""
    path = Path(path)
    if path.is_dir():
        folder = path / "checkpoints" if (path / "checkpoints").is_dir() else path
        path = folder / META_FILE if (folder / META_FILE).is_file() else folder / LEGACY_FILE
    if path.name == META_FILE and path.is_file():
        meta = _read_meta(path)
        fmt = meta.get("format") if meta.get("format_version") == _FORMAT_VERSION else None
        if fmt is not None and fmt not in MODEL_FILES:
            raise ConfigError(f"{path}: unknown model format {fmt!r} (known: {', '.join(MODEL_FILES)}); retrain the run")
        path = path.with_name(MODEL_FILES[fmt] if fmt else LEGACY_FILE)
    if path.suffix not in {".skops", ".ubj", ".joblib"} or not path.is_file():
        raise ConfigError(f"no classical model at {path}; pass a run directory written by train.py model=<classical model>")
    return path


def load_classical(path: str | Path, gene_names: Sequence[str] | None = None, *, trust_pickle: bool = False) -> ClassicalModel:
    """Load a classical model from a run directory, its ``checkpoints/`` folder, ``model.json`` or the model file.

    Parameters
    ----------
    path
        Run directory, checkpoint directory, ``model.json``, ``model.skops``/``.ubj`` (or a legacy ``model.joblib``).
    gene_names
        Genes of the data the model will be applied to; a different gene set (or order)
        raises :class:`~genexai.errors.ConfigError` *before* the model file is opened.
    trust_pickle
        Open a legacy ``model.joblib`` (a pickle: it runs whatever code it holds). Without it
        such a file is refused with a :class:`~genexai.errors.ConfigError`.
    """
    file = model_file(path)
    meta_path = file.with_name(META_FILE)
    meta = _read_meta(meta_path) if meta_path.is_file() else {}
    if gene_names is not None:
        check_gene_set(meta.get("gene_names"), gene_names, str(meta.get("core", "model")), "the data it is applied to")
    if file.suffix == ".joblib":
        state = _read_pickle(file, trust_pickle)
    else:
        missing = [key for key in _META_KEYS if key not in meta]
        if meta.get("format_version") != _FORMAT_VERSION or missing:
            raise ConfigError(f"{meta_path} does not describe a genexai classical model of format {_FORMAT_VERSION} "
                              f"(missing {missing or ['format_version']}); retrain the run")
        state = {**meta, "estimator": _read_estimator(file, meta)}
    model = ClassicalModel(
        state["estimator"],
        importance_methods=state["importance_methods"],
        gene_names=state["gene_names"],
        class_names=state["class_names"],
    )
    model.best_iteration = state["best_iteration"]
    model.fitted = True
    if gene_names is not None:
        model.check_genes(gene_names, source="the data it is applied to")
    return model


def _read_meta(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ConfigError(f"{path} is not readable JSON ({err}); retrain the run") from None
    if not isinstance(meta, dict):
        raise ConfigError(f"{path} is not a genexai model description (a JSON object); retrain the run")
    return meta


def _read_estimator(file: Path, meta: dict[str, Any]) -> Any:
    """The estimator in ``model.skops`` (reviewed types only) or ``model.ubj``; any unreadable file is one ConfigError."""
    try:
        if file.suffix == ".ubj":
            import xgboost

            params = meta.get("params") or {}
            estimator = xgboost.XGBClassifier(**(params if isinstance(params, dict) else {}))
            estimator.load_model(str(file))
            return estimator
        return sio.load(file, trusted=list(TRUSTED_SKOPS_TYPES))
    except UntrustedTypesFoundException as err:
        raise ConfigError(
            f"{file} holds types genexai does not load ({str(err).splitlines()[0]}); it was not written by "
            "genexai's save_classical, or needs a reviewed addition to TRUSTED_SKOPS_TYPES"
        ) from None
    except Exception as err:  # truncated, not a model, wrong format: all refused the same way
        raise ConfigError(f"{file} is not a readable {meta.get('format')} model ({type(err).__name__}); "
                          "pass a model written by train.py or retrain the run") from None


def _read_pickle(file: Path, trust_pickle: bool) -> dict[str, Any]:
    """The state dict of a legacy ``model.joblib``, opened only when the user trusts it."""
    if not trust_pickle:
        raise ConfigError(
            f"{file} is a pickle (a classical model saved by an older genexai) and opening a pickle runs any code it "
            "holds; retrain the run, or pass trust_pickle=true if you made this file yourself"
        )
    import joblib

    log.warning("opening the pickle %s (trust_pickle=true)", file)
    state = joblib.load(file)
    if not isinstance(state, dict) or state.get("format_version") != _LEGACY_VERSION:
        raise ConfigError(f"{file} is not a genexai classical model (format {_LEGACY_VERSION}); retrain it")
    return state
