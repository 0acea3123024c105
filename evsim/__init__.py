"""evsim — run spiking networks spike by spike and count what each inference costs.

    net = evsim.load("models/spikformer-cifar10-4-384.yaml", weights="w.safetensors")
    run = net.run(image, engine="event")
    run.output, run.spikes["block.0.attn.q_lif"], run.stats
"""
from .errors import EvsimError, InputError, SpecError, WeightsError
from .network import Network, load
from .spec import load_spec
from .synthetic import sample_input, synthetic_weights

__version__ = "0.1.0"
__all__ = ["load", "load_spec", "Network", "synthetic_weights", "sample_input", "EvsimError", "SpecError",
           "WeightsError", "InputError"]
