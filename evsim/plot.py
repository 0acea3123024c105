"""Figures of a Run (matplotlib): spike rasters, spike maps over the image plane, membrane
traces against the threshold, firing rates. Every axis says its unit."""
from __future__ import annotations

import math

import numpy as np


def _subsample(n, most):
    return np.unique(np.linspace(0, n - 1, min(most, n)).astype(int))


def raster(run, layers=None, max_neurons=200, fig=None):
    """Spike raster, one panel per layer: ``max_neurons`` neurons spread evenly over the whole
    layer (rows) against time steps (columns), black = spike; each panel titled with the
    layer's firing rate and size. Readable for layers of thousands of neurons. Returns the Figure."""
    import matplotlib.pyplot as plt
    layers = list(layers or run.spikes)
    if fig is None:
        fig = plt.figure(figsize=(min(2.2 * len(layers) + 1, 16), 4.2))
    axes = fig.subplots(1, len(layers), squeeze=False)[0]
    for ax, name in zip(axes, layers):
        spikes = run.spikes[name].reshape(run.spikes[name].shape[0], -1)
        chosen = _subsample(spikes.shape[1], max_neurons)
        ax.imshow(spikes[:, chosen].T, aspect="auto", interpolation="nearest", cmap="Greys", vmin=0, vmax=1)
        ax.set_title(f"{name}\n{spikes.mean():.1%} of {spikes.shape[1]:,}", fontsize=7)
        ax.set_xticks(range(spikes.shape[0]))
        ax.set_xlabel("time step", fontsize=7)
        ax.tick_params(labelsize=6)
    axes[0].set_ylabel(f"neuron (every {max(1, math.ceil(spikes.shape[1] / max_neurons))}th, evenly spread)", fontsize=7)
    fig.suptitle(f"{run.spec_name}, {run.engine} engine: spike rasters (titles: spikes per neuron per step, of N neurons)",
                 fontsize=8)
    fig.tight_layout()
    return fig


def _plane(spikes_t):
    """One step's spikes as a 2-D map: images [C, H, W] → fraction of channels spiking per
    position; tokens [N, D] → fraction of features per token on a √N × √N grid."""
    if spikes_t.ndim == 3:
        return spikes_t.mean(axis=0)
    if spikes_t.ndim == 2 and math.isqrt(spikes_t.shape[0]) ** 2 == spikes_t.shape[0]:
        side = math.isqrt(spikes_t.shape[0])
        return spikes_t.mean(axis=1).reshape(side, side)
    return None


def spike_maps(run, layers=None, image=None, fig=None):
    """Which patches fire, per step: one row per layer (image-shaped or square token layers),
    one column per time step, colour = fraction of channels (features) spiking at each
    position; the input image first if given. Returns the Figure."""
    import matplotlib.pyplot as plt
    layers = [n for n in (layers or run.spikes) if _plane(run.spikes[n][0]) is not None]
    steps = max(run.spikes[n].shape[0] for n in layers)
    columns = steps + (image is not None)
    if fig is None:
        fig = plt.figure(figsize=(1.5 * columns + 1.5, 1.35 * len(layers) + 0.8))
    axes = fig.subplots(len(layers), columns, squeeze=False)
    for row, name in enumerate(layers):
        if image is not None:
            axes[row, 0].imshow(np.asarray(image).reshape(-1, *np.shape(image)[-2:]).mean(axis=0), cmap="gray")
            axes[row, 0].set_title("input" if row == 0 else "", fontsize=7)
        for t in range(steps):
            ax = axes[row, t + (image is not None)]
            if t < run.spikes[name].shape[0]:
                shown = ax.imshow(_plane(run.spikes[name][t]), cmap="magma", vmin=0, vmax=1, interpolation="nearest")
            if row == 0:
                ax.set_title(f"step {t}", fontsize=7)
        axes[row, 0].set_ylabel(name.replace("patch_embed.", "").replace("block.", "b"), fontsize=6)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(shown, ax=axes, shrink=0.6, label="fraction of channels spiking")
    fig.suptitle(f"{run.spec_name}: spike maps over the image plane", fontsize=8)
    return fig


def membrane(trace, ax=None):
    """Membrane potential of chosen neurons over time against the threshold, spikes marked
    (``trace``: what :meth:`evsim.Network.trace` returns). Returns the Axes."""
    import matplotlib.pyplot as plt
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 2.8))
    steps = np.arange(trace.v.shape[0])
    for i, neuron in enumerate(trace.neurons):
        line, = ax.plot(steps, trace.charged[:, i], "-o", ms=3, lw=1.2, label=f"neuron {neuron}")
        fired = trace.spikes[:, i] > 0
        ax.plot(steps[fired], trace.charged[fired, i], "*", ms=11, color=line.get_color())
    ax.axhline(trace.threshold, color="k", ls="--", lw=1, label=f"threshold {trace.threshold:g}")
    ax.set_xlabel("time step")
    ax.set_ylabel("membrane potential H (before reset)")
    ax.set_title(f"{trace.layer}: membrane potential against the threshold (★ = spike)", fontsize=8)
    ax.legend(fontsize=6, ncol=2)
    return ax


def firing_rates(run_or_rates, reference=None, ax=None, title=""):
    """Bar chart of every spiking layer's firing rate in spikes per neuron per step (from a
    Run, or a {layer: rate} dict), with an optional reference rate line (e.g. the 15 % that
    synthetic runs assume)."""
    import matplotlib.pyplot as plt
    rates = ({n: float(s.mean()) for n, s in run_or_rates.spikes.items()} if hasattr(run_or_rates, "spikes")
             else dict(run_or_rates))
    names = list(rates)
    if ax is None:
        _, ax = plt.subplots(figsize=(8, max(3, 0.18 * len(names) + 1)))
    ax.barh(names, [rates[n] for n in names], color="#4c72b0")
    if reference is not None:
        ax.axvline(reference, color="#c44e52", ls="--", lw=1, label=f"{reference:.0%} (synthetic runs)")
        ax.legend(fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("firing rate (spikes per neuron per step)")
    ax.tick_params(axis="y", labelsize=6)
    name = getattr(run_or_rates, "spec_name", "")
    ax.set_title(title or f"{name}: firing rates ({getattr(run_or_rates, 'engine', '')} engine)", fontsize=9)
    return ax
