"""One evsim layer → one NIR node, under a target library's convention (``evsim export nir
--for``): the inverse of ``nir_nodes.Translator``; ``evsim/importers/nir.py`` wires the graph."""
from __future__ import annotations

import numpy as np

from .nir import NIRError


class Exporter:
    """Writes the NIR node of one evsim layer under ``target``'s convention (``--for``): what
    that library's NIR importer builds from the node runs the layer's own arithmetic.

        nir        NIR's equations by forward Euler with ``dt``: lif_euler → LIF, cuba_lif
                   (strict) → CubaLIF, if (strict) → IF, leaky_integrator → LI, integrator → I
        snntorch   dt = 10⁻⁴, as ``snntorch.import_from_nir`` reads it: leaky → LIF, synaptic →
                   CubaLIF, both with reset to zero and no reset delay (the Leaky and Synaptic
                   snnTorch builds); β = 1 − dt/τ, so τ = dt/(1 − β), R = τ/dt
        norse      dt = 10⁻³, as ``norse.torch.from_nir`` reads it: lif_euler (R = 1, reset to
                   0) → LIF with τ = dt/k (Norse: τ_inv = 1/τ, k = dt·τ_inv), if (strict,
                   R = 1, reset to 0) → IF
        spikingjelly  dt = 10⁻⁴, as ``nir_exchange.import_from_nir`` reads it: lif (hard reset)
                   → LIF with τ·dt, R = 1 (decay_input) or τ, V_leak = V_reset; if (R = 1,
                   fires on ≥, hard reset) → IF with R = 1/dt; cuba_lif_decay → CubaLIF with
                   τ = dt/(1 − decay), R = τ_mem/dt, w_in = τ_syn/dt (CUBALIFNode)

    Synapses, pooling, Flatten, Scale and Threshold are the same in every convention. The
    table ``Exporter.NODES`` maps kind classes (and neuron models) to methods: data, read
    along the layer class's MRO. A method returns the NIR node.
    """

    def __init__(self, nir, spec, params, dt, target):
        self.nir, self.spec, self.params, self.dt, self.target = nir, spec, params, dt, target

    def __call__(self, name, layer):
        method = self.method_for(layer)
        if method is None:
            kind = type(layer).kind
            self.fail(name, f"kind '{kind}' has no NIR node",
                      fix="NIR expresses linear, conv2d, sumpool2d, avgpool2d, flatten, scale, threshold, add, "
                          "delayed inputs and the neurons of --for nir|snntorch|norse|spikingjelly (see README)")
        node = getattr(self, method)(name, layer)
        reads = LIBRARY_READS.get(self.target)
        if reads is not None and type(node).__name__ not in reads:
            self.fail(name, f"{self.target}'s NIR importer does not read {type(node).__name__} nodes",
                      fix=f"it reads {', '.join(sorted(reads))}; export with --for nir")
        return node

    def method_for(self, layer):
        from ..kinds.spiking import NeuronLayer
        if isinstance(layer, NeuronLayer):
            return NEURON_EXPORTS.get(layer.model.NAME, {}).get(self.target) or \
                self.fail(layer.name, f"neuron kind '{layer.model.NAME}' has no NIR node in the {self.target} convention",
                          fix=_neuron_fix(layer.model.NAME))
        return next((KIND_EXPORTS[cls] for cls in type(layer).__mro__ if cls in KIND_EXPORTS), None)

    def fail(self, name, message, fix=None):
        raise NIRError(message, file=self.spec.path, layer=name, fix=fix)

    def shape(self, name):
        return tuple(self.spec.shapes[name])

    def array(self, name, value):
        """A parameter as an array of the layer's shape (NIR stores one value per neuron)."""
        return np.broadcast_to(np.asarray(value, dtype=np.float64), self.shape(name)).copy()

    def neuron_values(self, name, layer):
        """The model's Parameters with per-neuron ones from the weights file."""
        return layer.parameters(self.params.get(name, {}))

    def require(self, name, ok, message, fix=None):
        if not ok:
            self.fail(name, message, fix=fix)

    # -- synapses and passive layers ---------------------------------------------------------
    def _linear(self, name, layer):
        p = self.params[name]
        if "bias" in p:
            return self.nir.Affine(weight=np.asarray(p["weight"], np.float64), bias=np.asarray(p["bias"], np.float64))
        return self.nir.Linear(weight=np.asarray(p["weight"], np.float64))

    def _conv2d(self, name, layer):
        p = self.params[name]
        weight = np.asarray(p["weight"], np.float64)
        bias = np.asarray(p.get("bias", np.zeros(weight.shape[0])), np.float64)  # NIR's Conv2d always has one
        return self.nir.Conv2d(input_shape=tuple(self.spec.in_shapes(name)[0][1:]), weight=weight,
                               stride=tuple(layer.stride), padding=tuple(layer.padding), dilation=tuple(layer.dilation),
                               groups=int(layer.groups), bias=bias)

    def _pool(self, node_type, layer):
        return node_type(kernel_size=np.array(layer.kernel_size), stride=np.array(layer.stride),
                         padding=np.array(layer.padding))

    def _sumpool2d(self, name, layer):
        return self._pool(self.nir.SumPool2d, layer)

    def _avgpool2d(self, name, layer):
        return self._pool(self.nir.AvgPool2d, layer)

    def _flatten(self, name, layer):
        return self.nir.Flatten(input_type={"input": np.array(self.spec.in_shapes(name)[0])}, start_dim=0, end_dim=-1)

    def _scale(self, name, layer):
        return self.nir.Scale(scale=self.array(name, self.params[name]["scale"]))

    def _threshold(self, name, layer):
        value = self.params[name]["threshold"] if layer.per_neuron else layer.threshold
        return self.nir.Threshold(threshold=self.array(name, value))

    # -- neurons: the inverse of Translator._LIF, _CubaLIF, _IF, _LI, _I --------------------------
    def _lif_euler_nir(self, name, layer):
        p = self.neuron_values(name, layer)
        return self.nir.LIF(tau=self.array(name, self.dt / np.asarray(p.dt_tau, np.float64)), r=self.array(name, p.r),
                            v_leak=self.array(name, p.v_leak), v_threshold=self.array(name, p.v_threshold),
                            v_reset=None if p.v_reset is None else self.array(name, p.v_reset))

    def _lif_euler_norse(self, name, layer):
        p = self.neuron_values(name, layer)
        self.require(name, np.all(np.asarray(p.r) == 1) and p.v_reset is not None and np.all(np.asarray(p.v_reset) == 0),
                     "Norse's LIFBoxCell has R = 1 and resets to 0", fix="export with --for nir")
        return self._lif_euler_nir(name, layer)

    def _cuba_lif_nir(self, name, layer):
        p = self.neuron_values(name, layer)
        self.require(name, p.strict, "NIR's CubaLIF fires on v > θ; this layer fires on v ≥ θ", fix="set strict: true")
        return self.nir.CubaLIF(tau_syn=self.array(name, np.asarray(p.tau_syn, np.float64) * self.dt),
                                tau_mem=self.array(name, np.asarray(p.tau_mem, np.float64) * self.dt),
                                r=self.array(name, p.r), v_leak=self.array(name, p.v_leak),
                                v_threshold=self.array(name, p.v_threshold),
                                v_reset=None if p.v_reset is None else self.array(name, p.v_reset), w_in=self.array(name, p.w_in))

    def _if(self, name, layer, gain_per_r):
        p = self.neuron_values(name, layer)
        self.require(name, p.strict, "NIR's IF fires on v > θ; this layer fires on v ≥ θ", fix="set strict: true")
        return self.nir.IF(r=self.array(name, np.asarray(p.r, np.float64) / gain_per_r), v_threshold=self.array(name, p.v_threshold),
                           v_reset=None if p.v_reset is None else self.array(name, p.v_reset))

    def _if_nir(self, name, layer):
        return self._if(name, layer, self.dt)

    def _if_norse(self, name, layer):
        p = self.neuron_values(name, layer)
        self.require(name, np.all(np.asarray(p.r) == 1) and p.v_reset is not None and np.all(np.asarray(p.v_reset) == 0),
                     "Norse's IAFCell has R = 1 and resets to 0", fix="export with --for nir")
        return self._if(name, layer, 1.0)

    def _leaky_integrator_nir(self, name, layer):
        p = self.neuron_values(name, layer)
        return self.nir.LI(tau=self.array(name, self.dt / np.asarray(p.dt_tau, np.float64)), r=self.array(name, p.r),
                           v_leak=self.array(name, p.v_leak))

    def _integrator_nir(self, name, layer):
        p = self.neuron_values(name, layer)
        return self.nir.I(r=self.array(name, np.asarray(p.gain, np.float64) / self.dt))

    def sj_tau(self, name, tau):
        """τ·dt, as SpikingJelly's exporter writes it. Its import_from_nir reads τ = stored/dt
        (one value per layer, > 1), which is τ exactly for most τ (2, 3, 4.5) but not all
        (2.7 comes back as 2.7000000000000006, and no stored float gives 2.7 back)."""
        values = np.unique(np.asarray(tau, np.float64))
        self.require(name, values.size == 1 and values[0] > 1, f"τ = {values[:3]}: SpikingJelly's LIFNode has one τ > 1 per layer",
                     fix="use one τ > 1 per layer, or export with --for nir")
        return self.array(name, values[0] * self.dt)

    def hard_reset_uniform(self, name, p):
        """SpikingJelly's NIR exchange has hard reset only, and one θ and V_reset per layer."""
        self.require(name, p.v_reset is not None, "SpikingJelly's NIR exchange has no soft reset (v_reset: null)",
                     fix="use a hard reset, or export with --for nir")
        for key in ("v_threshold", "v_reset"):
            self.require(name, np.unique(np.asarray(getattr(p, key))).size == 1,
                         f"SpikingJelly's import_from_nir takes one {key} per layer", fix="use one value per layer")

    def _lif_spikingjelly(self, name, layer):
        p = self.neuron_values(name, layer)
        self.hard_reset_uniform(name, p)
        return self.nir.LIF(tau=self.sj_tau(name, p.tau), r=self.array(name, 1.0 if p.decay_input else p.tau),
                            v_leak=self.array(name, p.v_reset), v_threshold=self.array(name, p.v_threshold),
                            v_reset=self.array(name, p.v_reset))

    def _if_spikingjelly(self, name, layer):
        p = self.neuron_values(name, layer)
        self.hard_reset_uniform(name, p)
        self.require(name, not p.strict and np.all(np.asarray(p.r) == 1),
                     "SpikingJelly's IFNode has R = 1 and fires on v ≥ θ", fix="set r: 1, strict: false, or export with --for nir")
        return self.nir.IF(r=self.array(name, 1.0 / self.dt), v_threshold=self.array(name, p.v_threshold),
                           v_reset=self.array(name, p.v_reset))

    def _cuba_lif_decay_spikingjelly(self, name, layer):
        p = self.neuron_values(name, layer)
        self.hard_reset_uniform(name, p)
        c, v = (np.unique(np.asarray(d, np.float64)) for d in (p.c_decay, p.v_decay))
        self.require(name, c.size == v.size == 1 and c[0] < 1 and v[0] < 1,
                     "SpikingJelly's CUBALIFNode has one c_decay and one v_decay < 1 per layer", fix="use one value per layer")
        tau_syn, tau_mem = self.dt / (1.0 - c[0]), self.dt / (1.0 - v[0])
        return self.nir.CubaLIF(tau_syn=self.array(name, tau_syn), tau_mem=self.array(name, tau_mem),
                                r=self.array(name, tau_mem / self.dt), v_leak=self.array(name, 0.0),
                                v_threshold=self.array(name, p.v_threshold), v_reset=self.array(name, p.v_reset),
                                w_in=self.array(name, tau_syn / self.dt))

    def resets_at_once(self, name, p):
        self.require(name, p.reset == "zero" and not p.reset_delay and np.size(np.unique(p.v_threshold)) == 1,
                     "snnTorch's import_from_nir builds neurons that reset to zero at once, with one threshold per layer",
                     fix="set reset: zero, reset_delay: false and one v_threshold, or export with --for nir")
        return {"reset": "zero", "reset_delay": False}   # read back by `evsim import nir --from snntorch`

    def tau_of(self, decay):
        """τ = dt/(1 − β): snnTorch's β = 1 − dt/τ."""
        decay = np.asarray(decay, np.float64)
        return self.dt / (1.0 - decay)

    def _leaky_snntorch(self, name, layer):
        p = self.neuron_values(name, layer)
        metadata = self.resets_at_once(name, p)
        self.require(name, np.all(np.asarray(p.beta) < 1), "β = 1 has no time constant", fix="use β < 1")
        tau = self.array(name, self.tau_of(p.beta))
        return self.nir.LIF(tau=tau, r=tau / self.dt, v_leak=self.array(name, 0.0), v_threshold=self.array(name, p.v_threshold),
                            v_reset=self.array(name, 0.0), metadata=metadata)

    def _synaptic_snntorch(self, name, layer):
        p = self.neuron_values(name, layer)
        metadata = self.resets_at_once(name, p)
        self.require(name, np.all(np.asarray(p.beta) < 1) and np.all(np.asarray(p.alpha) < 1),
                     "α = 1 or β = 1 has no time constant", fix="use α, β < 1")
        tau_syn, tau_mem = self.array(name, self.tau_of(p.alpha)), self.array(name, self.tau_of(p.beta))
        return self.nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=tau_mem / self.dt, v_leak=self.array(name, 0.0),
                                v_threshold=self.array(name, p.v_threshold), v_reset=self.array(name, 0.0),
                                w_in=tau_syn / self.dt, metadata=metadata)


