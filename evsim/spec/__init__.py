"""What the network is: a declarative description read from YAML. Runs nothing."""
from .graph import INPUT_NAME, InputSpec, Spec, load_spec
from .layer import ANALOG, BINARY, INTEGER, Layer, LayerFacts
from .registry import LAYER_KINDS, kinds, register

__all__ = ["load_spec", "Spec", "InputSpec", "Layer", "LayerFacts", "LAYER_KINDS", "kinds", "register", "INPUT_NAME",
           "BINARY", "INTEGER", "ANALOG"]
