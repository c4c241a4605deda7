"""R's DESeq2 itself (``de.inference=r``): ``DESeq`` + ``results`` on the inputs PyDESeq2 would get."""

from __future__ import annotations

from typing import Any

import pandas as pd

from genexai.de.options import RESULT_COLUMNS, DESeq2Options
from genexai.de.r import scripts
from genexai.de.r.session import call_r, require_r

__all__ = ["r_deseq2"]


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
