"""``lca``: one layer of the locally competitive algorithm (Rozell 2008) as ViT-LCA's released
code runs it — a sparse code of one feature vector over a dictionary of unit atoms.

    b = Φ S                                  once per input (Φ: [M, N], one unit atom per row)
    u₀ = 0, a₀ = 0
    for k = 1..K:  u_k = u_{k−1} + (1/τ)(b − (ΦΦᵀ a_{k−1} − a_{k−1}) − u_{k−1})
                   a_k = T_λ(u_k) = u_k − λ where u_k > λ (strictly), else 0

The neuron update is ``evsim.neurons.lca.step`` with X = b − (ΦΦᵀ a − a), so the layer and the
neuron's Brian2 twin share one arithmetic. The output is a_K, [M]. The layer is static (it and
what follows run once per inference, as after a mean over time): it codes one static input,
so a spec using it has input T = 1 (the ViT embedding of one image); each call solves from
u₀ = 0, so calls are independent.

Event execution. b is analog MAC work: each nonzero input feature S_n adds S_n·Φ[:, n]
(fan-out M). Each iteration's lateral inhibition is event-driven: only atoms with a_j ≠ 0
send events, each adding a_j·G[j, :] (M multiply-adds), G = ΦΦᵀ precomputed once per
dictionary — or, when G does not fit the memory budget (M²·8 bytes over ``gram_budget_mb``,
``lateral: auto``), computed from Φ on the fly: c = Σ_j a_j φ_j (N multiply-adds per event),
then Φ c (M·N MACs, when any atom is active). Per step, with Â_k = nnz(a_k):

    synaptic events   nnz(S)·M + Σ_{k<K} Â_k·M                 (gram)
                      nnz(S)·M + Σ_{k<K} (Â_k·N + [Â_k > 0]·M·N)  (on the fly)
    neuron updates    K·M
    output events     Σ_{k=1..K} Â_k    (so M̂ = output events / K, the mean active atoms)
    dense             M·N + K·M² (gram) or M·N + 2·K·M·N (on the fly)

Both engines sum every product in ascending event order (the dense one over all atoms, the
zero ones adding ±0), so their outputs are identical in float64 and float32.
Expected counts (analytic energy) take a declared rate r = M̂/M of active atoms per iteration:
Â_k = r·M for every k, which is the paper's K((2N − 1)M/K + 2·M·M̂ + M) FLOP count in MACs.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import neurons
from ..errors import InputError, MemoryBudgetError, WeightsError
from ..spec.layer import ShapeProblem, require_rank
from ..spec.registry import register
from . import kernels
from .base import Kind

LATERAL = ("auto", "gram", "on_the_fly")
NORM_TOLERANCE = 1e-6   # |‖φ_j‖ − 1| allowed (atoms stored in float32 are unit to ~1e-7)
GRAM_BYTES_PER_ENTRY = 8  # the budget is judged in float64, so the path does not depend on the dtype


@register
@dataclass
class LCA(Kind):
    atoms: int = 0                 # M
    tau: float = 100.0             # τ in iterations (the code's learning rate is 1/τ)
    threshold: float = 2.0         # λ
    iterations: int = 100          # K
    lateral: str = "auto"          # gram | on_the_fly | auto (gram if M²·8 bytes ≤ gram_budget_mb)
    gram_budget_mb: float = 1024.0
    kind: ClassVar[str] = "lca"
    static: ClassVar[bool] = True             # one solve per inference: [M], not [T, M]
    rate_is_declared: ClassVar[bool] = True   # analytic energy needs M̂/M declared

    def __post_init__(self):
        if not isinstance(self.atoms, int) or self.atoms <= 0:
            raise ShapeProblem(f"'atoms' must be a positive int (M, the dictionary size), got {self.atoms!r}")
        if not isinstance(self.iterations, int) or self.iterations < 1:
            raise ShapeProblem(f"'iterations' must be an int ≥ 1 (K), got {self.iterations!r}")
        if self.threshold < 0:
            raise ShapeProblem(f"'threshold' (λ) must be ≥ 0, got {self.threshold!r}")
        if self.lateral not in LATERAL:
            raise ShapeProblem(f"'lateral' must be one of {', '.join(LATERAL)}, got {self.lateral!r}")
        try:
            neurons.lca.check(self.neuron())
        except ValueError as err:
            raise ShapeProblem(str(err)) from None

    def neuron(self):
        return neurons.lca.Parameters(threshold=self.threshold, tau=self.tau)

    def lateral_path(self) -> str:
        """'gram' or 'on_the_fly': what runs (``auto`` decides by the memory budget)."""
        if self.lateral != "auto":
            return self.lateral
        return "gram" if self.atoms ** 2 * GRAM_BYTES_PER_ENTRY <= self.gram_budget_mb * 2**20 else "on_the_fly"

    def output_shape(self, in_shapes):
        require_rank(in_shapes[0], (1,), "its input")
        return (self.atoms,)

    def parameter_shapes(self, in_shapes):
        return {"dictionary": (self.atoms, in_shapes[0][0])}

    def dense_ops(self, in_shapes, out_shape):
        n, m, k = in_shapes[0][0], self.atoms, self.iterations
        return m * n + (k * m * m if self.lateral_path() == "gram" else 2 * k * m * n)

    def synapses(self, in_shapes, out_shape):
        return self.dense_ops(in_shapes, out_shape)

    def initial_params(self, shapes, rng):
        phi = rng.standard_normal(shapes["dictionary"])
        return {"dictionary": phi / np.linalg.norm(phi, axis=1, keepdims=True)}

    def prepare(self, params, dtype, facts, engine):
        name = getattr(facts, "name", None)
        phi64 = np.asarray(params["dictionary"], dtype=np.float64)
        norms = np.linalg.norm(phi64, axis=1)
        bad = np.flatnonzero(np.abs(norms - 1.0) > NORM_TOLERANCE)
        if bad.size:
            raise WeightsError(f"{bad.size} atom(s) of 'dictionary' are not unit vectors (atom {bad[0]} has L2 norm "
                               f"{norms[bad[0]]:.6g})", layer=name,
                               fix="normalise each row of the dictionary to unit L2 norm, as ViT-LCA does "
                                   "(benchmarks/vit_lca_digits.py builds such a file)")
        path = self.lateral_path()
        plan = {"dictionary": phi64.astype(dtype), "neuron": self.neuron(), "lateral": path, "facts": facts}
        plan["dictionary_t"] = np.ascontiguousarray(plan["dictionary"].T)   # row n = Φ[:, n], the fan-out of S_n
        if path == "gram":
            need = self.atoms ** 2 * np.dtype(dtype).itemsize
            from ..resources import machine_memory_bytes
            if need > 0.8 * machine_memory_bytes():
                raise MemoryBudgetError(f"the Gram matrix of {self.atoms} atoms needs {need / 2**30:.1f} GiB", layer=name,
                                        fix="use 'lateral: on_the_fly' (or auto) for this dictionary size")
            plan["gram"] = (phi64 @ phi64.T).astype(dtype)
            plan["row_nonzero"] = np.count_nonzero(plan["gram"], axis=1)
        else:
            plan["row_nonzero"] = np.count_nonzero(plan["dictionary"], axis=1)
        plan["column_nonzero"] = np.count_nonzero(plan["dictionary"], axis=0)
        if self.lateral == "auto" and engine == "event":
            print(f"evsim: layer '{name}': lateral inhibition {'from the precomputed Gram matrix' if path == 'gram' else 'computed from the dictionary on the fly'} "
                  f"(M²·8 bytes = {self.atoms ** 2 * 8 / 2**20:.1f} MB, budget {self.gram_budget_mb:g} MB)", file=sys.stderr)
        return plan

    # --- the shared iteration -------------------------------------------------------------

    def _solve(self, plan, b, lateral):
        """K iterations from u₀ = a₀ = 0; ``lateral(a)`` is ΦΦᵀa. Returns (a_K, [Â_0..Â_K])."""
        p = plan["neuron"]
        state = neurons.lca.initial_state(b.shape, p, b.dtype)
        a = np.zeros_like(b)
        active = [0]
        for _ in range(self.iterations):
            a, state = neurons.lca.step(b - (lateral(a) - a), state, p)
            active.append(int(np.count_nonzero(a)))
        return a, active

    def _project(self, plan, c):
        """Φ c: the dense stage of the on-the-fly path, the same call in both engines."""
        return plan["dictionary"] @ c

    def _static_input(self, plan, inputs):
        x = inputs[0]
        if x.shape[0] != 1:
            raise InputError(f"an lca layer codes one static input per inference, got {x.shape[0]} time steps",
                             layer=getattr(plan["facts"], "name", None), fix="set the spec's input T: 1")
        return x

    def dense(self, plan, inputs, state):
        x = self._static_input(plan, inputs)
        out = np.empty((x.shape[0], self.atoms), dtype=x.dtype)
        if plan["lateral"] == "gram":
            lateral = lambda a: (a[:, None] * plan["gram"]).sum(axis=0)  # noqa: E731  ascending j
        else:
            lateral = lambda a: self._project(plan, (a[:, None] * plan["dictionary"]).sum(axis=0))  # noqa: E731
        for s in range(x.shape[0]):
            b = (x[s][:, None] * plan["dictionary_t"]).sum(axis=0)
            out[s], _ = self._solve(plan, b, lateral)
        return out

    def _gather(self, values, rows):
        """Σ over events (ascending index) of value · rows[index]: one target row."""
        index, vals = kernels.extract_events(values)
        acc = np.zeros(rows.shape[1], dtype=values.dtype)
        kernels.vector_gather(index, vals, rows, acc)
        return acc, index

    def event(self, plan, inputs, state, counts, steps):
        x = self._static_input(plan, inputs)
        m, n = plan["dictionary"].shape
        out = np.empty((x.shape[0], m), dtype=x.dtype)
        work = {"synaptic": 0, "nonzero": 0}

        def lateral(a):
            if plan["lateral"] == "gram":
                acc, index = self._gather(a, plan["gram"])
                work["synaptic"] += index.size * m
                work["nonzero"] += int(plan["row_nonzero"][index].sum())
                return acc
            c, index = self._gather(a, plan["dictionary"])
            work["synaptic"] += index.size * n + (m * n if index.size else 0)
            work["nonzero"] += int(plan["row_nonzero"][index].sum()) + (int(plan["column_nonzero"].sum()) if index.size else 0)
            return self._project(plan, c) if index.size else np.zeros(m, dtype=x.dtype)

        for s, t in enumerate(range(steps.start, steps.stop)):
            work.update(synaptic=0, nonzero=0)
            b, index = self._gather(x[s], plan["dictionary_t"])
            work["synaptic"] += index.size * m
            work["nonzero"] += int(plan["column_nonzero"][index].sum())
            out[s], active = self._solve(plan, b, lateral)
            self._record(counts, t, work["synaptic"], work["nonzero"], sum(active[1:]), plan["facts"])
        return out

    def _record(self, counts, t, synaptic, nonzero, output_events, facts):
        counts["synaptic_events"][t] = synaptic
        counts["weighted_synaptic_events"][t] = synaptic      # analog events: counted once each
        counts["synaptic_events_nonzero"][t] = nonzero
        counts["dense_synaptic_ops"][t] = facts.synapses
        counts["dense_macs"][t] = facts.dense_ops
        counts["neuron_updates"][t] = self.iterations * self.atoms
        counts["output_spikes"][t] = output_events

    def count(self, params, inputs, output, facts, counts):
        """Brute force: the iteration recomputed densely (BLAS products, G = ΦΦᵀ), its active
        sets counted per iteration, and the synapses they reach read off Φ and G."""
        phi = np.asarray(params["dictionary"], dtype=np.float64)
        m, n = phi.shape
        gram = phi @ phi.T
        for t, x in enumerate(np.asarray(inputs[0], dtype=np.float64)):
            b = phi @ x
            u, a = np.zeros(m), np.zeros(m)
            sent = synaptic = nonzero = 0
            produced = 0
            for _ in range(self.iterations):
                on = a != 0
                sent += int(on.sum())
                if self.lateral_path() == "gram":
                    nonzero += int(np.count_nonzero(gram[on]))
                elif on.any():
                    nonzero += int(np.count_nonzero(phi[on])) + int(np.count_nonzero(phi))
                    synaptic += m * n + int(on.sum()) * n
                u = u + (b - (gram @ a - a) - u) / self.tau
                a = np.where(u > self.threshold, u - self.threshold, 0.0)
                produced += int(np.count_nonzero(a))
            if self.lateral_path() == "gram":
                synaptic = sent * m
            x_on = x != 0
            self._record(counts, t, int(x_on.sum()) * m + synaptic, int(np.count_nonzero(phi[:, x_on])) + nonzero,
                         produced, facts)

    def expected(self, facts, in_rates, out_rate, counts):
        n, m, k = facts.in_shapes[0][0], self.atoms, self.iterations
        active = out_rate.events * m                       # M̂
        lateral = k * active * m if self.lateral_path() == "gram" else k * (active * n + m * n)
        synaptic = in_rates[0].events * n * m + lateral
        counts["synaptic_events"][:] = synaptic
        counts["weighted_synaptic_events"][:] = synaptic
        counts["synaptic_events_nonzero"][:] = synaptic
        counts["dense_synaptic_ops"][:] = facts.synapses
        counts["dense_macs"][:] = facts.dense_ops
        counts["neuron_updates"][:] = k * m
        counts["output_spikes"][:] = k * active


def mean_active(stats) -> float:
    """M̂ of a measured run: output events per iteration and step (updates = steps·K·M)."""
    return stats.total("output_spikes") * stats.outputs / stats.total("neuron_updates")
