"""The shipped network specs and weights (installed as the package ``evsim.models``):
``evsim info spikformer-cifar10-4-384`` finds them by name."""
