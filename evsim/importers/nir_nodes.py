"""One NIR node → evsim layers, under a library's convention (see ``evsim/importers/nir.py``).

Each ``_<NodeType>`` method writes the node's layer(s) and returns (the layer whose output is
the node's output, extra delay in steps).
"""
from __future__ import annotations

import numpy as np

from .nir import NIRError, as_scalar_or_array


class Translator:
    def __init__(self, nir, layers, dt, source, file):
        self.nir, self.layers, self.dt, self.source, self.file = nir, layers, dt, source, file
        self.notes = []

    def __call__(self, name, node, inputs):
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            raise NIRError(f"NIR node type {type(node).__name__} is not supported", file=self.file, layer=name,
                           fix="supported: Input, Output, Affine, Linear, Scale, Conv2d, SumPool2d, AvgPool2d, Flatten, "
                               "Threshold, IF, LIF, CubaLIF, LI, I, Delay and subgraphs")
        return method(name, node, inputs)

    def fail(self, name, message, fix=None):
        raise NIRError(message, file=self.file, layer=name, fix=fix)

    def per_step(self, tau):
        """dt/τ computed in the precision τ was stored in, so that an exporter's τ = dt/(1 − β)
        in float32 gives back its β exactly where it can."""
        tau = np.asarray(tau)
        kind = tau.dtype.type if tau.dtype.kind == "f" else np.float64
        return (kind(self.dt) / tau.astype(kind)).astype(np.float64), kind

    def euler_rate(self, tau):
        """k = dt/τ; Norse's files hold dt·τ, so there k = dt·(dt/τ_file) (in τ's precision, as Norse computes dt·τ_inv)."""
        k, kind = self.per_step(tau)
        return (kind(self.dt) * k.astype(kind)).astype(np.float64) if self.source == "norse" else k

    def decay(self, tau):
        """1 − dt/τ in τ's precision (snnTorch's β and α)."""
        k, kind = self.per_step(tau)
        return (kind(1) - k.astype(kind)).astype(np.float64)

    @staticmethod
    def snntorch_reset(node):
        """snnTorch's exporter writes no reset (its defaults: subtract, one step late); evsim's
        exporter records the reset snnTorch's importer builds (zero, at once) in the metadata."""
        meta = getattr(node, "metadata", None) or {}
        return {key: convert(meta[key]) for key, convert in (("reset", str), ("reset_delay", bool)) if key in meta}

    def shape_of(self, inputs):
        ref = inputs[0][0]
        return self.layers.shapes.get(ref)

    # -- pass-throughs ----------------------------------------------------------------------
    def _Output(self, name, node, inputs):
        return inputs[0]

    def _Input(self, name, node, inputs):   # a subgraph's input port
        return inputs[0]

    def _Delay(self, name, node, inputs):
        steps = np.asarray(node.delay, dtype=np.float64) / self.dt
        if steps.size == 0 or not np.all(steps == steps.reshape(-1)[0]) or abs(steps.reshape(-1)[0] - round(steps.reshape(-1)[0])) > 1e-9:
            self.fail(name, f"delays of {np.unique(node.delay)[:4]} s are not one whole number of steps of {self.dt:g} s",
                      fix="evsim delays whole layers by whole steps; pass a --dt that divides the delay")
        return inputs[0][0], inputs[0][1] + int(round(steps.reshape(-1)[0]))

    # -- synapses ---------------------------------------------------------------------------
    def _linear(self, name, inputs, weight, bias):
        weight = np.asarray(weight, dtype=np.float64)
        if weight.ndim != 2:
            self.fail(name, f"weight has shape {list(weight.shape)}, expected [out, in]")
        shape = self.shape_of(inputs)
        if shape is not None and len(shape) > 1 and shape[-1] != weight.shape[1] and int(np.prod(shape)) == weight.shape[1]:
            inputs = [(self.layers.add(f"{name}.flatten", "flatten", inputs, name), 0)]  # Norse writes no Flatten
            self.notes.append(f"inserted a flatten before '{name}' (its input is {list(shape)})")
            shape = (int(np.prod(shape)),)
        if shape is not None and shape[-1] != weight.shape[1]:
            self.fail(name, f"weight {list(weight.shape)} takes {weight.shape[1]} features, its input has shape {list(shape)}",
                      fix="check the edges into this node")
        options = {"out_features": int(weight.shape[0]), "bias": bias is not None}
        layer = self.layers.add(name, "linear", inputs, name, **options)
        self.layers.weights[layer] = {"weight": weight, **({"bias": np.asarray(bias, np.float64)} if bias is not None else {})}
        return layer, 0

    def _Affine(self, name, node, inputs):
        return self._linear(name, inputs, node.weight, node.bias)

    def _Linear(self, name, node, inputs):
        return self._linear(name, inputs, node.weight, None)

    def _Scale(self, name, node, inputs):
        layer = self.layers.add(name, "scale", inputs, name)
        shape = self.layers.shapes[layer]
        try:
            self.layers.weights[layer] = {"scale": np.broadcast_to(np.asarray(node.scale, np.float64), shape).copy()}
        except ValueError:
            self.fail(name, f"scale has shape {list(np.shape(node.scale))}, its input {list(shape)}")
        return layer, 0

    def _Conv2d(self, name, node, inputs):
        weight = np.asarray(node.weight, dtype=np.float64)
        if weight.ndim != 4:
            self.fail(name, f"weight has shape {list(weight.shape)}, expected [C_out, C_in/groups, kH, kW]")
        kernel = tuple(int(k) for k in weight.shape[2:])
        dilation = _pair(node.dilation)
        padding = node.padding
        if isinstance(padding, str):
            if padding == "valid":
                padding = (0, 0)
            elif all((d * (k - 1)) % 2 == 0 for k, d in zip(kernel, dilation)) and _pair(node.stride) == (1, 1):
                padding = tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation))
            else:
                self.fail(name, "padding 'same' with an even kernel or a stride is asymmetric", fix="give explicit padding")
        bias = None if node.bias is None or not np.any(np.asarray(node.bias)) else np.asarray(node.bias, np.float64)
        layer = self.layers.add(name, "conv2d", inputs, name, out_channels=int(weight.shape[0]), kernel_size=list(kernel),
                                stride=list(_pair(node.stride)), padding=list(_pair(padding)), dilation=list(dilation),
                                groups=int(node.groups), bias=bias is not None)
        self.layers.weights[layer] = {"weight": weight, **({"bias": bias} if bias is not None else {})}
        return layer, 0

    def _pool(self, name, node, inputs, kind):
        return self.layers.add(name, kind, inputs, name, kernel_size=list(_pair(node.kernel_size)),
                               stride=list(_pair(node.stride)), padding=list(_pair(node.padding))), 0

    def _SumPool2d(self, name, node, inputs):
        return self._pool(name, node, inputs, "sumpool2d")

    def _AvgPool2d(self, name, node, inputs):
        return self._pool(name, node, inputs, "avgpool2d")

    def _Flatten(self, name, node, inputs):
        shape = self.shape_of(inputs)
        start, end = int(node.start_dim), int(node.end_dim)
        rank = len(shape) if shape is not None else 0
        if rank and (start % rank, end % rank) != (0, rank - 1):
            self.fail(name, f"flattens dimensions {start}..{end} of a {list(shape)} input; evsim flattens all of one step",
                      fix="export a Flatten over every non-batch dimension")
        return self.layers.add(name, "flatten", inputs, name), 0

    # -- neurons ----------------------------------------------------------------------------
    def neuron(self, name, kind, inputs, node, **values):
        """A neuron layer: values equal over the layer become options, others per-neuron weights."""
        shape = self.shape_of(inputs)
        for key, value in vars(node).items():  # the file's own parameters first, under their NIR names
            if key not in ("input_type", "output_type", "metadata") and np.ndim(value):
                as_scalar_or_array(value, shape, key, name, self.file)
        options, arrays = {}, {}
        for key, value in values.items():
            if isinstance(value, (str, bool)) or value is None:
                options[key] = value
                continue
            scalar, array = as_scalar_or_array(value, shape, key, name, self.file)
            if array is None:
                options[key] = scalar
            else:
                arrays[key] = array
                options[key] = float(array.reshape(-1)[0])
        if arrays:
            options["per_neuron"] = sorted(arrays)
        layer = self.layers.add(name, kind, inputs, name, **options)
        if arrays:
            self.layers.weights[layer] = arrays
        return layer, 0

    def _LIF(self, name, node, inputs):
        dt, tau = self.dt, np.asarray(node.tau, np.float64)
        if self.source == "snntorch":
            gain = np.asarray(node.r, np.float64) * dt / tau
            if not np.allclose(gain, 1.0, rtol=1e-6):
                self.fail(name, f"input gain R·dt/τ = {np.unique(gain)[:3]}, snnTorch's Leaky has 1", fix="read it without --from")
            return self.neuron(name, "leaky", inputs, node, beta=self.decay(node.tau), v_threshold=node.v_threshold,
                               **self.snntorch_reset(node))
        if self.source == "spikingjelly":
            return self._lif_spikingjelly(name, node, inputs)
        if self.source == "sinabs":
            return self._lif_sinabs(name, node, inputs)
        k = self.euler_rate(node.tau)
        return self.neuron(name, "lif_euler", inputs, node, dt_tau=k, r=node.r, v_leak=node.v_leak,
                           v_threshold=node.v_threshold, v_reset=node.v_reset)

    @staticmethod
    def shortest(stored, inverse, forward):
        """The value an exporter computed ``stored = forward(value)`` from, per element: the
        shortest decimal near ``inverse(stored)`` that ``forward`` maps back onto ``stored`` (the
        value the user gave: 2.7, not 2.7000000000000006), else ``inverse(stored)``."""
        def one(value):
            approx = inverse(value)
            for digits in range(1, 18):
                guess = float(f"{approx:.{digits}g}")
                if forward(guess) == value:
                    return guess
            return approx
        stored = np.asarray(stored, np.float64)
        return np.vectorize(one, otypes=[np.float64])(stored) if stored.size else stored

    def sj_steps(self, stored):
        """SpikingJelly's τ in steps from the τ·dt its exporter wrote."""
        return self.shortest(stored, lambda v: v / self.dt, lambda tau: tau * self.dt)

    def sj_decay(self, stored):
        """SpikingJelly's decay factor d from the τ = dt/(1 − d) its exporter wrote."""
        return self.shortest(stored, lambda v: 1.0 - self.dt / v, lambda d: self.dt / (1.0 - d))

    def _lif_spikingjelly(self, name, node, inputs):
        """SpikingJelly's exporter writes LIFNode (and ParametricLIFNode) as τ = τ_SJ·dt,
        R = 1 (decay_input) or R = τ_SJ (input not decayed), V_leak = V_reset (hard reset)."""
        tau = self.sj_steps(node.tau)
        r, v_leak, v_reset = (np.asarray(v, np.float64) for v in (node.r, node.v_leak, node.v_reset))
        if np.allclose(r, 1.0, rtol=1e-9):
            decay_input = True
        elif np.allclose(r, tau, rtol=1e-9):
            decay_input = False
        else:
            self.fail(name, f"R = {np.unique(r)[:3]}: SpikingJelly writes R = 1 (decay_input) or R = τ/dt = {np.unique(tau)[:3]}",
                      fix="read it without --from")
        if not np.array_equal(np.broadcast_to(v_leak, v_reset.shape), v_reset):
            self.fail(name, "V_leak differs from V_reset; SpikingJelly's LIF leaks towards V_reset", fix="read it without --from")
        return self.neuron(name, "lif", inputs, node, tau=tau, v_threshold=node.v_threshold, v_reset=v_reset,
                           decay_input=decay_input)

    def _lif_sinabs(self, name, node, inputs):
        """sinabs' exporter writes LIF as τ in steps, R = 1, V_leak = 0, and not its norm_input,
        spike function or min_v_mem: read with sinabs' LIF defaults (norm_input, SingleSpike)."""
        self.sinabs_gain_one(name, node)
        if np.any(np.asarray(node.v_leak, np.float64) != 0):
            self.fail(name, "V_leak is not 0 as sinabs' LIF has it", fix="read it without --from")
        self.notes.append(f"'{name}': sinabs LIF read with its defaults norm_input, SingleSpike, subtract reset, "
                          "no min_v_mem (the file does not record them)")
        return self.neuron(name, "exp_lif", inputs, node, tau_mem=np.asarray(node.tau, np.float64),
                           v_threshold=node.v_threshold, norm_input=True)

    def _CubaLIF(self, name, node, inputs):
        dt = self.dt
        tau_syn, tau_mem = np.asarray(node.tau_syn, np.float64), np.asarray(node.tau_mem, np.float64)
        if self.source == "snntorch":
            gains = (np.asarray(node.w_in, np.float64) * dt / tau_syn, np.asarray(node.r, np.float64) * dt / tau_mem)
            if not all(np.allclose(g, 1.0, rtol=1e-6) for g in gains):
                self.fail(name, "input gains w_in·dt/τ_syn and R·dt/τ_mem are not 1 as snnTorch's Synaptic has them",
                          fix="read it without --from")
            return self.neuron(name, "synaptic", inputs, node, alpha=self.decay(node.tau_syn), beta=self.decay(node.tau_mem),
                               v_threshold=node.v_threshold, **self.snntorch_reset(node))
        if self.source == "spikingjelly":   # CUBALIFNode: c = 1 − dt/τ_syn, v = 1 − dt/τ_mem, gains 1, V_leak = 0
            gains = (np.asarray(node.w_in, np.float64) * dt / tau_syn, np.asarray(node.r, np.float64) * dt / tau_mem)
            if not all(np.allclose(g, 1.0, rtol=1e-9) for g in gains) or np.any(np.asarray(node.v_leak) != 0):
                self.fail(name, "w_in·dt/τ_syn, R·dt/τ_mem are not 1 or V_leak is not 0, as SpikingJelly's CUBALIFNode has them",
                          fix="read it without --from")
            return self.neuron(name, "cuba_lif_decay", inputs, node, c_decay=self.sj_decay(node.tau_syn),
                               v_decay=self.sj_decay(node.tau_mem), v_threshold=node.v_threshold, v_reset=node.v_reset)
        if self.source is not None:
            self.fail(name, f"{self.source}'s CubaLIF discretisation is not supported", fix="read it without --from")
        return self.neuron(name, "cuba_lif", inputs, node, tau_syn=tau_syn / dt, tau_mem=tau_mem / dt, r=node.r,
                           v_leak=node.v_leak, v_threshold=node.v_threshold, v_reset=node.v_reset, w_in=node.w_in, strict=True)

    def _LI(self, name, node, inputs):
        if self.source == "sinabs":
            self.fail(name, "sinabs' ExpLeak (α = e^{−1/τ}, no spikes) has no evsim neuron", fix="read it without --from")
        return self.neuron(name, "leaky_integrator", inputs, node, dt_tau=self.euler_rate(node.tau), r=node.r, v_leak=node.v_leak)

    def sinabs_gain_one(self, name, node):
        if np.any(np.asarray(node.r, np.float64) != 1):
            self.fail(name, f"R = {np.unique(np.asarray(node.r))[:3]}, sinabs writes 1", fix="read it without --from")

    def _IF(self, name, node, inputs):
        if self.source == "sinabs":   # IAF: V += X, fires on V ≥ θ (SingleSpike), subtracts θ; nir 1.0.4 has no v_reset
            self.sinabs_gain_one(name, node)
            return self.neuron(name, "if", inputs, node, v_threshold=node.v_threshold, v_reset=None)
        if self.source == "spikingjelly":   # IFNode: V += X, fires on V ≥ θ; its exporter writes R = 1/dt
            if not np.allclose(np.asarray(node.r, np.float64) * self.dt, 1.0, rtol=1e-9):
                self.fail(name, f"R·dt = {np.unique(np.asarray(node.r) * self.dt)[:3]}, SpikingJelly's IFNode has 1",
                          fix="read it without --from")
            return self.neuron(name, "if", inputs, node, v_threshold=node.v_threshold, v_reset=node.v_reset)
        gain = np.asarray(node.r, np.float64) * (1.0 if self.source == "norse" else self.dt)
        return self.neuron(name, "if", inputs, node, r=gain, v_threshold=node.v_threshold, v_reset=node.v_reset, strict=True)

    def _I(self, name, node, inputs):
        return self.neuron(name, "integrator", inputs, node, gain=np.asarray(node.r, np.float64) * self.dt)

    def _Threshold(self, name, node, inputs):
        shape = self.shape_of(inputs)
        scalar, array = as_scalar_or_array(node.threshold, shape, "threshold", name, self.file)
        layer = self.layers.add(name, "threshold", inputs, name, threshold=scalar if array is None else 0.0,
                                per_neuron=array is not None)
        if array is not None:
            self.layers.weights[layer] = {"threshold": array}
        return layer, 0


def _pair(value):
    a = np.asarray(value).reshape(-1)
    return (int(a[0]), int(a[0])) if a.size == 1 else (int(a[0]), int(a[1]))
