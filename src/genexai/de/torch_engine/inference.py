"""PyDESeq2 inference with every gene fitted at once, as PyTorch tensors (CPU or GPU).

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

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import numpy as np
import torch
from pydeseq2 import utils as pd_utils
from pydeseq2.default_inference import DefaultInference
from scipy.stats import norm
from sklearn.linear_model import LinearRegression

from genexai.de.torch_engine.device import _torch_threads, resolve_device
from genexai.de.torch_engine.numerics import _spd_inverse
from genexai.de.torch_engine.fallback import _greater, _less
from genexai.de.torch_engine.irls import irls_chunk
from genexai.de.torch_engine.dispersion import alpha_chunk

__all__ = ["TorchInference"]


class TorchInference(DefaultInference):
    """DESeq2 inference vectorised over genes with PyTorch (float64).

    Parameters
    ----------
    device : str or torch.device
        ``"cpu"``, ``"cuda"`` (``"cuda:N"``) or ``"auto"`` (CUDA when available).
    n_cpus : int, optional
        Torch intra-op threads used by the batched methods (``None``: leave torch's
        setting), and joblib processes for the methods inherited from
        :class:`DefaultInference` (LFC shrinkage). Default 1.
    max_elements : int
        Genes are processed in chunks of at most ``max_elements // n_samples`` genes.
        The default (2**19: 4 MiB per float64 ``samples x chunk`` tensor) keeps a
        chunk's temporaries in cache: on CPU the work is dozens of elementwise passes,
        about twice as fast on cache-sized blocks as on whole matrices. On a GPU a
        larger value (e.g. 2**24) fills the device better.
    alpha_tol : float
        Newton stops when the projected gradient of the dispersion objective (in
        ``log alpha``) is below this value, or after a final Newton step shorter than
        1e-4 (quadratic convergence: within ~1e-8 of the optimum).
    alpha_maxiter : int
        Newton iterations before a gene is handed to PyDESeq2's per-gene fit.
    match_lbfgsb : bool
        Reproduce where PyDESeq2's L-BFGS-B stops early on a nearly flat dispersion
        objective (see :meth:`alpha_mle`). ``False`` returns the exact optimum for every
        gene, which on small designs differs from PyDESeq2 for near-Poisson genes.
    """

    def __init__(
        self,
        device: str | torch.device = "cpu",
        n_cpus: int | None = 1,
        max_elements: int = 2**19,
        alpha_tol: float = 1e-7,
        alpha_maxiter: int = 25,
        match_lbfgsb: bool = True,
    ) -> None:
        super().__init__(n_cpus=n_cpus or 1)
        self.device = resolve_device(device)
        self._threads = n_cpus
        self.max_elements = int(max_elements)
        self.alpha_tol = float(alpha_tol)
        self.alpha_maxiter = int(alpha_maxiter)
        self.match_lbfgsb = bool(match_lbfgsb)
        #: Genes handed to PyDESeq2's per-gene code by the last call of each method,
        #: and over all calls of this object.
        self.fallbacks: dict[str, int] = {"irls": 0, "alpha_mle": 0}
        self.fallbacks_total: dict[str, int] = {"irls": 0, "alpha_mle": 0}
        #: Why the last alpha_mle call handed genes over: flat start, plateau optimum,
        #: Newton stalled or out of iterations.
        self.alpha_fallback_reasons: dict[str, int] = {}

    # DeseqDataSet(n_cpus=...) assigns this attribute; keep threads and processes in step.
    @property
    def n_cpus(self) -> int:
        return self._n_cpus

    @n_cpus.setter
    def n_cpus(self, n_cpus: int | None) -> None:
        self._n_cpus = pd_utils.get_num_processes(n_cpus)
        self._threads = n_cpus

    # ------------------------------------------------------------------ helpers
    def _t(self, array) -> torch.Tensor:
        return torch.as_tensor(np.asarray(array, dtype=np.float64), device=self.device)

    def _chunks(self, n_samples: int, n_genes: int) -> Iterator[slice]:
        step = max(1, self.max_elements // max(n_samples, 1))
        for start in range(0, n_genes, step):
            yield slice(start, min(start + step, n_genes))

    @staticmethod
    def _outer_rows(X: torch.Tensor) -> torch.Tensor:
        """``n x p²`` matrix of row outer products, so ``X^T diag(w_g) X`` for every gene is one matmul."""
        n, p = X.shape
        return (X[:, :, None] * X[:, None, :]).reshape(n, p * p)

    @staticmethod
    def _gram(XX: torch.Tensor, W: torch.Tensor, p: int) -> torch.Tensor:
        """Batched ``X^T diag(W[:, g]) X``: ``genes x p x p``."""
        return (XX.T @ W).T.reshape(-1, p, p)

    # ------------------------------------------------------------ moments etc.
    def lin_reg_mu(
        self,
        counts: np.ndarray,
        size_factors: np.ndarray,
        design_matrix: np.ndarray,
        min_mu: float,
    ) -> np.ndarray:
        # One multi-output least-squares fit (the LAPACK solver of PyDESeq2's per-gene
        # LinearRegression; bit-identical results in our checks, ~1000x fewer calls). Exactness matters
        # here: these means feed the dispersion fit, where PyDESeq2's L-BFGS-B result for
        # near-Poisson genes changes with 1e-13 changes of its input.
        reg = LinearRegression(fit_intercept=False)
        reg.fit(design_matrix, counts / size_factors[:, None])
        return np.maximum(size_factors[:, None] * reg.predict(design_matrix), min_mu)

    # fit_rough_dispersions and fit_moments_dispersions: PyDESeq2's own functions
    # (inherited), already vectorised over genes with numpy; kept for exactness too.

    # --------------------------------------------------------------------- IRLS
    def irls(
        self,
        counts: np.ndarray,
        size_factors: np.ndarray,
        design_matrix: np.ndarray,
        disp: np.ndarray,
        min_mu: float,
        beta_tol: float,
        min_beta: float = -30,
        max_beta: float = 30,
        optimizer: Literal["BFGS", "L-BFGS-B"] = "L-BFGS-B",
        maxiter: int = 250,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        n, G = np.shape(counts)
        p = np.shape(design_matrix)[1]
        betas = np.empty((G, p))
        mu_out = np.empty((n, G))
        hat_out = np.empty((n, G))
        converged = np.ones(G, dtype=bool)
        self.fallbacks["irls"] = 0
        disp = np.asarray(disp, dtype=np.float64)
        with _torch_threads(self._threads), torch.no_grad():
            for sl in self._chunks(n, G):
                b, m, h, c = self._irls_chunk(
                    counts[:, sl], size_factors, design_matrix, disp[sl],
                    min_mu, beta_tol, min_beta, max_beta, optimizer, maxiter,
                )  # fmt: skip
                betas[sl], mu_out[:, sl], hat_out[:, sl], converged[sl] = b, m, h, c
        # Remember the inputs: if these means come back to alpha_mle, the genes it hands to
        # PyDESeq2's code get PyDESeq2's own means too (see _pydeseq2_means).
        self._irls_memo = {
            "mu": mu_out, "counts": counts, "size_factors": np.asarray(size_factors, dtype=np.float64),
            "design_matrix": np.asarray(design_matrix, dtype=np.float64), "disp": disp,
            "options": {"min_mu": min_mu, "beta_tol": beta_tol, "min_beta": min_beta, "max_beta": max_beta,
                        "optimizer": optimizer, "maxiter": maxiter},
        }  # fmt: skip
        return betas, mu_out, hat_out, converged

    def _pydeseq2_means(self, mu: np.ndarray, genes: np.ndarray) -> np.ndarray:
        """PyDESeq2's own IRLS means of ``genes`` if ``mu`` is the output of our last irls.

        The dispersion fits handed to PyDESeq2's per-gene code are those whose result
        depends on rounding (flat objective); with means that differ from PyDESeq2's in
        the 14th digit they would reproduce PyDESeq2 only statistically. Refitting the
        means of these few genes with ``pydeseq2.utils.irls_solver`` makes them exact.
        """
        memo = getattr(self, "_irls_memo", None)
        if memo is None or memo["mu"].shape != mu.shape or not np.array_equal(memo["mu"], mu):
            return mu[:, genes]
        out = np.empty((mu.shape[0], len(genes)))
        for k, j in enumerate(genes):
            out[:, k] = pd_utils.irls_solver(
                memo["counts"][:, j], memo["size_factors"], memo["design_matrix"], memo["disp"][j],
                **memo["options"],
            )[1]  # fmt: skip
        return out

    _irls_chunk = irls_chunk

    def alpha_mle(
        self,
        counts: np.ndarray,
        design_matrix: np.ndarray,
        mu: np.ndarray,
        alpha_hat: np.ndarray,
        min_disp: float,
        max_disp: float,
        prior_disp_var: float | None = None,
        cr_reg: bool = True,
        prior_reg: bool = False,
        optimizer: Literal["BFGS", "L-BFGS-B"] = "L-BFGS-B",
    ) -> tuple[np.ndarray, np.ndarray]:
        if optimizer != "L-BFGS-B":  # unbounded BFGS: not used by PyDESeq2's pipeline
            return super().alpha_mle(
                counts, design_matrix, mu, alpha_hat, min_disp, max_disp,
                prior_disp_var, cr_reg, prior_reg, optimizer,
            )  # fmt: skip
        if prior_reg and prior_disp_var is None:
            raise ValueError("Sigma_prior is required for prior regularization")
        n, G = np.shape(counts)
        alpha_hat = np.asarray(alpha_hat, dtype=np.float64)
        out = np.empty(G)
        converged = np.ones(G, dtype=bool)
        self.fallbacks["alpha_mle"] = 0
        self.alpha_fallback_reasons = {"flat_start": 0, "plateau_optimum": 0, "newton": 0}
        with _torch_threads(self._threads), torch.no_grad():
            for sl in self._chunks(n, G):
                a, ok = self._alpha_chunk(
                    counts[:, sl], design_matrix, mu[:, sl], alpha_hat[sl],
                    min_disp, max_disp, prior_disp_var, cr_reg, prior_reg,
                )  # fmt: skip
                out[sl], converged[sl] = a, ok
        stalled = np.flatnonzero(~converged)
        self.fallbacks["alpha_mle"] = len(stalled)
        self.fallbacks_total["alpha_mle"] += len(stalled)
        reasons = self.alpha_fallback_reasons
        reasons["newton"] = len(stalled) - reasons["flat_start"] - reasons["plateau_optimum"]
        means = self._pydeseq2_means(np.asarray(mu), stalled) if len(stalled) else None
        for k, j in enumerate(stalled):  # PyDESeq2's own L-BFGS-B (+ grid search) for these genes
            out[j], converged[j] = pd_utils.fit_alpha_mle(
                counts=np.asarray(counts[:, j]), design_matrix=np.asarray(design_matrix),
                mu=means[:, k], alpha_hat=alpha_hat[j], min_disp=min_disp,
                max_disp=max_disp, prior_disp_var=prior_disp_var, cr_reg=cr_reg,
                prior_reg=prior_reg, optimizer=optimizer,
            )  # fmt: skip
        return out, converged

    _alpha_chunk = alpha_chunk

    def wald_test(
        self,
        design_matrix: np.ndarray,
        disp: np.ndarray,
        lfc: np.ndarray,
        mu: np.ndarray,
        ridge_factor: np.ndarray,
        contrast: np.ndarray,
        lfc_null: np.ndarray,
        alt_hypothesis: Literal["greaterAbs", "lessAbs", "greater", "less"] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n, G = np.shape(mu)
        p = np.shape(design_matrix)[1]
        se = np.empty(G)
        with _torch_threads(self._threads), torch.no_grad():
            X = self._t(design_matrix)
            XX = self._outer_rows(X)
            ridge = self._t(ridge_factor)
            c = self._t(contrast)
            disp_t = self._t(disp)
            for sl in self._chunks(n, G):
                MU = self._t(mu[:, sl])
                W = MU / (1.0 + MU * disp_t[sl])
                M = self._gram(XX, W, p)
                H, _ = _spd_inverse(M + ridge)
                Hc = H @ c
                se[sl] = torch.sqrt(torch.einsum("gp,gpq,gq->g", Hc, M, Hc)).cpu().numpy()
        lfc = np.asarray(lfc, dtype=np.float64)
        contrast = np.asarray(contrast, dtype=np.float64)
        lfc_null = float(np.asarray(lfc_null))
        with np.errstate(invalid="ignore", divide="ignore"):
            z = (lfc - lfc_null) / se[:, None]
            if alt_hypothesis is None:
                stat = (lfc - lfc_null) @ contrast / se
                pval = 2 * norm.sf(np.abs(stat))
            elif alt_hypothesis == "greater":
                stat, pval = _greater(z, contrast)
            elif alt_hypothesis == "less":
                stat, pval = _less(z, contrast)
            elif alt_hypothesis == "greaterAbs":
                stat = (np.sign(lfc) * np.fmax((np.abs(lfc) - lfc_null) / se[:, None], 0)) @ contrast
                pval = 2 * norm.sf(np.abs(stat))
            elif alt_hypothesis == "lessAbs":
                s_above, p_above = _greater((lfc + abs(lfc_null)) / se[:, None], contrast)
                s_below, p_below = _less((lfc - abs(lfc_null)) / se[:, None], contrast)
                stat = np.where(np.abs(s_below) < np.abs(s_above), s_below, s_above)
                pval = np.fmax(p_above, p_below)
            else:
                raise ValueError(f"unknown alt_hypothesis {alt_hypothesis!r}")
        return pval, stat, se
