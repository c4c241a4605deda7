"""The PyDESeq2 :class:`~pydeseq2.inference.Inference` that fits every gene at once with PyTorch.

See :mod:`genexai.de.torch` for what is computed and how closely it agrees with PyDESeq2.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import numpy as np
import torch
from pydeseq2 import utils as pd_utils
from pydeseq2.default_inference import DefaultInference
from sklearn.linear_model import LinearRegression

from genexai.de.torch.device import resolve_device, torch_threads
from genexai.de.torch.irls import IrlsOptions, irls_chunk
from genexai.de.torch.lbfgsb import first_step_rule, plateau_optimum
from genexai.de.torch.linalg import outer_rows
from genexai.de.torch.nb import AlphaObjective
from genexai.de.torch.newton import newton_alpha
from genexai.de.torch.wald import wald_pvalues, wald_se

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
        objective (see :mod:`genexai.de.torch.lbfgsb`). ``False`` returns the exact optimum
        for every gene, which on small designs differs from PyDESeq2 for near-Poisson genes.
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

    def _t(self, array) -> torch.Tensor:
        return torch.as_tensor(np.asarray(array, dtype=np.float64), device=self.device)

    def _chunks(self, n_samples: int, n_genes: int) -> Iterator[slice]:
        step = max(1, self.max_elements // max(n_samples, 1))
        for start in range(0, n_genes, step):
            yield slice(start, min(start + step, n_genes))

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
        opts = IrlsOptions(min_mu, beta_tol, min_beta, max_beta, optimizer, maxiter)
        with torch_threads(self._threads), torch.no_grad():
            for sl in self._chunks(n, G):
                b, m, h, c, n_fallback = irls_chunk(
                    counts[:, sl], size_factors, design_matrix, disp[sl], opts, self.device
                )
                betas[sl], mu_out[:, sl], hat_out[:, sl], converged[sl] = b, m, h, c
                self.fallbacks["irls"] += n_fallback
                self.fallbacks_total["irls"] += n_fallback
        # Remember the inputs: if these means come back to alpha_mle, the genes it hands to
        # PyDESeq2's code get PyDESeq2's own means too (see _pydeseq2_means).
        self._irls_memo = {
            "mu": mu_out, "counts": counts, "size_factors": np.asarray(size_factors, dtype=np.float64),
            "design_matrix": np.asarray(design_matrix, dtype=np.float64), "disp": disp,
            "options": opts._asdict(),
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
        bounds = float(np.log(min_disp)), float(np.log(max_disp))
        with torch_threads(self._threads), torch.no_grad():
            for sl in self._chunks(n, G):
                out[sl], converged[sl] = self._alpha_chunk(
                    counts[:, sl], design_matrix, mu[:, sl], alpha_hat[sl], bounds,
                    prior_disp_var if prior_reg else None, cr_reg,
                )  # fmt: skip
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

    def _alpha_chunk(
        self,
        counts: np.ndarray,
        design_matrix: np.ndarray,
        mu: np.ndarray,
        alpha_hat: np.ndarray,
        bounds: tuple[float, float],
        prior_var: float | None,
        cr_reg: bool,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Dispersions of one chunk by batched Newton on ``bounds`` (of log alpha); ``prior_var`` None = no prior."""
        X = self._t(design_matrix)
        Y = self._t(counts)
        MU = self._t(mu)
        lo, hi = bounds
        log_hat = self._t(np.log(alpha_hat))
        prior_reg = prior_var is not None
        objective = AlphaObjective(outer_rows(X), X.shape[1], cr_reg, prior_reg, float(prior_var) if prior_reg else 1.0)
        # Parts of the NB log-likelihood that do not depend on alpha, per gene.
        work = {"y": Y, "m": MU, "th_hat": log_hat, "sy": Y.sum(0), "sylm": torch.xlogy(Y, MU).sum(0)}
        theta, ok, stopped_at_start = newton_alpha(
            objective, work, torch.clamp(log_hat, lo, hi), lo, hi,
            tol=self.alpha_tol, maxiter=self.alpha_maxiter,
            first_step=first_step_rule if self.match_lbfgsb else None, reasons=self.alpha_fallback_reasons,
        )  # fmt: skip
        if self.match_lbfgsb:
            plateau = plateau_optimum(theta, MU, ok, stopped_at_start)
            ok &= ~plateau
            self.alpha_fallback_reasons["plateau_optimum"] += int(plateau.sum())
        return torch.exp(theta).cpu().numpy(), ok.cpu().numpy()

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
        with torch_threads(self._threads), torch.no_grad():
            XX = outer_rows(self._t(design_matrix))
            ridge = self._t(ridge_factor)
            c = self._t(contrast)
            disp_t = self._t(disp)
            for sl in self._chunks(n, G):
                se[sl] = wald_se(XX, self._t(mu[:, sl]), disp_t[sl], ridge, c, p).cpu().numpy()
        lfc = np.asarray(lfc, dtype=np.float64)
        contrast = np.asarray(contrast, dtype=np.float64)
        pval, stat = wald_pvalues(lfc, se, contrast, float(np.asarray(lfc_null)), alt_hypothesis)
        return pval, stat, se
