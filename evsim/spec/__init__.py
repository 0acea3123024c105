"""What the network is: a declarative description read from YAML. Runs nothing."""
from .graph import INPUT_NAME, InputSpec, Spec, load_spec
from .layers import ANALOG, BINARY, INTEGER, LAYER_KINDS, Layer

__all__ = ["load_spec", "Spec", "InputSpec", "Layer", "LAYER_KINDS", "INPUT_NAME", "BINARY", "INTEGER", "ANALOG"]
