"""Memory traffic of one layer under a dataflow: which accesses hit an on-chip buffer and
which go to the memory that holds the whole array (its *backing* level).

Counts of one layer for one inference (from its LayerStats under a convention):
    S  synaptic operations        U  neuron updates         E  input events
    O  output spikes              W  weights (words)        M  outputs per step
    T  steps                      I  input elements per step
Per-array word widths b_w, b_m, b_a (bytes; ``array_bits`` or ``word_bits``) and on-chip
buffers B_w, B_m, B_a (bytes; ``buffer_bytes``). e(x) is the energy of one word access in
the smallest memory holding x bytes (Horowitz 45 nm SRAM tiers, DRAM beyond the largest;
:meth:`energy.profiles.MemoryModel.access_pj`), scaled to the array's word.

Compute-level accesses are those of today's model (Lemaire et al. 2022 style):
    weights      A_w = r_w·S                          (r_w: weight reads per synaptic op)
    membranes    A_m = p_s·S + p_u·U                  (read+write of an accumulator/potential)
    activations  A_a = n_in·r_i·E + o·O (+ stored K/V accesses of a windowed attention)

``no-reuse`` (the pessimistic bound; exactly the model before dataflows existed): every
access goes to the array's own level, priced e(array) with the array sizes W·b, M·b; the
input reads and output writes at the layer's output array; n_in = 1; no fills.

``weight-stationary`` and ``output-stationary``: compute-level accesses hit the buffer,
priced e(min(B, array bytes)) (a banked buffer: an array smaller than the buffer costs as
an SRAM of its own size), and *fills* F move words between the backing level and the
buffer, priced e(array bytes):
    weight-stationary   tiles n = ⌈W·b_w / B_w⌉ of output channels; loop tile → step → event.
        F_w = W (each weight loaded once per inference);
        F_m = 2·M·T if the layer keeps potentials (A_m > 0) and a tile's outputs ⌈M/n⌉·b_m
              exceed B_m (spilled and restored every step), else 0 (they stay between steps);
        each tile re-reads the layer's input events: n_in = n.
    output-stationary   tiles n = ⌈M·b_m / B_m⌉ of outputs whose potentials stay in the buffer
        for all T steps (F_m = 0); loop tile → step → event.
        F_w = W if W·b_w ≤ B_w (weights resident), else min(A_w, n·T·W) (every tile streams the
              weights at every step, never more than one fetch per synaptic operation);
        n_in = n.
    Activations (both): inputs that fit the buffer for the whole inference (I·T·b_a ≤ B_a) were
    left there by their producer: F_in = 0; otherwise F_in = r_i·E·n_in (each pass fetches them).
    Outputs: F_out = o·O if the layer's output over the inference (M·T·b_a) exceeds B_a, else 0.
A layer without weights (a neuron layer, a pooling, attention) has n_in = 1: its inputs fan
out to no other tile. Tiling along output channels assumes one channel's weights fit B_w.
"""
from __future__ import annotations

import math

from .profiles import ARRAYS


def _tiles(size_bytes: float, buffer_bytes: float) -> int:
    return max(1, math.ceil(size_bytes / buffer_bytes)) if size_bytes else 1


def layer_traffic(ops: dict, stats, mem) -> dict:
    """Accesses (words) by array and level, and their energy ``memory_pj``, of one layer."""
    S, U = ops["synaptic_ops"], ops["neuron_updates"]
    E = ops["input_events"] if S or U else 0.0
    O = ops["output_spikes"]
    W, M, T = stats.weights, stats.outputs, stats.steps
    I = float(stats.counts["input_elements"].max()) if len(stats.counts["input_elements"]) else 0.0
    b_w, b_m, b_a = (mem.array_bytes(a) for a in ARRAYS)
    A_w = S * mem.weight_reads_per_synaptic_event
    A_m = S * mem.potential_accesses_per_synaptic_event + U * mem.potential_accesses_per_neuron_update
    reads, writes = E * mem.input_reads_per_event, O * mem.output_writes_per_spike
    stored = float(stats.total("memory_reads") + stats.total("memory_writes"))
    stored_bytes = float(stats.counts["memory_elements"].max()) * b_a if stored else 0.0
    out = {"weight_reads": A_w, "potential_accesses": A_m, "input_reads": reads, "output_writes": writes,
           **({"stored_accesses": stored} if stored else {})}
    e = mem.access_pj
    if mem.dataflow == "no-reuse":
        state = e(M * b_m)
        out["memory_pj"] = (A_w * e(W * b_w) + A_m * state + reads * state + writes * state
                            + (stored * e(stored_bytes) if stored else 0.0))
        return out
    B = mem.buffer_bytes
    buffer = {a: (lambda size, a=a: e(min(size, B[a]))) for a in ARRAYS}
    if mem.dataflow == "weight-stationary":
        n = _tiles(W * b_w, B["weights"])
        fill_w = W if A_w else 0.0
        fill_m = 2.0 * M * T if A_m and math.ceil(M / n) * b_m > B["membranes"] else 0.0
    else:
        n = _tiles(M * b_m, B["membranes"])
        fill_w = (W if W * b_w <= B["weights"] else min(A_w, n * T * W)) if A_w else 0.0
        fill_m = 0.0
    n_in = n if W else 1
    reads *= n_in
    fill_in = 0.0 if I * T * b_a <= B["activations"] else reads
    fill_out = 0.0 if M * T * b_a <= B["activations"] else writes
    out.update(input_reads=reads, tiles=n, weight_fills=fill_w, potential_fills=fill_m,
               input_fills=fill_in, output_fills=fill_out)
    out["memory_pj"] = (A_w * buffer["weights"](W * b_w) + fill_w * e(W * b_w)
                        + A_m * buffer["membranes"](M * b_m) + fill_m * e(M * b_m)
                        + reads * buffer["activations"](I * b_a) + fill_in * e(I * T * b_a)
                        + writes * buffer["activations"](M * b_a) + fill_out * e(M * T * b_a)
                        + (stored * buffer["activations"](stored_bytes) if stored else 0.0))
    return out
