"""Per-sample, per-gene attributions and gene importances behind one Captum-shaped interface.

``get_attribution(name, model, **options).attribute(inputs, target=1)`` returns a
``[samples, genes]`` tensor (or one score per gene for a global importance) for every
method, whether ``model`` is a torch backbone (explaining the log-odds ``z_B - z_A``,
:mod:`genexai.attribution.target`) or a fitted classical model
(:mod:`genexai.attribution.classical`); methods are chosen by name (Hydra group
``attribution``, or a classical model's ``importance_methods``), run by one loop
(:func:`compute_attributions`) and tabulated by :func:`attribute`, the stage's entry
point. Importing this package registers all methods.
"""

from genexai.attribution import attention, classical, gradient, lrp, perturbation  # noqa: F401  (registers the methods)
from genexai.attribution.base import AttributionMethod, Explainer
from genexai.attribution.classical import ClassicalAttribution
from genexai.attribution.compute import compute_attributions, method_configs
from genexai.attribution.explain import (
    attribute,
    attribute_classical,
    available_importance_methods,
    compute_classical_importance,
)
from genexai.attribution.registry import available_methods, get_attribution, register
from genexai.attribution.table import classical_importance_table, importance_table, save_importance_table

__all__ = [
    "AttributionMethod",
    "ClassicalAttribution",
    "Explainer",
    "attribute",
    "attribute_classical",
    "available_importance_methods",
    "available_methods",
    "classical_importance_table",
    "compute_attributions",
    "compute_classical_importance",
    "get_attribution",
    "importance_table",
    "method_configs",
    "register",
    "save_importance_table",
]
