"""Per-sample, per-gene attributions behind one Captum-shaped interface.

``get_attribution(name, model, **options).attribute(inputs, target=1)`` returns a
``[samples, genes]`` tensor for every method, explaining the log-odds ``z_B - z_A``
(:mod:`genexai.attribution.target`); methods are chosen by name (Hydra group
``attribution``), aggregated with :func:`importance_table`. Importing this package
registers all methods.
"""

from genexai.attribution import attention, gradient, lrp  # noqa: F401  (registers the methods)
from genexai.attribution.base import AttributionMethod
from genexai.attribution.compute import compute_attributions
from genexai.attribution.registry import available_methods, get_attribution, register
from genexai.attribution.table import importance_table, save_importance_table

__all__ = [
    "AttributionMethod",
    "available_methods",
    "compute_attributions",
    "get_attribution",
    "importance_table",
    "register",
    "save_importance_table",
]
