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

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import numpy as np
import torch
from pydeseq2 import utils as pd_utils
from pydeseq2.default_inference import DefaultInference
from pydeseq2.grid_search import grid_fit_beta
from scipy.optimize import minimize
from scipy.stats import norm
from sklearn.linear_model import LinearRegression

from genexai.errors import ConfigError

__all__ = ["TorchInference", "check_device_name", "resolve_device"]

_DEVICES = ("cpu", "cuda", "auto")


def check_device_name(device: str | torch.device) -> str:
    """Return the normalised device name; raise a one-line ConfigError for an unknown one."""
    name = str(device).strip().lower()
    if name in _DEVICES or (name.startswith("cuda:") and name[5:].isdigit()):
        return name
    raise ConfigError(f"de.device must be one of {list(_DEVICES)} (or cuda:N), got {device!r}.")


def resolve_device(device: str | torch.device) -> torch.device:
    """Return the torch device for ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``.

    ``"auto"`` picks CUDA when available, else the CPU. An unknown name, or CUDA on a
    machine without it, raises :class:`~genexai.errors.ConfigError`.
    """
    if isinstance(device, torch.device):
        return device
    name = check_device_name(device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError(f"de.device={device!r} but no CUDA GPU is available here; use de.device=cpu or auto.")
    return torch.device(name)


@contextmanager
def _torch_threads(n_threads: int | None) -> Iterator[None]:
    """Run with ``n_threads`` intra-op torch threads, restoring the previous setting."""
    if not n_threads:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(int(n_threads))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


# scipy's L-BFGS-B defaults (pgtol, factr * machine eps), as PyDESeq2 calls it; and the
# margin by which a first step's relative decrease may exceed the ftol test and still
# be treated as a possible early stop.
_EPS = float(np.finfo(float).eps)
_LBFGSB_PGTOL = 1e-5
_LBFGSB_FTOL = 1e7 * _EPS
_EARLY_STOP_MARGIN = 10.0
# An optimum with alpha * max(mu) below this is on the near-Poisson plateau.
_PLATEAU_AMU = 1e-2
# Newton steps (in log alpha) up to this length are taken without a line search.
_TRUST_STEP = 0.5

# Above this 1/alpha, the gamma-function differences below switch from the direct
# difference (absolute error ~ eps * lgamma(r), large) to Stirling/asymptotic series
# whose truncation error is below 1e-18 here.
_BIG_R = 1e4


def _gamma_diffs(y: torch.Tensor, r: torch.Tensor, kinds: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """Differences of gamma-family functions between ``y + r`` and ``r`` (``r`` per gene).

    ``"lgamma"``: lgamma(y+r) - lgamma(r); ``"digamma"``: psi(y+r) - psi(r);
    ``"trigamma"``: psi1(r) - psi1(y+r). For near-Poisson genes (``r = 1/alpha`` huge)
    the direct differences cancel catastrophically (lgamma(1e8) ~ 2e9); there the
    asymptotic expansions, written in terms of ``y`` so that nothing cancels, are used.
    """
    s = y + r
    out = {}
    if "lgamma" in kinds:
        out["lgamma"] = torch.lgamma(s) - torch.lgamma(r)
    if "digamma" in kinds:
        out["digamma"] = torch.digamma(s) - torch.digamma(r)
    if "trigamma" in kinds:
        out["trigamma"] = torch.polygamma(1, r) - torch.polygamma(1, s)
    big = (r >= _BIG_R).nonzero().squeeze(1)
    if big.numel():
        yb, rb = y[:, big], r[big]
        sb = yb + rb
        q = yb / rb
        l1q = torch.log1p(q)
        rs = rb * sb
        if "lgamma" in kinds:  # Stirling: (x-1/2)log x - x + 1/(12x) - 1/(360x^3)
            out["lgamma"][:, big] = (
                (rb - 0.5) * l1q + yb * torch.log(sb) - yb - yb / (12.0 * rs)
                + yb * (sb * sb + rs + rb * rb) / (360.0 * rs**3)
            )  # fmt: skip
        if "digamma" in kinds:  # psi(x) ~ log x - 1/(2x) - 1/(12x^2)
            out["digamma"][:, big] = l1q + yb / (2.0 * rs) + yb * (sb + rb) / (12.0 * rs**2)
        if "trigamma" in kinds:  # psi1(x) ~ 1/x + 1/(2x^2) + 1/(6x^3)
            out["trigamma"][:, big] = (
                yb / rs + yb * (sb + rb) / (2.0 * rs**2) + yb * (sb * sb + rs + rb * rb) / (6.0 * rs**3)
            )
    return out


def _cholesky(M: torch.Tensor) -> torch.Tensor:
    """Lower Cholesky factor of a batch of small SPD matrices (``genes x p x p``).

    Written out over the ``p`` columns so that each step is one vectorised operation
    over all genes: LAPACK's batched routines pay a per-matrix call overhead that
    dominates for 2 x 2 ... 10 x 10 matrices. Non-positive-definite matrices give NaN.
    """
    p = M.shape[-1]
    L = torch.zeros_like(M)
    for j in range(p):
        d = torch.sqrt(M[:, j, j] - (L[:, j, :j] ** 2).sum(-1))
        L[:, j, j] = d
        if j + 1 < p:
            L[:, j + 1 :, j] = (M[:, j + 1 :, j] - (L[:, j + 1 :, :j] * L[:, j, None, :j]).sum(-1)) / d[:, None]
    return L


def _spd_inverse(M: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse of a batch of small SPD matrices via Cholesky; returns ``(inverse, L)``."""
    L = _cholesky(M)
    p = M.shape[-1]
    Li = torch.zeros_like(L)
    for i in range(p):
        Li[:, i, i] = 1.0 / L[:, i, i]
        for j in range(i):
            Li[:, i, j] = -(L[:, i, j:i] * Li[:, j:i, j]).sum(-1) / L[:, i, i]
    return Li.transpose(1, 2) @ Li, L


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

    def _irls_chunk(
        self,
        counts: np.ndarray,
        size_factors: np.ndarray,
        design_matrix: np.ndarray,
        disp: np.ndarray,
        min_mu: float,
        beta_tol: float,
        min_beta: float,
        max_beta: float,
        optimizer: str,
        maxiter: int,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        X = self._t(design_matrix)
        n, p = X.shape
        sf = self._t(size_factors)[:, None]
        Y = self._t(counts)
        G = Y.shape[1]
        alpha = self._t(disp)
        XX = self._outer_rows(X)
        ridge = torch.eye(p, dtype=X.dtype, device=X.device) * 1e-6

        # Initial betas, as irls_solver: least squares of log(y/s + 0.1) when X has full rank.
        if np.linalg.matrix_rank(np.asarray(design_matrix)) == p:
            Q, R = torch.linalg.qr(X)
            beta_init = torch.linalg.solve_triangular(R, Q.T @ torch.log(Y / sf + 0.1), upper=True).T
        else:
            beta_init = torch.zeros(G, p, dtype=X.dtype, device=X.device)
            beta_init[:, 0] = torch.log(Y / sf).mean(0)
        beta = beta_init.clone()

        # -2 log L = -2 (const + var); the lgamma part does not change while alpha is fixed.
        r = 1.0 / alpha
        logbinom = torch.lgamma(Y + r) - torch.lgamma(Y + 1.0) - torch.lgamma(r)
        const = n * r * torch.log(alpha) - logbinom.sum(0)
        del logbinom

        # mu = max(s e^eta, min_mu), so log(mu / s) = max(eta, log(min_mu / s)): no log needed.
        log_sf = torch.log(sf)
        eta_floor = np.log(min_mu) - log_sf

        def dev_of(y, log_mu_s, r_, c_):
            m = torch.exp(log_mu_s) * sf
            return -2.0 * (c_ + ((y + r_) * torch.log(r_ + m) - y * (log_mu_s + log_sf)).sum(0)), m

        fallback = torch.zeros(G, dtype=torch.bool, device=X.device)
        active = torch.arange(G, device=X.device)
        Ya, ra, ca, aa = Y, r, const, alpha
        log_mu_s = torch.maximum(X @ beta.T, eta_floor)  # log(mu / s) at the thresholded mu
        mua = torch.exp(log_mu_s) * sf
        dev = torch.full((G,), 1000.0, dtype=X.dtype, device=X.device)
        it = 0
        while active.numel():
            W = mua / (1.0 + mua * aa)
            z = log_mu_s + (Ya - mua) / mua
            H = self._gram(XX, W, p) + ridge
            rhs = (W * z).T @ X
            beta_hat = (_spd_inverse(H)[0] @ rhs.unsqueeze(-1)).squeeze(-1)
            it += 1
            diverged = (beta_hat.abs() > max_beta).any(1) | ~torch.isfinite(beta_hat).all(1)
            if it >= maxiter:
                diverged[:] = True
            if diverged.any():
                fallback[active[diverged]] = True
                keep = ~diverged
                active, Ya, ra, ca, aa, beta_hat, dev = (
                    active[keep], Ya[:, keep], ra[keep], ca[keep], aa[keep], beta_hat[keep], dev[keep]
                )
            beta[active] = beta_hat
            log_mu_s = torch.maximum(X @ beta_hat.T, eta_floor)
            old_dev = dev
            dev, mua = dev_of(Ya, log_mu_s, ra, ca)
            ratio = (dev - old_dev).abs() / (dev.abs() + 0.1)
            go_on = ratio > beta_tol  # NaN stops, as `while dev_ratio > beta_tol`
            if not go_on.all():
                active, Ya, ra, ca, aa, mua, log_mu_s, dev = (
                    active[go_on], Ya[:, go_on], ra[go_on], ca[go_on], aa[go_on],
                    mua[:, go_on], log_mu_s[:, go_on], dev[go_on],
                )  # fmt: skip

        converged = np.ones(G, dtype=bool)
        if fallback.any():
            idx = fallback.nonzero().squeeze(1).cpu().numpy()
            self.fallbacks["irls"] += len(idx)
            self.fallbacks_total["irls"] += len(idx)
            init = beta_init.cpu().numpy()
            for j in idx:
                b, ok = _irls_optimizer_fallback(
                    np.asarray(counts[:, j], dtype=np.float64), np.asarray(size_factors, dtype=np.float64),
                    np.asarray(design_matrix, dtype=np.float64), float(disp[j]), init[j],
                    min_mu, min_beta, max_beta, optimizer,
                )  # fmt: skip
                beta[j] = torch.as_tensor(b, dtype=X.dtype, device=X.device)
                converged[j] = ok

        # Hat diagonals W^½ X (X^T W X + ridge)^-1 X^T W^½ at the thresholded means.
        eta = X @ beta.T
        mu_thr = torch.clamp(sf * torch.exp(eta), min=min_mu)
        W = mu_thr / (1.0 + mu_thr * alpha)
        inv, _ = _spd_inverse(self._gram(XX, W, p) + ridge)
        hat = W * (XX @ inv.reshape(G, p * p).T)
        mu = sf * torch.exp(eta)  # unthresholded, as PyDESeq2 returns
        return beta.cpu().numpy(), mu.cpu().numpy(), hat.cpu().numpy(), converged

    # ------------------------------------------------------------ dispersions
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

    def _alpha_chunk(
        self,
        counts: np.ndarray,
        design_matrix: np.ndarray,
        mu: np.ndarray,
        alpha_hat: np.ndarray,
        min_disp: float,
        max_disp: float,
        prior_disp_var: float | None,
        cr_reg: bool,
        prior_reg: bool,
    ) -> tuple[np.ndarray, np.ndarray]:
        X = self._t(design_matrix)
        p = X.shape[1]
        XX = self._outer_rows(X)
        Y = self._t(counts)
        MU = self._t(mu)
        G = Y.shape[1]
        lo, hi = float(np.log(min_disp)), float(np.log(max_disp))
        log_hat = self._t(np.log(alpha_hat))
        var = float(prior_disp_var) if prior_reg else 1.0

        # Parts of the NB log-likelihood that do not depend on alpha, per gene.
        sum_y = Y.sum(0)
        sum_ylogm = torch.xlogy(Y, MU).sum(0)

        def objective(theta, y, m, th_hat, sy, sylm, derivatives, value=True):
            """Objective in theta = log(alpha) and, optionally, its first two derivatives.

            nll = sum_i lgamma(r) - lgamma(y+r) + (y+r) log(1 + a m) - y log(a m)  (r = 1/a),
            which is pydeseq2.utils.nb_nll up to the alpha-free lgamma(y+1), written
            without its large cancelling terms r log a and (y+r) log(r+m).
            """
            a = torch.exp(theta)
            r = 1.0 / a
            am = m * a
            l1p = torch.log1p(am)
            yr = y + r
            W = m / (1.0 + am) if cr_reg or derivatives else None
            f = g = h = None
            L = None
            if cr_reg:
                Minv, L = _spd_inverse(self._gram(XX, W, p))
            kinds = (("lgamma",) if value else ()) + (("digamma", "trigamma") if derivatives else ())
            diffs = _gamma_diffs(y, r, kinds)
            if value:
                f = (yr * l1p - diffs["lgamma"]).sum(0) - theta * sy - sylm
                if cr_reg:
                    f = f + torch.log(torch.diagonal(L, dim1=-2, dim2=-1)).sum(-1)  # 0.5 log det M
                if prior_reg:
                    f = f + (theta - th_hat) ** 2 / (2.0 * var)
            if not derivatives:
                return f, g, h
            # r * d nll/dr and r² d² nll/dr², then the chain rule to theta (dr/dtheta = -r):
            # d/dtheta = -r d/dr, d²/dtheta² = r² d²/dr² + r d/dr.  Note m/(1+am) = W.
            resid = (y - m) / (1.0 + am)
            r_fr = (l1p - diffs["digamma"]).sum(0) * r + resid.sum(0)
            r2_frr = diffs["trigamma"].sum(0) * r**2 - (W + resid * W / m).sum(0)
            g = -r_fr
            h = r2_frr + r_fr
            if cr_reg:
                W2 = W * W
                M1 = self._gram(XX, -W2, p)
                M2 = self._gram(XX, 2.0 * W2 * W, p)
                A = Minv @ M1
                ga = 0.5 * torch.diagonal(A, dim1=-2, dim2=-1).sum(-1)
                ha = 0.5 * (
                    torch.diagonal(Minv @ M2, dim1=-2, dim2=-1).sum(-1)
                    - torch.diagonal(A @ A, dim1=-2, dim2=-1).sum(-1)
                )
                g = g + a * ga
                h = h + a**2 * ha + a * ga
            if prior_reg:
                g = g + (theta - th_hat) / var
                h = h + 1.0 / var
            return f, g, h

        # Batched projected Newton in theta. The working set shrinks as genes finish.
        theta_all = torch.clamp(log_hat, lo, hi)
        ok = torch.zeros(G, dtype=torch.bool, device=X.device)
        stopped_at_start = torch.zeros(G, dtype=torch.bool, device=X.device)
        n_samples = Y.shape[0]
        active = torch.arange(G, device=X.device)
        work = {"y": Y, "m": MU, "th_hat": log_hat, "sy": sum_y, "sylm": sum_ylogm}
        theta = theta_all.clone()
        f = torch.zeros_like(theta)
        f_known = torch.zeros(G, dtype=torch.bool, device=X.device)

        def value(sel: torch.Tensor, at: torch.Tensor) -> torch.Tensor:
            w = {k: (v[:, sel] if v.dim() == 2 else v[sel]) for k, v in work.items()}
            return objective(at, w["y"], w["m"], w["th_hat"], w["sy"], w["sylm"], False)[0]

        for it in range(self.alpha_maxiter):
            _, g, h = objective(theta, work["y"], work["m"], work["th_hat"], work["sy"], work["sylm"], True, value=False)
            # Projected gradient: zero where a bound blocks the descent direction.
            pg = torch.where(((theta <= lo) & (g > 0)) | ((theta >= hi) & (g < 0)), torch.zeros_like(g), g)
            # Newton where convex; elsewhere (e.g. the near-Poisson plateau, where the
            # objective is concave in log alpha) a long step downhill, cut by the line search.
            step = torch.where(h > 0, -g / h, -2.0 * torch.sign(g))
            # Done: flat projected gradient, or a Newton step so small that, Newton converging
            # quadratically, taking it lands within ~step² of the optimum (1e-8 in log alpha).
            flat = pg.abs() <= self.alpha_tol
            last = ~flat & (h > 0) & (step.abs() <= 1e-4)
            finished = flat | last
            if it == 0 and self.match_lbfgsb:
                # PyDESeq2's L-BFGS-B (scipy defaults) stops at the start when the projected
                # gradient is <= pgtol, and after a first step of length |g| when that step's
                # relative decrease is <= factr * eps. On such flat starts its answer is set
                # by rounding noise in its gradient (~eps * psi(r) * r * sqrt(n), r = 1/alpha:
                # it changes with 1e-13 changes of the means), not by the optimum. Genes that
                # surely stop at the start keep it; the ambiguous ones are handed to
                # PyDESeq2's own per-gene code (not ok here -> alpha_mle refits them).
                r0 = torch.exp(-theta)
                noise = 2.0 * _EPS * torch.digamma(r0).abs() * r0 * n_samples**0.5
                sure_stop = pg.abs() + noise <= _LBFGSB_PGTOL
                delegate = ~sure_stop & (pg.abs() <= _LBFGSB_PGTOL + noise)
                # An early stop needs g^2 <~ ftol |f|, and |f| (a negative log-likelihood,
                # ~ a few units per sample) rarely exceeds 45 n: only such gradients are checked.
                small = (~sure_stop & ~delegate & (g.abs() <= 1e-3 * n_samples**0.5)).nonzero().squeeze(1)
                if small.numel():
                    w = {k: (v[:, small] if v.dim() == 2 else v[small]) for k, v in work.items()}
                    f0 = objective(theta[small], w["y"], w["m"], w["th_hat"], w["sy"], w["sylm"], False)[0]
                    f[small], f_known[small] = f0, True  # reused by the line search
                    f0 = f0 + torch.lgamma(w["y"] + 1.0).sum(0)  # PyDESeq2's nb_nll scale
                    risky = g[small] ** 2 <= _EARLY_STOP_MARGIN * _LBFGSB_FTOL * torch.clamp(f0.abs(), min=1.0)
                    delegate[small[risky]] = True
                stopped_at_start[active[sure_stop]] = True
                flat = (flat & ~delegate) | sure_stop
                last = last & ~flat & ~delegate
                if delegate.any():
                    theta_all[active[delegate]] = theta[delegate]  # ok stays False
                    self.alpha_fallback_reasons["flat_start"] += int(delegate.sum())
                finished = flat | last | delegate
            if finished.any():
                theta = torch.where(last, torch.clamp(theta + step, lo, hi), theta)
                theta_all[active[flat | last]] = theta[flat | last]
                ok[active[flat | last]] = True
                keep = ~finished
                active, theta, f, f_known, step, g, h = (
                    t[keep] for t in (active, theta, f, f_known, step, g, h)
                )
                work = {k: (v[:, keep] if v.dim() == 2 else v[keep]) for k, v in work.items()}
            if not active.numel():
                break
            step = torch.clamp(step, -2.0, 2.0)
            # Near the optimum (convex, short step) the Newton step is taken as is; otherwise
            # an Armijo backtracking line search guarantees a decrease, like L-BFGS-B's.
            trusted = (h > 0) & (step.abs() <= _TRUST_STEP)
            new_theta = torch.where(trusted, torch.clamp(theta + step, lo, hi), theta)
            searched = (~trusted).nonzero().squeeze(1)
            stalled = torch.zeros_like(trusted)
            if searched.numel():
                unknown = searched[~f_known[searched]]
                if unknown.numel():
                    f[unknown] = value(unknown, theta[unknown])
                    f_known[unknown] = True
                t = torch.ones(searched.numel(), dtype=theta.dtype, device=theta.device)
                pending = torch.arange(searched.numel(), device=theta.device)
                for _ls in range(30):
                    sel = searched[pending]
                    trial = torch.clamp(theta[sel] + t[pending] * step[sel], lo, hi)
                    f_trial = value(sel, trial)
                    good = f_trial <= f[sel] + 1e-4 * g[sel] * (trial - theta[sel])
                    new_theta[sel[good]] = trial[good]
                    f[sel[good]] = f_trial[good]
                    pending = pending[~good]
                    if not pending.numel():
                        break
                    t[pending] *= 0.5
                stalled[searched[pending]] = True
            f_known = f_known & ~trusted
            moved = (new_theta - theta).abs()
            theta = new_theta
            # No decrease found although the Newton step is short: flat to rounding, i.e. at
            # the minimum. A stall on a long step (an odd objective) goes to PyDESeq2's fit.
            tiny = (~stalled & (moved <= 1e-10)) | (stalled & (h > 0) & (step.abs() <= 1e-3))
            stop = tiny | stalled
            if stop.any():
                theta_all[active[stop]] = theta[stop]
                ok[active[tiny]] = True
                keep = ~stop
                active, theta, f, f_known = (t_[keep] for t_ in (active, theta, f, f_known))
                work = {k: (v[:, keep] if v.dim() == 2 else v[keep]) for k, v in work.items()}
            if not active.numel():
                break
        if active.numel():  # out of iterations: handed to PyDESeq2's per-gene fit
            theta_all[active] = theta
        if self.match_lbfgsb:
            # Optimum on the near-Poisson plateau (alpha * mu << 1 for every sample): the
            # objective is so flat there that L-BFGS-B stops wherever its relative-decrease
            # test first fires; let PyDESeq2's code decide for these few genes.
            plateau = ok & ~stopped_at_start & (torch.exp(theta_all) * MU.max(0).values <= _PLATEAU_AMU)
            ok &= ~plateau
            self.alpha_fallback_reasons["plateau_optimum"] += int(plateau.sum())
        return torch.exp(theta_all).cpu().numpy(), ok.cpu().numpy()

    # -------------------------------------------------------------- Wald test
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


def _greater(z: np.ndarray, contrast: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    stat = np.fmax(z, 0) @ contrast
    return stat, norm.sf(stat)


def _less(z: np.ndarray, contrast: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    stat = np.fmin(z, 0) @ contrast
    return stat, norm.sf(np.abs(stat))


def _irls_optimizer_fallback(
    counts: np.ndarray,
    size_factors: np.ndarray,
    X: np.ndarray,
    disp: float,
    beta_init: np.ndarray,
    min_mu: float,
    min_beta: float,
    max_beta: float,
    optimizer: str,
) -> tuple[np.ndarray, bool]:
    """The branch of ``pydeseq2.utils.irls_solver`` taken when IRLS diverges or stalls.

    Same closure, gradient, start (``beta_init``), bounds and grid-search rescue.
    """
    num_vars = X.shape[1]
    ridge_factor = np.diag(np.repeat(1e-6, num_vars))

    def f(beta: np.ndarray) -> float:
        mu_ = np.maximum(size_factors * np.exp(X @ beta), min_mu)
        return pd_utils.nb_nll(counts, mu_, disp) + 0.5 * (ridge_factor @ beta**2).sum()

    def df(beta: np.ndarray) -> np.ndarray:
        mu_ = np.maximum(size_factors * np.exp(X @ beta), min_mu)
        return -X.T @ counts + ((1 / disp + counts) * mu_ / (1 / disp + mu_)) @ X + ridge_factor @ beta

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = minimize(
            f,
            beta_init,
            jac=df,
            method=optimizer,
            bounds=[(min_beta, max_beta)] * num_vars if optimizer == "L-BFGS-B" else None,
        )
    beta = res.x
    if not res.success and num_vars <= 2:
        beta = grid_fit_beta(counts, size_factors, X, disp)
    return beta, bool(res.success)
