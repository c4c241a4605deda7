"""R's DESeq2 itself (``de.inference=r``): ``DESeq`` + ``results`` on the inputs PyDESeq2 would get.

:func:`r_deseq2` tests one contrast; :func:`r_deseq2_contrasts` every level against the
reference (one Wald fit) and all levels at once (one LRT fit).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pandas as pd

from genexai.de.inputs import OMNIBUS, align_metadata, contrast_levels, reduced_design
from genexai.de.options import RESULT_COLUMNS, DESeq2Options, split_tables
from genexai.de.r import scripts
from genexai.de.r.session import call_r, require_r

__all__ = ["r_deseq2", "r_deseq2_contrasts"]


def r_deseq2(counts: pd.DataFrame, metadata: pd.DataFrame, **options: Any) -> pd.DataFrame:
    """R's DESeq2 (``DESeq`` + ``results``) on validated inputs; the table of :func:`~genexai.de.deseq2.run_deseq2`.

    ``options`` are the fields of :class:`~genexai.de.deseq2.DESeq2Options`; ``continuous``
    covariates are numeric columns, the rest factors, as for PyDESeq2. ``lfc_shrink``
    needs R's apeglm package.
    """
    opts = DESeq2Options(**options)
    meta, (variable, tested, reference) = opts.prepare(counts, metadata)
    require_r(("DESeq2", "apeglm") if opts.lfc_shrink else ("DESeq2",), method="de.inference=r")
    return call_r(
        scripts.DESEQ2, counts, meta, design=opts.design, variable=variable, tested=tested, reference=reference,
        alpha=float(opts.alpha), cooks_filter=bool(opts.cooks_filter), independent_filter=bool(opts.independent_filter),
        refit_cooks=bool(opts.refit_cooks), lfc_shrink=bool(opts.lfc_shrink),
    ).loc[:, list(RESULT_COLUMNS)]  # fmt: skip


def r_deseq2_contrasts(counts: pd.DataFrame, metadata: pd.DataFrame, **options: Any) -> dict[str, pd.DataFrame]:
    """R's DESeq2 for every level: ``{level: results(contrast = c(variable, level, ref)), ..., "omnibus": LRT}``.

    ``options`` as in :func:`r_deseq2`, without ``contrast``; the LRT's reduced formula is the
    design without the tested variable, and its table has NaN ``log2FoldChange`` / ``lfcSE``.
    """
    opts = DESeq2Options(**options)
    variable, reference, tested = contrast_levels(align_metadata(counts, metadata), opts.design, opts.ref_level)
    opts = replace(opts, contrast=[variable, tested[0], reference], ref_level=None)
    meta, _ = opts.prepare(counts, metadata)
    require_r(("DESeq2", "apeglm") if opts.lfc_shrink else ("DESeq2",), method="de.inference=r")
    keys = [*tested, OMNIBUS]
    joined = call_r(
        scripts.DESEQ2_CONTRASTS, counts, meta, design=opts.design, reduced=reduced_design(opts.design, variable),
        variable=variable, tested=tested, reference=reference, alpha=float(opts.alpha),
        cooks_filter=bool(opts.cooks_filter), independent_filter=bool(opts.independent_filter),
        refit_cooks=bool(opts.refit_cooks), lfc_shrink=bool(opts.lfc_shrink), keys=keys,
    )  # fmt: skip
    return split_tables(joined, keys)
