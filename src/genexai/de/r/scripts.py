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
standard error ``stdev.unscaled * sqrt(s2.post)``. The ``*_CONTRASTS`` functions fit once and
test every level of ``tested`` against the reference, then all of them together (edgeR's
QL F-test / limma's moderated F of the K − 1 coefficients, DESeq2's LRT against
``reduced``); they return ``<key>__<column>`` vectors, ``keys`` naming the levels and then
the across-level test. For edgeR and voom, ``baseMean`` is
the mean of counts divided by TMM effective library sizes scaled to geometric mean 1
(DESeq2's size-factor convention), and genes ``filterByExpr`` removes keep their
``baseMean`` but have NA statistics, as DESeq2's independent filtering leaves them.
"""

from __future__ import annotations

__all__ = ["DESEQ2", "DESEQ2_CONTRASTS", "EDGER_QL", "EDGER_QL_CONTRASTS", "LIMMA_VOOM", "LIMMA_VOOM_CONTRASTS"]

_FILTERED_FIT = r"""
    X <- model.matrix(as.formula(design), data = coldata)
    coef <- paste0(variable, tested)
    absent <- setdiff(coef, colnames(X))
    if (length(absent)) stop("coefficient ", absent[1], " is not in the design matrix")
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

_EDGER_FIT = r"""
    y <- edgeR::estimateDisp(y, X, robust = robust)
    fit <- edgeR::glmQLFit(y, X, robust = robust)
"""

# `res` (the filled template `out`) from glmQLFTest's table `tab` of one coefficient.
_EDGER_COEF = r"""
    res <- out
    res$log2FoldChange[keep] <- tab$logFC
    res$stat[keep] <- sign(tab$logFC) * sqrt(pmax(tab$F, 0))  # F < 0 only by rounding
    res$pvalue[keep] <- tab$PValue
    res$padj[keep] <- p.adjust(tab$PValue, method = "BH")
"""

# The named list `tables` of result lists as one flat list of `<key>__<column>` vectors.
_FLATTEN = r"""
    flat <- list()
    for (key in names(tables)) for (col in names(tables[[key]])) flat[[paste0(key, "__", col)]] <- tables[[key]][[col]]
    flat
}"""

#: edgeR quasi-likelihood: filterByExpr, TMM, estimateDisp, glmQLFit, glmQLFTest.
EDGER_QL = (
    "function(counts, coldata, design, variable, tested, robust) {"
    + _FILTERED_FIT
    + _EDGER_FIT
    + "    tab <- edgeR::glmQLFTest(fit, coef = coef)$table"
    + _EDGER_COEF
    + "    res\n}"
)

#: edgeR: one glmQLFit, glmQLFTest per level coefficient, then of all of them (stat = F).
EDGER_QL_CONTRASTS = (
    "function(counts, coldata, design, variable, tested, robust, keys) {"
    + _FILTERED_FIT
    + _EDGER_FIT
    + r"""
    tables <- list()
    for (i in seq_along(coef)) {
        tab <- edgeR::glmQLFTest(fit, coef = coef[i])$table"""
    + _EDGER_COEF
    + r"""
        tables[[keys[i]]] <- res
    }
    tab <- edgeR::glmQLFTest(fit, coef = coef)$table
    res <- out
    res$stat[keep] <- tab$F
    res$pvalue[keep] <- tab$PValue
    res$padj[keep] <- p.adjust(tab$PValue, method = "BH")
    tables[[keys[length(keys)]]] <- res"""
    + _FLATTEN
)

_VOOM_FIT = r"""
    v <- limma::voom(y, X)
    fit <- limma::eBayes(limma::lmFit(v, X), robust = robust)
"""

# `res` from topTable's table `tab` of the one coefficient `one`.
_VOOM_COEF = r"""
    res <- out
    res$log2FoldChange[keep] <- tab$logFC
    res$lfcSE[keep] <- fit$stdev.unscaled[, one] * sqrt(fit$s2.post)
    res$stat[keep] <- tab$t
    res$pvalue[keep] <- tab$P.Value
    res$padj[keep] <- tab$adj.P.Val
"""

#: limma-voom: filterByExpr, TMM, voom, lmFit, eBayes (moderated t).
LIMMA_VOOM = (
    "function(counts, coldata, design, variable, tested, robust) {"
    + _FILTERED_FIT
    + _VOOM_FIT
    + r"""
    one <- coef
    tab <- limma::topTable(fit, coef = one, number = Inf, sort.by = "none")"""
    + _VOOM_COEF
    + "    res\n}"
)

#: limma-voom: one lmFit/eBayes, topTable per level coefficient, then the moderated F of all
#: of them (with one coefficient limma reports t: F = t^2, same p-value).
LIMMA_VOOM_CONTRASTS = (
    "function(counts, coldata, design, variable, tested, robust, keys) {"
    + _FILTERED_FIT
    + _VOOM_FIT
    + r"""
    tables <- list()
    for (one in coef) {
        tab <- limma::topTable(fit, coef = one, number = Inf, sort.by = "none")"""
    + _VOOM_COEF
    + r"""
        tables[[keys[match(one, coef)]]] <- res
    }
    tab <- limma::topTable(fit, coef = coef, number = Inf, sort.by = "none")
    res <- out
    res$stat[keep] <- if (length(coef) > 1) tab$F else tab$t^2
    res$pvalue[keep] <- tab$P.Value
    res$padj[keep] <- tab$adj.P.Val
    tables[[keys[length(keys)]]] <- res"""
    + _FLATTEN
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


#: R's DESeq2 for every level: one DESeq + results(contrast) per level (Wald), one
#: DESeq(test = "LRT", reduced) + results for the across-level test.
DESEQ2_CONTRASTS = (
    r"""function(counts, coldata, design, reduced, variable, tested, reference, alpha, cooks_filter,
                                independent_filter, refit_cooks, lfc_shrink, keys) {
    suppressPackageStartupMessages(library(DESeq2))
    dds <- suppressMessages(DESeqDataSetFromMatrix(counts, coldata, as.formula(design)))
    replace <- if (refit_cooks) 7 else Inf
    args <- list(alpha = alpha, independentFiltering = independent_filter)
    if (!cooks_filter) args$cooksCutoff <- FALSE
    columns <- function(res, lfc) list(
        baseMean = res$baseMean, log2FoldChange = if (lfc) res$log2FoldChange else rep(NA_real_, nrow(res)),
        lfcSE = if (lfc) res$lfcSE else rep(NA_real_, nrow(res)),
        stat = if (is.null(res$stat)) rep(NA_real_, nrow(res)) else res$stat, pvalue = res$pvalue, padj = res$padj)
    wald <- DESeq(dds, quiet = TRUE, minReplicatesForReplace = replace)
    tables <- list()
    for (i in seq_along(tested)) {
        res <- do.call(results, c(list(wald, contrast = c(variable, tested[i], reference)), args))
        if (lfc_shrink) {
            res <- suppressMessages(lfcShrink(wald, coef = paste(variable, tested[i], "vs", reference, sep = "_"),
                                              type = "apeglm", res = res, quiet = TRUE))
        }
        tables[[keys[i]]] <- columns(res, TRUE)
    }
    lrt <- DESeq(dds, test = "LRT", reduced = as.formula(reduced), quiet = TRUE, minReplicatesForReplace = replace)
    tables[[keys[length(keys)]]] <- columns(do.call(results, c(list(lrt), args)), FALSE)"""
    + _FLATTEN
)
