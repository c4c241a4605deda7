"""Datasets with a known truth: the negative-binomial simulator, spike-ins into real counts, replicate subsampling.

Each builder returns raw counts as AnnData with the truth in ``var`` (``is_de``,
``true_log2fc``); a builder that needs a DE fit to make its truth (replicate
subsampling) is handed the DE method by the pipeline instead of importing ``de/``.
"""
