"""A run's saved ``config.yaml`` is data, not code: every ``_target_`` in it must be one genexai's configs use.

Hydra instantiates whatever a ``_target_`` names, so ``{_target_: pandas.read_pickle,
filepath_or_buffer: payload.pkl}`` in someone else's run directory would run that pickle's
code inside ``evaluate.py``. A config composed from the user's own ``configs/`` (``train.py``,
``genexai.run``, the benchmark) is the user's code and is not checked; a config read back
from a run directory goes through :func:`load_run_config`, which checks the whole tree
before anything is imported or instantiated.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from genexai.errors import ConfigError

__all__ = ["ALLOWED_TARGETS", "THIRD_PARTY_TARGETS", "load_run_config", "unsafe_targets"]

#: The third-party classes genexai's configs instantiate (``configs/{trainer,callbacks,logger,model}``).
THIRD_PARTY_TARGETS = frozenset({
    "pytorch_lightning.Trainer",
    "pytorch_lightning.callbacks.EarlyStopping",
    "pytorch_lightning.callbacks.ModelCheckpoint",
    "pytorch_lightning.callbacks.RichProgressBar",
    "pytorch_lightning.loggers.CSVLogger",
    "sklearn.calibration.CalibratedClassifierCV",
    "sklearn.ensemble.RandomForestClassifier",
    "sklearn.linear_model.LogisticRegression",
    "sklearn.svm.SVC",
    "xgboost.XGBClassifier",
})

#: Every ``_target_`` of ``configs/`` outside Hydra's own ``hydra:`` node, which a run's
#: ``config.yaml`` never holds (``tests/utils/test_targets.py`` keeps the two in step).
#: genexai's own targets are listed one by one rather than as ``genexai.*``: a prefix would
#: also admit functions such as ``genexai.utils.files.write_text``, which writes any file.
ALLOWED_TARGETS = THIRD_PARTY_TARGETS | {
    "genexai.data.datamodule.RNASeqDataModule",
    "genexai.data.io.read_counts_csv",
    "genexai.data.io.read_h5ad",
    "genexai.datasets.simulate.nb_params_from_csv",
    "genexai.datasets.simulate.simulate_counts",
    "genexai.datasets.spikein.spikein_from_csv",
    "genexai.datasets.subsample.replicate_subsample_from_csv",
    "genexai.estimators.classical.ClassicalModel",
    "genexai.estimators.nn.callbacks.ReseedEachStep",
    "genexai.estimators.nn.classifier.GeneClassifier",
    "genexai.estimators.nn.mlp.MLP",
    "genexai.estimators.nn.transformer.GeneTokenTransformer",
    "genexai.tracking.WandbLogger",
}


def _walk(node: Any, key: str) -> Iterator[tuple[str, Any]]:
    """``(dotted key, value)`` of every leaf under ``node`` (plain dicts and lists), ``_target_`` values included."""
    if isinstance(node, dict):
        for name, value in node.items():
            yield from _walk(value, f"{key}.{name}" if key else str(name))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{key}[{index}]")
    else:
        yield key, node


def unsafe_targets(tree: Any, trusted: Iterable[str] = ()) -> list[tuple[str, Any]]:
    """``(key, target)`` of every ``_target_`` in a plain (resolved) config tree that is not allowed.

    ``trusted``: targets the user named on the command line (``trusted_targets=[...]``).
    """
    allowed = ALLOWED_TARGETS | ({trusted} if isinstance(trusted, str) else set(trusted))  # trusted_targets=one.Target
    return [(key, value) for key, value in _walk(tree, "")
            if key.rsplit(".", 1)[-1] == "_target_" and not (isinstance(value, str) and value in allowed)]


def load_run_config(path: str | Path, trusted: Iterable[str] = ()) -> DictConfig:
    """A run directory's ``config.yaml``, refused unless every ``_target_`` in it is allowed.

    The config is resolved first, so an interpolation (``oc.create``, ``oc.decode``) cannot
    build a node the check did not see, and a string that would become an interpolation
    again is refused: train.py saves its config resolved, so a genuine one has none.

    Raises
    ------
    ConfigError
        Naming the first disallowed key and target (or the unreadable file).
    """
    path = Path(path)
    try:
        tree = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    except (OSError, yaml.YAMLError, OmegaConfBaseException, ValueError) as err:  # unreadable, bad YAML, bad interpolation
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(f"{path} is not a readable run config ({first}); pass run_dir= a directory made by train.py") from None
    if not isinstance(tree, dict):
        raise ConfigError(f"{path} is not a run config (a mapping of config groups); pass run_dir= a directory made by train.py")
    refused = unsafe_targets(tree, trusted)
    if refused:
        key, target = refused[0]
        raise ConfigError(
            f"{path}: {key}={target!r} is not a target genexai's configs use, and a saved run config is data, not code "
            f"(README: What is safe to open); pass trusted_targets=[{target}] only if you wrote this config yourself"
        )
    for key, value in _walk(tree, ""):
        if isinstance(value, str) and "${" in value:
            raise ConfigError(f"{path}: {key}={value!r} is an interpolation left after resolving; train.py saves configs "
                              "resolved, so this run config was edited; refused")
    return OmegaConf.create(tree)
