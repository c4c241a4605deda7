"""R's own DE engines through rpy2 (optional: ``make install-r``): edgeR, limma-voom, DESeq2."""

from genexai.de.r.session import INSTALL_HINT, r_versions, require_r

__all__ = ["INSTALL_HINT", "EdgeRMethod", "LimmaVoomMethod", "r_deseq2", "r_versions", "require_r"]


def __getattr__(name: str):
    # The methods import the cache (pyarrow, PyDESeq2's version); the session alone stays light.
    if name in ("EdgeRMethod", "LimmaVoomMethod", "r_deseq2"):
        from genexai.de.r import methods

        return getattr(methods, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
