"""A run's saved config.yaml is data: its `_target_`s are checked against genexai's allowlist before anything runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hydra
import pytest
import yaml
from omegaconf import OmegaConf

from genexai.errors import ConfigError
from genexai.utils.targets import ALLOWED_TARGETS, load_run_config, unsafe_targets
from tests.conftest import CONFIG_DIR, compose_config

MODELS = sorted(path.stem for path in (CONFIG_DIR / "model").glob("*.yaml"))


def _config_targets(node: Any, key: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for name, value in node.items():
            if name == "_target_":
                yield key, value
            else:
                yield from _config_targets(value, f"{key}.{name}")
    elif isinstance(node, list):
        for value in node:
            yield from _config_targets(value, key)


def run_config_targets() -> dict[str, str]:
    """``target -> where`` for every `_target_` in configs/ that a run's config.yaml can hold.

    Hydra's own node (``configs/hydra/``, and ``hydra:`` of ``# @package _global_`` files such
    as the Optuna sweepers) is run by Hydra from the user's configs and never saved with a run.
    """
    found: dict[str, str] = {}
    for path in sorted(CONFIG_DIR.rglob("*.yaml")):
        group = path.relative_to(CONFIG_DIR).parts[0]
        if group == "hydra":
            continue
        tree = yaml.safe_load(path.read_text()) or {}
        nodes = {k: v for k, v in tree.items() if k != "hydra"} if "@package _global_" in path.read_text() else tree
        for key, target in _config_targets(nodes, path.relative_to(CONFIG_DIR).as_posix()):
            found.setdefault(target, key)
    return found


def test_every_target_of_the_configs_is_allowed_and_every_allowed_target_is_used():
    used = run_config_targets()
    assert {target: where for target, where in used.items() if target not in ALLOWED_TARGETS} == {}, (
        "a config names a _target_ that evaluate.py would refuse; add it to genexai.utils.targets.ALLOWED_TARGETS"
    )
    assert sorted(ALLOWED_TARGETS - set(used)) == [], "allowlisted targets no config uses: remove them"
    for target in ALLOWED_TARGETS:  # each one names something real
        assert callable(hydra.utils.get_object(target)), target


@pytest.mark.parametrize("model", MODELS)
def test_a_saved_run_config_of_every_model_loads(model, tmp_path):
    cfg = compose_config("train", [f"model={model}", "logger=many_loggers"], tmp_path)
    (tmp_path / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    loaded = load_run_config(tmp_path / "config.yaml")
    assert OmegaConf.to_container(loaded) == OmegaConf.to_container(cfg, resolve=True)


def test_targets_are_found_anywhere_in_the_tree():
    tree = {
        "data": {"adata": {"_target_": "genexai.datasets.simulate.simulate_counts"}},
        "callbacks": {"mine": {"_target_": "os.system", "_partial_": True}},
        "model": {"backbone": {"_target_": "genexai.estimators.nn.mlp.MLP",
                               "_args_": [{"_target_": "builtins.eval"}], "layers": [{"_target_": "subprocess.run"}]}},
        "trainer": {"_target_": 42},
    }
    assert unsafe_targets(tree) == [
        ("callbacks.mine._target_", "os.system"),
        ("model.backbone._args_[0]._target_", "builtins.eval"),
        ("model.backbone.layers[0]._target_", "subprocess.run"),
        ("trainer._target_", 42),
    ]
    assert unsafe_targets(tree, trusted=["os.system", "builtins.eval", "subprocess.run"]) == [("trainer._target_", 42)]


def _saved(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("text", "words"), [
    ("data:\n  _target_: pandas.read_pickle\n  filepath_or_buffer: x.pkl\n", ["data._target_", "'pandas.read_pickle'"]),
    # a node an interpolation creates is checked too: the config is resolved before the check
    ("evil: \"{_target_: pandas.read_pickle}\"\ndata: ${oc.create:${evil}}\n", ["data._target_", "pandas.read_pickle"]),
    ("data:\n  adata: \"${oc.decode:'{_target_: os.system, _args_: [id]}'}\"\n", ["data.adata._target_", "os.system"]),
    # an escaped interpolation would become a live one once the resolved config is rebuilt
    ("data: \"\\\\${oc.create:'{_target_: os.system}'}\"\n", ["data=", "interpolation"]),
    ("- a\n- b\n", ["not a run config"]),
    ("data: [unclosed\n", ["not a readable run config"]),
    ("data: !!python/object/apply:os.system [id]\n", ["not a readable run config"]),  # YAML's own code tag
])
def test_load_run_config_refuses_code_in_one_error(tmp_path, text, words):
    with pytest.raises(ConfigError) as err:
        load_run_config(_saved(tmp_path, text))
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message


def test_trusted_targets_are_the_users_explicit_choice(tmp_path):
    path = _saved(tmp_path, "callbacks:\n  mine:\n    _target_: tests.helpers.KillAtEpochEnd\n    epoch: 2\n")
    with pytest.raises(ConfigError, match=r"trusted_targets=\[tests.helpers.KillAtEpochEnd\]"):
        load_run_config(path)
    assert load_run_config(path, trusted=["tests.helpers.KillAtEpochEnd"]).callbacks.mine.epoch == 2
