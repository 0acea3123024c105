"""Layer kinds, one module each (see ``base.py`` for the facets every kind implements).

Importing this package registers the built-in kinds with ``evsim.spec.registry``; a new
kind is one more module here (or anywhere: ``@register`` on a :class:`Kind` subclass).
"""
from . import (
    add,
    attention,
    batchnorm,
    conv2d,
    conv2d_multiscale,
    flatten,
    halting,
    image,
    lca,
    lca_decode,
    linear,
    mask,
    masked_linear,
    masked_neurons,
    maxpool2d,
    mean_time,
    mean_tokens,
    merged_tokens,
    pool2d,
    qk_sum,
    scale,
    sdsa_sum,
    spiking,
    sssa,
    st_attention,
    threshold,
    token_merge,
    tokens,
    weighted_mean_tokens,
)
from .base import Kind, Passive

__all__ = ["Kind", "Passive", "add", "attention", "batchnorm", "conv2d", "conv2d_multiscale", "flatten", "halting", "image",
           "lca", "lca_decode", "linear", "mask", "masked_linear", "masked_neurons", "maxpool2d", "mean_time",
           "mean_tokens", "merged_tokens", "pool2d", "qk_sum", "scale", "sdsa_sum", "spiking", "sssa", "st_attention", "threshold",
           "token_merge", "tokens", "weighted_mean_tokens"]
