"""Attention cost against the number of tokens, from the event engine's exact counts: SNN-ViT's
SSSA-V2 spike gate (``sssa``) against Spikformer's SSA in both multiplication orders.

Operations per step = synaptic events + attention coincidences (the 'exact' convention's AC
count), on random independent spikes at one rate. Run: python benchmarks/attention_scaling.py
"""
from __future__ import annotations

import numpy as np

from evsim.kinds.attention import Attention
from evsim.kinds.sssa import SSSA
from evsim.spec.layer import BINARY, LayerFacts
from evsim.stats import COUNT_FIELDS


def facts_of(layer, shape, steps):
    in_shapes = tuple([shape] * layer.arity)
    out = layer.output_shape(list(in_shapes))
    return LayerFacts(layer.name, in_shapes, out, (BINARY,) * layer.arity, BINARY, steps,
                      layer.dense_ops(list(in_shapes), out), layer.synapses(list(in_shapes), out), False)


def event_ops(layer, params, inputs) -> int:
    """Exact operations (synaptic events + coincidences) of one event-engine call over all steps."""
    steps = inputs[0].shape[0]
    facts = facts_of(layer, inputs[0].shape[1:], steps)
    counts = {f: np.zeros(steps, dtype=np.int64) for f in COUNT_FIELDS}
    layer.event(layer.prepare(params, np.float64, facts, "event"), inputs, {}, counts, slice(0, steps))
    return int(counts["synaptic_events"].sum() + counts["attention_coincidences"].sum())


def scaling_table(tokens=(16, 64, 256), width=64, heads=4, rate=0.15, steps=4, seed=0) -> list[dict]:
    """One row per token count: exact operations per inference of sssa, SSA qk_first, SSA kv_first."""
    rng = np.random.default_rng(seed)
    sssa = SSSA("sssa", ("q", "v"), heads=1, time_steps=steps)
    eye = {"m_w": np.eye(steps), "alpha": np.asarray(0.25)}  # gate threshold 4 spikes per token
    rows = []
    for n in tokens:
        q, k, v = ((rng.random((steps, n, width)) < rate).astype(np.float64) for _ in range(3))
        row = {"tokens": n, "sssa": event_ops(sssa, eye, [q, v])}
        for order in ("qk_first", "kv_first"):
            row[order] = event_ops(Attention("ssa", ("q", "k", "v"), heads=heads, order=order), {}, [q, k, v])
        rows.append(row)
    return rows


def main():
    print("exact operations per inference (synaptic events + coincidences, T = 4, D = 64, 4 heads for SSA, "
          "random spikes at 15 %)")
    print(f"{'tokens N':>9} {'sssa':>12} {'SSA qk_first':>14} {'SSA kv_first':>14}")
    for row in scaling_table():
        print(f"{row['tokens']:>9} {row['sssa']:>12,} {row['qk_first']:>14,} {row['kv_first']:>14,}")


if __name__ == "__main__":
    main()
