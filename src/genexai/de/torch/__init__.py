"""PyDESeq2 inference with every gene fitted at once, as PyTorch tensors (CPU or GPU).

Modules: :mod:`~genexai.de.torch.linalg` (batched small SPD solves),
:mod:`~genexai.de.torch.nb` (the dispersion objective), :mod:`~genexai.de.torch.newton`
(projected Newton with Armijo steps), :mod:`~genexai.de.torch.lbfgsb` (where PyDESeq2's
L-BFGS-B stops), :mod:`~genexai.de.torch.irls` (the GLM fit), :mod:`~genexai.de.torch.wald`
(the Wald test), :mod:`~genexai.de.torch.inference` (the ``Inference`` subclass).

Why
---
PyDESeq2's :class:`~pydeseq2.default_inference.DefaultInference` fits the per-gene
problems of DESeq2 (the negative-binomial GLM by IRLS, the dispersion MLE with its
Cox-Reid adjustment and log-normal prior, the Wald test) one gene at a time: a
joblib loop over genes, each iteration a few tiny numpy/scipy calls on vectors of
``n_samples`` values. With 20,000 genes the run time is dominated by Python and
call overhead, not by arithmetic, and extra processes barely help on a small machine.

:class:`TorchInference` solves the same problems for all genes simultaneously:
counts, means and weights are ``samples x genes`` float64 tensors, the ``p x p``
systems of every gene are one batched solve, and genes leave the working set as soon
as they meet the convergence rule. Only the :class:`~pydeseq2.inference.Inference`
object changes; PyDESeq2's own pipeline (size factors, all-zero filter, dispersion
trend and prior, Cook's distances and refit, independent filtering) runs unchanged.

Same statistics as PyDESeq2 0.5 (``pydeseq2/utils.py``):

* ``irls``: same initialisation (least squares on ``log(y/s + 0.1)``), the same
  IRLS update with ridge ``1e-6``, ``min_mu`` threshold and stopping rule
  ``|dev - dev_old| / (|dev| + 0.1) <= beta_tol`` (``dev = -2 log L``); a gene whose
  update leaves ``[-max_beta, max_beta]`` or that reaches ``maxiter`` is handed, as in
  PyDESeq2, to scipy's optimizer (and then the grid search) from the same start.
* ``alpha_mle``: the same objective in ``log(alpha)`` (NB negative log-likelihood +
  ``0.5 log det(X^T W X)`` + ``(log a - log a_hat)^2 / (2 prior_var)``) on the same
  bounds ``[min_disp, max_disp]`` and from the same start, minimised by a batched
  projected Newton method (exact first and second derivatives, Armijo backtracking
  where the Newton step is long), evaluated without the catastrophic cancellation
  of ``lgamma(y + 1/a) - lgamma(1/a)`` for near-Poisson genes. On a well-curved
  objective it lands on the optimum L-BFGS-B converges to. Where the objective is
  flat -- near-Poisson genes, whose optimum is at or near ``min_disp`` -- PyDESeq2's
  L-BFGS-B stops early (scipy's ``pgtol=1e-5``, ``factr=1e7``) at a point set by
  rounding noise: such genes either keep the start (when L-BFGS-B certainly stops
  there) or are handed to PyDESeq2's own per-gene ``fit_alpha_mle``, as are genes
  whose Newton line search stalls (``match_lbfgsb=False`` returns the true optimum
  for all genes instead). ``fallbacks`` counts them (typically < 2% of genes).
* ``wald_test``: the same closed form, batched; p-values from ``scipy.stats.norm``.
* ``lin_reg_mu``: one multi-output least-squares fit (bit-identical to PyDESeq2's
  per-gene loop); ``fit_rough_dispersions``, ``fit_moments_dispersions`` (already
  vectorised in PyDESeq2), ``dispersion_trend_gamma_glm`` (one small fit) and
  ``lfc_shrink_nbinom_glm`` (apeGLM, optional) are PyDESeq2's, inherited from
  :class:`DefaultInference`.

Results agree with DefaultInference within 2% on log2 fold changes, p-values and
adjusted p-values (rule in :mod:`genexai.de.agreement`; ``tests/de/test_torch_inference.py``,
``benchmarks/de_speed.py``) on every gene where PyDESeq2's own optimisers converged. On the
few others (a handful per dataset) PyDESeq2 0.5.4's MAP dispersion fit aborts (its L-BFGS-B
line search fails on high-count genes, where rounding in the likelihood exceeds the
decrease left near the optimum) and falls back to a grid search *without the prior*; this
class returns the MAP optimum, as R's DESeq2 does, and agrees on every gene with
:class:`~genexai.de.agreement.PriorFallbackInference` (PyDESeq2 with the prior kept in
that fallback). The engines are not bit-identical, so the DESeq2 cache keys its entries
by inference engine. For scale, PyDESeq2 against itself with its fitted means changed in
the 13th digit breaks the 2% rule on up to 266 genes of pasilla
(``benchmarks/de_speed.py --noise-floor``).
"""

from genexai.de.torch.device import check_device_name, resolve_device
from genexai.de.torch.inference import TorchInference

__all__ = ["TorchInference", "check_device_name", "resolve_device"]
