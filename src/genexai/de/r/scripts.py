"""The R side of each engine: one R function per method, the textbook pipeline of its package.

Each function takes ``counts`` (genes x samples integers), ``coldata`` (the design
columns, factors with the reference level first), the design formula and the tested
coefficient, and returns a named list of per-gene vectors in DESeq2's result columns.
They are exactly what the packages' user guides run (edgeR's quasi-likelihood
pipeline, limma's voom, DESeq2's ``DESeq`` + ``results``), so a genexai result can be
checked against a direct R run (``tests/fixtures/r/make_r_fixtures.R``).

Columns where a package has no counterpart: edgeR's QL F-test has no Wald standard
error (``lfcSE`` = NA) and its ``stat`` is ``sign(logFC) * sqrt(max(F, 0))`` (one numerator
degree of freedom, so a signed t-like statistic); limma's ``lfcSE`` is the moderated
standard error ``stdev.unscaled * sqrt(s2.post)``. For edgeR and voom, ``baseMean`` is
the mean of counts divided by TMM effective library sizes scaled to geometric mean 1
(DESeq2's size-factor convention), and genes ``filterByExpr`` removes keep their
``baseMean`` but have NA statistics, as DESeq2's independent filtering leaves them.
"""

from __future__ import annotations

__all__ = ["DESEQ2", "EDGER_QL", "LIMMA_VOOM"]

_FILTERED_FIT = r"""
    X <- model.matrix(as.formula(design), data = coldata)
    coef <- paste0(variable, tested)
    if (!(coef %in% colnames(X))) stop("coefficient ", coef, " is not in the design matrix")
    y <- edgeR::DGEList(counts = counts)
    keep <- edgeR::filterByExpr(y, design = X)
    y <- y[keep, , keep.lib.sizes = FALSE]
    y <- edgeR::calcNormFactors(y, method = "TMM")
    eff <- y$samples$lib.size * y$samples$norm.factors
    n <- nrow(counts)
    out <- list(
        baseMean = rowMeans(sweep(counts, 2, eff / exp(mean(log(eff))), "/")),
        log2FoldChange = rep(NA_real_, n), lfcSE = rep(NA_real_, n),
        stat = rep(NA_real_, n), pvalue = rep(NA_real_, n), padj = rep(NA_real_, n)
    )
"""

#: edgeR quasi-likelihood: filterByExpr, TMM, estimateDisp, glmQLFit, glmQLFTest.
EDGER_QL = (
    "function(counts, coldata, design, variable, tested, robust) {"
    + _FILTERED_FIT
    + r"""
    y <- edgeR::estimateDisp(y, X, robust = robust)
    fit <- edgeR::glmQLFit(y, X, robust = robust)
    tab <- edgeR::glmQLFTest(fit, coef = coef)$table
    out$log2FoldChange[keep] <- tab$logFC
    out$stat[keep] <- sign(tab$logFC) * sqrt(pmax(tab$F, 0))  # F < 0 only by rounding
    out$pvalue[keep] <- tab$PValue
    out$padj[keep] <- p.adjust(tab$PValue, method = "BH")
    out
}"""
)

#: limma-voom: filterByExpr, TMM, voom, lmFit, eBayes (moderated t).
LIMMA_VOOM = (
    "function(counts, coldata, design, variable, tested, robust) {"
    + _FILTERED_FIT
    + r"""
    v <- limma::voom(y, X)
    fit <- limma::eBayes(limma::lmFit(v, X), robust = robust)
    tab <- limma::topTable(fit, coef = coef, number = Inf, sort.by = "none")
    out$log2FoldChange[keep] <- tab$logFC
    out$lfcSE[keep] <- fit$stdev.unscaled[, coef] * sqrt(fit$s2.post)
    out$stat[keep] <- tab$t
    out$pvalue[keep] <- tab$P.Value
    out$padj[keep] <- tab$adj.P.Val
    out
}"""
)

#: R's DESeq2: DESeq (Cook's replacement at >= 7 replicates unless refit_cooks is false), results.
DESEQ2 = r"""function(counts, coldata, design, variable, tested, reference, alpha, cooks_filter,
                       independent_filter, refit_cooks, lfc_shrink) {
    suppressPackageStartupMessages(library(DESeq2))
    dds <- suppressMessages(DESeqDataSetFromMatrix(counts, coldata, as.formula(design)))
    dds <- DESeq(dds, quiet = TRUE, minReplicatesForReplace = if (refit_cooks) 7 else Inf)
    args <- list(dds, contrast = c(variable, tested, reference), alpha = alpha,
                 independentFiltering = independent_filter)
    if (!cooks_filter) args$cooksCutoff <- FALSE
    res <- do.call(results, args)
    if (lfc_shrink) {
        res <- suppressMessages(lfcShrink(dds, coef = paste(variable, tested, "vs", reference, sep = "_"),
                                          type = "apeglm", res = res, quiet = TRUE))
    }
    list(baseMean = res$baseMean, log2FoldChange = res$log2FoldChange, lfcSE = res$lfcSE,
         stat = if (is.null(res$stat)) rep(NA_real_, nrow(res)) else res$stat,
         pvalue = res$pvalue, padj = res$padj)
}"""
