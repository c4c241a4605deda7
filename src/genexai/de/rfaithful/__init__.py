"""R DESeq2's own versions of the pipeline steps where PyDESeq2 differs (``de.pipeline=r``); no R at run time."""
