"""One run as a straight line (:mod:`genexai.pipeline.train`), cross-validation looping it, and reload for ``evaluate.py``."""
