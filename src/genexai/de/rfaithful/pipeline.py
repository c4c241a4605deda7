"""PyDESeq2's dataset and Wald test with R DESeq2's own steps where PyDESeq2's differ (``de.pipeline=r``).

PyDESeq2 (and genexai's torch engine, which computes what PyDESeq2 computes) follows
DESeq2's pipeline step by step, but computes several steps its own way. These classes
replace them with R's: the gene-wise and MAP dispersion line search and grid rules
(:mod:`~genexai.de.rfaithful.linesearch`), the parametric trend
(:mod:`~genexai.de.rfaithful.trend`), the MAD constant of the log-residual variance that
sets the dispersion prior and the outlier rule (R: 1.4826; PyDESeq2: 1/Φ⁻¹(0.75) =
1.482602…), the GLM fit (:mod:`~genexai.de.rfaithful.glm`), the Wald errors at floored
means, the Cook's refit with these same steps, and the lowess of the independent-filtering
threshold (:mod:`~genexai.de.rfaithful.lowess`). The size factors, Cook's distances and
the outlier replacement are PyDESeq2's, on whichever inference engine the caller passes.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd
import torch
from pydeseq2.dds import DeseqDataSet
from pydeseq2.ds import DeseqStats

from genexai.de.filtering import independent_filtering
from genexai.de.rfaithful.glm import RIDGE_NATURAL, fit_nbinom_glm
from genexai.de.rfaithful.linesearch import fit_dispersions, grid_dispersions
from genexai.de.rfaithful.trend import (
    TrendFitError,
    dispersion_prior_variance,
    log_dispersion_variance,
    parametric_trend,
)
from genexai.de.torch.device import torch_threads

__all__ = ["RDeseqDataSet", "RDeseqStats"]


class RDeseqDataSet(DeseqDataSet):
    """:class:`pydeseq2.dds.DeseqDataSet` whose dispersion and GLM steps are R DESeq2's.

    Gene-wise and MAP dispersions by R's line search and grid rules
    (:mod:`~genexai.de.rfaithful.linesearch`), the trend and the prior as R fits them, the
    coefficients by R's ``fitNbinomGLMs``; the means the dispersions are fitted at (the
    inference engine's linear model when the design is one group per coefficient, else
    its GLM), the size factors and Cook's distances are PyDESeq2's.
    """

    @contextmanager
    def _on_device(self) -> Iterator[torch.device]:
        """The torch engine's device and thread count (the CPU, torch's default threads, with PyDESeq2's engine)."""
        with torch_threads(getattr(self.inference, "_threads", None)):
            yield getattr(self.inference, "device", torch.device("cpu"))

    def fit_genewise_dispersions(self, vst: bool = False) -> None:
        if vst:
            super().fit_genewise_dispersions(vst)
            return
        if "size_factors" not in self.obs:
            self.fit_size_factors(fit_type=self.size_factors_fit_type)
        self.var["non_zero"] = ~(self.X == 0).all(axis=0)
        self.non_zero_idx = np.arange(self.n_vars)[self.var["non_zero"]]
        self.non_zero_genes = self.var_names[self.var["non_zero"]]
        self._fit_MoM_dispersions()  # R's alpha_init: min(rough, moments), clamped to [minDisp, maxDisp]
        design = self.obsm["design_matrix"].to_numpy(dtype=np.float64)
        counts = np.asarray(self.X[:, self.non_zero_idx], dtype=np.float64)
        initial = self.var.loc[self.var["non_zero"], "_MoM_dispersions"].to_numpy(dtype=np.float64)
        if len(self.obsm["design_matrix"].value_counts()) == design.shape[1]:  # R's linearMu
            mu = self.inference.lin_reg_mu(
                counts=counts, size_factors=self.obs["size_factors"].to_numpy(), design_matrix=design, min_mu=self.min_mu
            )
        else:
            mu = self.inference.irls(
                counts=counts, size_factors=self.obs["size_factors"].to_numpy(), design_matrix=design, disp=initial,
                min_mu=self.min_mu, beta_tol=self.beta_tol,
            )[1]  # fmt: skip
        mu = np.maximum(mu, self.min_mu)
        with self._on_device() as device:
            fit = fit_dispersions(
                counts, mu, design, np.log(initial), min_log_alpha=np.log(self.min_disp / 10), device=device
            )
        estimate = np.minimum(np.exp(fit.log_alpha), self.max_disp)
        no_increase = fit.last_lp < fit.initial_lp + np.abs(fit.initial_lp) / 1e6
        estimate[no_increase] = initial[no_increase]
        converged = (fit.iterations < 100) & (fit.iterations != 1)
        refit = ~converged & (estimate > self.min_disp * 10)
        if refit.any():
            with self._on_device() as device:
                estimate[refit] = grid_dispersions(counts[:, refit], mu[:, refit], design, device=device)
        self.layers["_mu_hat"] = np.full((self.n_obs, self.n_vars), np.nan)
        self.layers["_mu_hat"][:, self.var["non_zero"]] = mu
        self.var["genewise_dispersions"] = np.full(self.n_vars, np.nan)
        self.var.loc[self.var["non_zero"], "genewise_dispersions"] = np.clip(estimate, self.min_disp, self.max_disp)
        self.var["_genewise_converged"] = pd.array([pd.NA] * self.n_vars, dtype="boolean")
        self.var.loc[self.var["non_zero"], "_genewise_converged"] = converged

    def fit_LFC(self) -> None:
        """R's GLM fit (:func:`~genexai.de.rfaithful.glm.fit_nbinom_glm`) in PyDESeq2's fields."""
        if "dispersions" not in self.var:
            self.fit_MAP_dispersions()
        design = self.obsm["design_matrix"]
        with self._on_device() as device:
            fit = fit_nbinom_glm(
                self.X[:, self.non_zero_idx], self.obs["size_factors"].to_numpy(), design.to_numpy(dtype=np.float64),
                self.var.loc[self.var["non_zero"], "dispersions"].to_numpy(dtype=np.float64), min_mu=self.min_mu,
                device=device,
            )  # fmt: skip
        self.varm["LFC"] = pd.DataFrame(np.nan, index=self.var_names, columns=design.columns)
        self.varm["LFC"].loc[self.non_zero_genes] = fit.beta
        self.obsm["_mu_LFC"] = fit.mu
        self.obsm["_hat_diagonals"] = fit.hat_diagonals
        self.var["_LFC_converged"] = pd.array([pd.NA] * self.n_vars, dtype="boolean")
        self.var.loc[self.var["non_zero"], "_LFC_converged"] = fit.converged

    def _refit_without_outliers(self) -> None:
        """PyDESeq2's refit of the genes whose Cook's outliers were replaced, with this class's steps.

        PyDESeq2 builds the refit's dataset as ``pydeseq2.dds.DeseqDataSet`` by name, so
        the refitted genes would get PyDESeq2's dispersions; R refits them with the same
        gene-wise and MAP rules as every other gene (``refitWithoutOutliers``). The name is
        pointed at this class for the call only.
        """
        module = sys.modules[DeseqDataSet.__module__]
        module.DeseqDataSet = type(self)
        try:
            super()._refit_without_outliers()
        finally:
            module.DeseqDataSet = DeseqDataSet

    def fit_MAP_dispersions(self) -> None:
        if "prior_disp_var" not in self.uns:
            self.fit_dispersion_prior()
        non_zero = self.var["non_zero"].to_numpy()
        design = self.obsm["design_matrix"].to_numpy(dtype=np.float64)
        counts = np.asarray(self.X[:, self.non_zero_idx], dtype=np.float64)
        mu = self.layers["_mu_hat"][:, non_zero]
        gene_wise = self.var["genewise_dispersions"].to_numpy(dtype=np.float64)[non_zero]
        fitted = self.var["fitted_dispersions"].to_numpy(dtype=np.float64)[non_zero]
        prior_variance = float(np.asarray(self.uns["prior_disp_var"]).item())
        initial = np.where(gene_wise > 0.1 * fitted, gene_wise, fitted)
        with self._on_device() as device:
            fit = fit_dispersions(
                counts, mu, design, np.log(initial), min_log_alpha=np.log(self.min_disp / 10),
                prior_mean=np.log(fitted), prior_variance=prior_variance, device=device,
            )  # fmt: skip
        estimate = np.exp(fit.log_alpha)
        converged = fit.iterations < 100
        if (~converged).any():
            with self._on_device() as device:
                estimate[~converged] = grid_dispersions(
                    counts[:, ~converged], mu[:, ~converged], design, prior_mean=np.log(fitted[~converged]),
                    prior_variance=prior_variance, device=device,
                )  # fmt: skip
        estimate = np.clip(estimate, self.min_disp, self.max_disp)
        self.var["MAP_dispersions"] = np.full(self.n_vars, np.nan)
        self.var.loc[non_zero, "MAP_dispersions"] = estimate
        self.var["_MAP_converged"] = pd.array([pd.NA] * self.n_vars, dtype="boolean")
        self.var.loc[non_zero, "_MAP_converged"] = converged
        outlier = np.log(gene_wise) > np.log(fitted) + 2 * np.sqrt(self.uns["_squared_logres"])
        final = np.where(outlier, gene_wise, estimate)
        self.var["dispersions"] = np.full(self.n_vars, np.nan)
        self.var.loc[non_zero, "dispersions"] = final
        self.var["_outlier_genes"] = False
        self.var.loc[non_zero, "_outlier_genes"] = outlier
        if self.low_memory:
            del self.layers["_mu_hat"]

    def _fit_parametric_dispersion_trend(self, vst: bool = False) -> None:
        if vst:  # the variance-stabilising transform is not part of the DE test
            super()._fit_parametric_dispersion_trend(vst)
            return
        non_zero = self.var["non_zero"].to_numpy()
        means = self.var["_normed_means"].to_numpy(dtype=np.float64)[non_zero]
        gene_wise = self.var["genewise_dispersions"].to_numpy(dtype=np.float64)[non_zero]
        use = gene_wise > 100 * self.min_disp
        if not use.any():
            raise TrendFitError("all gene-wise dispersion estimates are within 2 orders of magnitude of the minimum")
        try:
            coefs = parametric_trend(means[use], gene_wise[use])
        except TrendFitError as err:
            warnings.warn(
                f"{err}: R's DESeq2 would fit a local (locfit) trend here, which genexai does not reproduce; "
                "using the mean dispersion trend instead",
                UserWarning,
                stacklevel=2,
            )
            self._fit_mean_dispersion_trend(vst)
            return
        self.uns["trend_coeffs"] = pd.Series(coefs, index=["a0", "a1"])
        self.uns["disp_function_type"] = "parametric"
        fitted = np.full(self.n_vars, np.nan)
        fitted[non_zero] = coefs[0] + coefs[1] / means
        self.var["fitted_dispersions"] = fitted

    def fit_dispersion_prior(self) -> None:
        if "fitted_dispersions" not in self.var:
            self.fit_dispersion_trend()
        n_samples, n_coefs = self.n_obs, self.obsm["design_matrix"].shape[-1]
        non_zero = self.var["non_zero"].to_numpy()
        variance = log_dispersion_variance(
            self.var["genewise_dispersions"].to_numpy(dtype=np.float64)[non_zero],
            self.var["fitted_dispersions"].to_numpy(dtype=np.float64)[non_zero],
            self.min_disp,
        )
        if 0 < n_samples - n_coefs <= 3:
            warnings.warn(
                f"{n_samples - n_coefs} residual degrees of freedom: R's DESeq2 matches the log-dispersion residuals to "
                "a distribution simulated with R's random generator here, which genexai does not reproduce; the "
                "prior variance uses the formula for more degrees of freedom",
                UserWarning,
                stacklevel=2,
            )
        self.uns["_squared_logres"] = variance  # R's varLogDispEsts, also the outlier rule's variance
        self.uns["prior_disp_var"] = np.asarray(dispersion_prior_variance(variance, n_samples, n_coefs))