def _kind_exports():
    from ..kinds import flatten, linear, pool2d, scale, threshold
    from ..kinds.conv2d import Conv2d
    return {linear.Linear: "_linear", Conv2d: "_conv2d", pool2d.SumPool2d: "_sumpool2d", pool2d.AvgPool2d: "_avgpool2d",
            flatten.Flatten: "_flatten", scale.Scale: "_scale", threshold.Threshold: "_threshold"}


KIND_EXPORTS = _kind_exports()
# the node types each library's importer builds a module for (snntorch.import_nir, norse.torch.utils.import_nir)
LIBRARY_READS = {"snntorch": {"Affine", "Linear", "Conv2d", "Flatten", "AvgPool2d", "LIF", "CubaLIF"},
                 "norse": {"Affine", "Linear", "Conv2d", "Flatten", "SumPool2d", "LIF", "IF"},
                 # spikingjelly.activation_based.nir_exchange.from_nir (2.0.0)
                 "spikingjelly": {"Affine", "Linear", "Conv2d", "Flatten", "AvgPool2d", "LIF", "IF", "CubaLIF"}}
# neuron model NAME → {target: method}: the evsim neuron kinds each library's importer runs exactly
NEURON_EXPORTS = {
    "lif": {"spikingjelly": "_lif_spikingjelly"},
    "lif_euler": {"nir": "_lif_euler_nir", "norse": "_lif_euler_norse"},
    "cuba_lif": {"nir": "_cuba_lif_nir"},
    "cuba_lif_decay": {"spikingjelly": "_cuba_lif_decay_spikingjelly"},
    "if": {"nir": "_if_nir", "norse": "_if_norse", "spikingjelly": "_if_spikingjelly"},
    "leaky_integrator": {"nir": "_leaky_integrator_nir"},
    "integrator": {"nir": "_integrator_nir"},
    "leaky": {"snntorch": "_leaky_snntorch"},
    "synaptic": {"snntorch": "_synaptic_snntorch"},
}


def _neuron_fix(model_name):
    targets = NEURON_EXPORTS.get(model_name)
    if targets:
        return f"export with --for {' or '.join(targets)}"
    listed = ", ".join(f"{k} ({'/'.join(v)})" for k, v in NEURON_EXPORTS.items())
    return f"exportable neurons: {listed}"
