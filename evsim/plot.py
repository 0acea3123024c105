"""Figures of a Run: spike rasters and firing rates (matplotlib)."""
from __future__ import annotations

import numpy as np


def raster(run, layers=None, max_neurons=200, ax=None):
    """Spike raster: for each layer, ``max_neurons`` neurons spread evenly over the whole
    layer (one row each) against time steps (columns), black = spike; layers stacked top to
    bottom and labelled with their firing rate. Returns the Axes."""
    import matplotlib.pyplot as plt
    layers = list(layers or run.spikes)
    blocks, ticks, labels, row = [], [], [], 0
    for name in layers:
        spikes = run.spikes[name].reshape(run.spikes[name].shape[0], -1)
        chosen = np.unique(np.linspace(0, spikes.shape[1] - 1, min(max_neurons, spikes.shape[1])).astype(int))
        block = spikes[:, chosen].T
        blocks += [block, np.full((max(2, max_neurons // 25), block.shape[1]), np.nan)]
        ticks.append(row + block.shape[0] / 2)
        labels.append(f"{name}\n{spikes.mean():.1%} of {spikes.shape[1]:,}")
        row += block.shape[0] + blocks[-1].shape[0]
    image = np.concatenate(blocks[:-1])
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 1.0 + 0.9 * len(layers)))
    cmap = plt.get_cmap("Greys").copy()
    cmap.set_bad("#f4f4f4")
    ax.imshow(image, aspect="auto", interpolation="nearest", cmap=cmap, vmin=0, vmax=1)
    ax.set_yticks(ticks)
    ax.set_yticklabels(labels, fontsize=7)
    ax.set_xticks(range(image.shape[1]))
    ax.set_xlabel("time step")
    ax.set_title(f"{run.spec_name}, {run.engine} engine: {max_neurons} neurons per layer\n"
                 f"(labels: spikes per neuron per step, of N neurons)", fontsize=8)
    return ax


def firing_rates(run, ax=None):
    """Bar chart of every spiking layer's firing rate in spikes per neuron per step."""
    import matplotlib.pyplot as plt
    names = list(run.spikes)
    rates = [float(run.spikes[n].mean()) for n in names]
    if ax is None:
        _, ax = plt.subplots(figsize=(8, max(3, 0.18 * len(names) + 1)))
    ax.barh(names, rates, color="#4c72b0")
    ax.invert_yaxis()
    ax.set_xlabel("firing rate (spikes per neuron per step)")
    ax.tick_params(axis="y", labelsize=6)
    ax.set_title(f"{run.spec_name}: firing rates ({run.engine} engine)", fontsize=9)
    return ax
