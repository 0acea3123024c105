"""Brian2 as the independent check of evsim's neuron dynamics (see twins.py, network.py)."""
from .network import compare_network
from .twins import cases, compare, compare_lca, drive, lca_problem

__all__ = ["cases", "compare", "compare_lca", "compare_network", "drive", "lca_problem"]