class RDeseqStats(DeseqStats):
    """:class:`pydeseq2.ds.DeseqStats` with R's Wald standard errors and independent-filtering threshold.

    R's standard errors (``fitBeta``, and ``optim``'s rows) use the means floored at
    ``min_mu`` and the ridge ``1e-6`` on the log2 scale; PyDESeq2's use unfloored means,
    which inflates the errors of genes with near-zero groups. The threshold uses R's lowess.
    """

    def run_wald_test(self) -> None:
        if self.prior_LFC_var is not None or self.shrunk_LFCs:  # apeglm priors: not R's MLE Wald test
            super().run_wald_test()
            return
        lfc = self.LFC.to_numpy(dtype=np.float64)
        fitted = np.isfinite(lfc).all(1)  # all-zero genes have no coefficients (NaN is slow in np.maximum)
        mu = np.full((self.dds.n_obs, lfc.shape[0]), np.nan)
        eta = self.design_matrix.to_numpy(dtype=np.float64) @ lfc[fitted].T
        mu[:, fitted] = np.maximum(np.exp(eta) * self.dds.obs["size_factors"].to_numpy()[:, None], self.dds.min_mu)
        pvals, stats, se = self.inference.wald_test(
            design_matrix=self.design_matrix.to_numpy(dtype=np.float64),
            disp=self.dds.var["dispersions"].to_numpy(dtype=np.float64),
            lfc=lfc,
            mu=mu,
            ridge_factor=np.diag(np.repeat(RIDGE_NATURAL, self.design_matrix.shape[1])),
            contrast=self.contrast_vector,
            lfc_null=np.log(2) * self.lfc_null,
            alt_hypothesis=self.alt_hypothesis,
        )
        self.p_values = pd.Series(pvals, index=self.dds.var_names)
        self.statistics = pd.Series(stats, index=self.dds.var_names)
        self.SE = pd.Series(se, index=self.dds.var_names)
        if self.dds.refit_cooks and self.dds.var["replaced"].sum() > 0:
            self.SE.loc[self.dds.new_all_zeroes_genes] = 0.0
            self.statistics.loc[self.dds.new_all_zeroes_genes] = 0.0
            self.p_values.loc[self.dds.new_all_zeroes_genes] = 1.0

    def _independent_filtering(self) -> None:
        if not hasattr(self, "p_values"):
            self.run_wald_test()
        padj, self.filter_threshold = independent_filtering(
            self.p_values.to_numpy(dtype=np.float64), np.asarray(self.base_mean), self.alpha, r_rule=True
        )
        self.padj = pd.Series(padj, index=self.dds.var_names)
