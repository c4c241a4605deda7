"""Hydra configs from Python: the same composition as ``train.py``, for notebooks and the benchmark.

    cfg = load_config("train", ["data=tcga_brca_paired", "evaluate=true"], output_dir="logs/notebook/run")
    metrics = genexai.pipeline.train.train(cfg)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

__all__ = ["CONFIG_DIR", "load_config"]

#: ``configs/`` of this checkout (genexai is installed in editable mode from the repository).
CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"


def load_config(config_name: str, overrides: Sequence[str] = (), output_dir: str | Path | None = None) -> DictConfig:
    """Compose ``configs/<config_name>.yaml`` with command-line style ``overrides``.

    Inside a running Hydra application (``benchmark.py``) its config search path is
    reused (a caller composing ``train`` then sets ``tags``, which name Hydra's choices);
    elsewhere Hydra is initialised for the call only. ``output_dir`` replaces
    ``paths.output_dir``, which ``train.py`` takes from Hydra's run directory.
    """
    overrides = list(overrides)
    if GlobalHydra.instance().is_initialized():  # the app's own HydraConfig stays in place
        cfg = compose(config_name=config_name, overrides=overrides)
    else:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            cfg = compose(config_name=config_name, overrides=overrides, return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)  # `${hydra:runtime.choices.model}` (run tags) resolves
        with open_dict(cfg):
            del cfg.hydra  # as in train.py's cfg
    if output_dir is not None:
        with open_dict(cfg):
            cfg.paths.output_dir = str(output_dir)
    return cfg
