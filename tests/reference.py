"""A plain loop implementation of the layer equations — the independent formulation the
engines are checked against. Slow and obvious on purpose: no NumPy tricks, no shared code
with evsim's engines (only the spec objects for the layer parameters)."""
import math

import numpy as np


def conv2d(x, w, b, stride, padding, dilation, groups):
    C, H, W = x.shape
    O, Cg, KH, KW = w.shape
    Ho = (H + 2 * padding[0] - dilation[0] * (KH - 1) - 1) // stride[0] + 1
    Wo = (W + 2 * padding[1] - dilation[1] * (KW - 1) - 1) // stride[1] + 1
    out = np.zeros((O, Ho, Wo))
    og = O // groups
    for o in range(O):
        g = o // og
        for i in range(Ho):
            for j in range(Wo):
                acc = 0.0 if b is None else b[o]
                for c in range(Cg):
                    for u in range(KH):
                        for v in range(KW):
                            y = i * stride[0] - padding[0] + u * dilation[0]
                            xx = j * stride[1] - padding[1] + v * dilation[1]
                            if 0 <= y < H and 0 <= xx < W:
                                acc += w[o, c, u, v] * x[g * Cg + c, y, xx]
                out[o, i, j] = acc
    return out


def maxpool(x, k, s, p):
    C, H, W = x.shape
    Ho, Wo = (H + 2 * p[0] - k[0]) // s[0] + 1, (W + 2 * p[1] - k[1]) // s[1] + 1
    out = np.full((C, Ho, Wo), -np.inf)
    for c in range(C):
        for i in range(Ho):
            for j in range(Wo):
                for u in range(k[0]):
                    for v in range(k[1]):
                        y, xx = i * s[0] - p[0] + u, j * s[1] - p[1] + v
                        if 0 <= y < H and 0 <= xx < W:
                            out[c, i, j] = max(out[c, i, j], x[c, y, xx])
    return out


def attention(q, k, v, heads, scale):
    N, D = q.shape
    d = D // heads
    out = np.zeros((N, D))
    for h in range(heads):
        for n in range(N):
            for j in range(d):
                acc = 0.0
                for m in range(N):
                    score = sum(q[n, h * d + a] * k[m, h * d + a] for a in range(d))
                    acc += score * v[m, h * d + j]
                out[n, h * d + j] = acc * scale
    return out


def batchnorm(x, p, eps):
    out = np.empty_like(x)
    if x.ndim == 3:
        for c in range(x.shape[0]):
            out[c] = (x[c] - p["running_mean"][c]) / math.sqrt(p["running_var"][c] + eps) * p["weight"][c] + p["bias"][c]
        return out
    for f in range(x.shape[-1]):
        out[..., f] = (x[..., f] - p["running_mean"][f]) / math.sqrt(p["running_var"][f] + eps) * p["weight"][f] + p["bias"][f]
    return out


def neuron_layer(layer, xs):
    """LIF/IF over time, element by element, written from the equations."""
    out = np.zeros_like(xs)
    flat_in, flat_out = xs.reshape(xs.shape[0], -1), out.reshape(xs.shape[0], -1)
    v_reset = 0.0 if layer.v_reset is None else layer.v_reset
    for idx in range(flat_in.shape[1]):
        v = v_reset
        for t in range(flat_in.shape[0]):
            x = flat_in[t, idx]
            if layer.kind == "if":
                h = v + x
            elif layer.decay_input:
                h = v + (x - (v - v_reset)) / layer.tau
            else:
                h = v - (v - v_reset) / layer.tau + x
            spike = 1.0 if h >= layer.v_threshold else 0.0
            if layer.v_reset is None:
                v = h - spike * layer.v_threshold
            else:
                v = v_reset if spike else h
            flat_out[t, idx] = spike
    return out


def run(spec, params, image):
    """Unfolded BatchNorm, layer by layer, step by step."""
    T = spec.input.T
    xs = np.stack([image] * T) if spec.input.encoding == "direct" else image
    values = {"input": xs}
    spikes = {}
    for name, layer in spec.layers.items():
        ins = [values[i] for i in layer.inputs]
        p = params.get(name, {})
        steps = ins[0].shape[0]
        k = layer.kind
        if k in ("lif", "if"):
            out = neuron_layer(layer, ins[0])
            spikes[name] = out
        elif k == "mean_time":
            out = sum(ins[0][t] for t in range(steps))[None] / steps
        else:
            per_step = []
            for t in range(steps):
                a = [x[t] for x in ins]
                if k == "conv2d":
                    y = conv2d(a[0], p["weight"], p.get("bias"), layer.stride, layer.padding, layer.dilation, layer.groups)
                elif k == "linear":
                    y = np.array([[sum(p["weight"][o, i] * row[i] for i in range(len(row))) + (p["bias"][o] if "bias" in p else 0.0)
                                   for o in range(p["weight"].shape[0])] for row in np.atleast_2d(a[0])]).reshape(*a[0].shape[:-1], -1)
                elif k == "batchnorm":
                    y = batchnorm(a[0], p, layer.eps)
                elif k == "maxpool2d":
                    y = maxpool(a[0], layer.kernel_size, layer.stride, layer.padding)
                elif k == "add":
                    y = sum(a)
                elif k == "tokens":
                    y = np.array([[a[0][c, n // a[0].shape[2], n % a[0].shape[2]] for c in range(a[0].shape[0])]
                                  for n in range(a[0].shape[1] * a[0].shape[2])])
                elif k == "flatten":
                    y = a[0].reshape(-1)
                elif k == "attention":
                    y = attention(*a, layer.heads, layer.scale)
                elif k == "mean_tokens":
                    y = sum(a[0][n] for n in range(a[0].shape[0])) / a[0].shape[0]
                else:
                    raise AssertionError(k)
                per_step.append(y)
            out = np.stack(per_step)
        values[name] = out
    return values[spec.output], spikes
