"""What null and decoy models need from the run: a refit function, independent seeds, untouched global RNG state.

The label-permutation null and the decoy run both need "the same training, on other
data". The pipeline hands in a :class:`Refitter`: the observed estimator retrained with a
given seed for the observed length (:class:`genexai.estimators.Recipe`: epochs of the
attributed weights; XGBoost's ``best_iteration``) — same model config and
hyperparameters, same trainer settings, same attribution methods on the same split, but
without checkpoint selection, early stopping, validation or loggers (early stopping on
permuted labels would stop at once, so the null would be trained less than the observed model).
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch

__all__ = ["Refitter", "derive_seeds", "preserved_random_state"]

class Refitter(Protocol):
    """Train a fresh copy of the observed model on a data view (seeded) and return its importance table.

    Built by the pipeline from the observed estimator (:meth:`genexai.estimators.Estimator.refit`
    for the recipe's fixed length, then the same attribution methods on the same split):
    significance knows the nulls, never the model kinds.
    """

    def __call__(self, view: Any, seed: int) -> pd.DataFrame: ...


def derive_seeds(seed: int, n: int, stream: int) -> list[int]:
    """``n`` independent 32-bit seeds from ``(seed, stream)`` (``numpy.random.SeedSequence``).

    ``stream`` separates uses (0: permutations, 1: decoys), so the null models never share
    a seed with each other or with the observed run.
    """
    children = np.random.SeedSequence(entropy=int(seed), spawn_key=(int(stream),)).spawn(n)
    return [int(child.generate_state(1, dtype=np.uint32)[0]) for child in children]


@contextlib.contextmanager
def preserved_random_state() -> Iterator[None]:
    """Restore Python's, NumPy's and torch's global RNG state (and Lightning's seed variable) afterwards.

    Null and decoy models are seeded with ``pl.seed_everything``; whatever runs after the
    significance step must not depend on how many of them were trained.
    """
    python_state, numpy_state, torch_state = random.getstate(), np.random.get_state(), torch.get_rng_state()
    seed_var = os.environ.get("PL_GLOBAL_SEED")
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
        torch.set_rng_state(torch_state)
        if seed_var is None:
            os.environ.pop("PL_GLOBAL_SEED", None)
        else:
            os.environ["PL_GLOBAL_SEED"] = seed_var
