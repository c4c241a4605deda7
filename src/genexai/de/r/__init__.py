"""R's own DE engines through rpy2 (optional: ``make install-r``): edgeR, limma-voom, DESeq2.

``session`` (R availability, data in and out), ``scripts`` (the R functions), ``methods``
(edgeR and voom as DE methods), ``deseq2`` (R's DESeq2 for ``de.inference=r``).
"""

from genexai.de.r.session import INSTALL_HINT, r_versions, require_r

__all__ = ["INSTALL_HINT", "r_versions", "require_r"]
