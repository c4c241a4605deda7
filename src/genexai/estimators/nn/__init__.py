"""Backbones map standardised expression ``(batch, n_genes)`` to class logits ``(batch, n_classes)``.

The shared signature keeps attribution model-agnostic: Captum methods differentiate
with respect to the same input tensor for every backbone.
"""
