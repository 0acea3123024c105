"""``sssa``: saccadic spike self-attention, the linear version (SSSA-V2 of SNN-ViT, Wang et al.,
ICLR 2025), per head h, token n and step t, from spikes Q, V ∈ {0,1}^{N×D}, d = D/heads:

    Q'[t, h, n] = Σ_{j ∈ h} Q[t, n, j]                      per-token spike count (spatial salience)
    gate        S[t, h, n] = Θ(α (M_w Q'[·, h, n])[t] − V_th)            gate: integrate
                S[t, h, n] = [Q'[t, h, n] ≥ θ[t]],  θ = α⁻¹ M_w⁻¹ (V_th 1)   gate: per_step
    y[t, n, j]  = S[t, h(j), n] · V[t, n, j]                 a spike gate per token multiplying V

``integrate`` is the saccadic neuron (``evsim.neurons.saccadic``) driven by the salience α·Q':
M_w ∈ R^{T×T} (lower triangular, learned) weighs the salience history, without leak or reset.
``per_step`` is the threshold the paper gives for inference: only the current step is needed.

Assumptions where the paper is silent (no code was released): K'ᵀL is folded into the learned
scalar α (so K is not an input: the V2 form); Q' counts over all D channels (``heads: 1``) unless
``heads`` splits them; α and M_w are layer parameters ``alpha`` (0-d) and ``m_w``
([time_steps, time_steps], entries above the diagonal ignored). The two gates agree exactly when
M_w is diagonal; otherwise M_w⁻¹ does not preserve the inequality and they differ — hence the
option. The paper's default is taken to be ``per_step``.

Cost per step: every q event adds 1 to its token's count (fan-out 1); each gated-open (h, n)
forwards its V events. The dense count is 2·N·D (every count addition, every gate product):
linear in N, where spiking self-attention costs 2·N²·D (``qk_first``) or 2·N·D·d (``kv_first``).
Event step: only q events and the V events of open tokens are touched; with θ[t] > 0 a token
without q spikes cannot open, so the gate is evaluated only for tokens that spiked
(``neuron_updates``); with θ[t] ≤ 0, or with ``integrate`` (the history matters), every token's
neuron updates.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import neurons
from ..spec.layer import BINARY, ShapeProblem, require_rank
from ..spec.registry import register
from . import kernels
from .base import Kind

GATES = ("per_step", "integrate")


def thresholds(m_w, alpha, v_threshold, steps) -> np.ndarray:
    """θ[t] = α⁻¹ (M_w⁻¹ V_th 1)[t] for t < steps (the leading block of a lower-triangular M_w)."""
    block = np.tril(np.asarray(m_w, dtype=np.float64))[:steps, :steps]
    return np.linalg.solve(block, np.full(steps, float(v_threshold))) / float(alpha)


@register
@dataclass
class SSSA(Kind):
    heads: int = 1
    v_threshold: float = 1.0
    time_steps: int = 4
    gate: str = "per_step"
    kind: ClassVar[str] = "sssa"
    arity: ClassVar[int | None] = 2
    spiking: ClassVar[bool] = True
    rate_is_declared: ClassVar[bool] = True

    def __post_init__(self):
        if self.gate not in GATES:
            raise ShapeProblem(f"'gate' must be per_step or integrate, got {self.gate!r}")
        if not isinstance(self.heads, int) or self.heads < 1:
            raise ShapeProblem(f"'heads' must be a positive int, got {self.heads!r}")
        if not isinstance(self.time_steps, int) or self.time_steps < 1:
            raise ShapeProblem(f"'time_steps' must be a positive int (the size of M_w), got {self.time_steps!r}")

    # -- shapes ---------------------------------------------------------------------------
    def output_shape(self, in_shapes):
        for s in in_shapes:
            require_rank(s, (2,), "q and v")
        if in_shapes[0] != in_shapes[1]:
            raise ShapeProblem(f"q and v must have one shape, got {[list(s) for s in in_shapes]}")
        if in_shapes[0][1] % self.heads:
            raise ShapeProblem(f"{in_shapes[0][1]} features are not divisible into {self.heads} heads")
        return in_shapes[0]

    def output_values(self, in_values):
        return BINARY

    def parameter_shapes(self, in_shapes):
        return {"m_w": (self.time_steps, self.time_steps), "alpha": ()}

    def dense_ops(self, in_shapes, out_shape):
        n, width = in_shapes[0]
        return 2 * n * width

    def synapses(self, in_shapes, out_shape):
        return self.dense_ops(in_shapes, out_shape)

    def ann_macs(self, in_shapes, out_shape):
        return self.dense_ops(in_shapes, out_shape)

    def initial_params(self, shapes, rng):
        """M_w a leaky integrator (2^{−(t−i)}), α = 1 (``calibrate`` sets it for a rate)."""
        model = neurons.saccadic
        return {**model.initial_learned(self._neuron(None), shapes, rng), "alpha": np.asarray(1.0)}

    # -- the gate -------------------------------------------------------------------------
    def _neuron(self, m_w):
        return neurons.saccadic.Parameters(self.time_steps, self.v_threshold, m_w)

    def prepare(self, params, dtype, facts, engine):
        steps = self.time_steps if facts is None else facts.steps
        if steps > self.time_steps:
            from ..errors import EvsimError
            raise EvsimError(f"layer '{self.name}' runs {steps} steps but its M_w covers {self.time_steps}",
                             file=self.origin, fix=f"set time_steps: {steps}")
        return {"theta": thresholds(params["m_w"], params["alpha"], self.v_threshold, self.time_steps),
                "alpha": float(params["alpha"]), "neuron": self._neuron(np.asarray(params["m_w"], dtype=dtype)),
                "facts": facts}

    def salience(self, q):
        """Q' [S, heads, N] from q [S, N, D]."""
        S, N, D = q.shape
        return q.reshape(S, N, self.heads, D // self.heads).sum(axis=3).transpose(0, 2, 1)

    def _gates(self, plan, counts_q, state):
        """Gates [S, heads, N] from per-step counts Q' (the saccadic neuron's state carries over)."""
        t0 = state.get("t", 0)
        state["t"] = t0 + len(counts_q)
        if self.gate == "per_step":
            theta = plan["theta"][t0:t0 + len(counts_q)]
            return (counts_q >= theta.reshape(-1, 1, 1).astype(counts_q.dtype)).astype(counts_q.dtype)
        model, p = neurons.saccadic, plan["neuron"]
        current = state.get("neuron") or model.initial_state(counts_q.shape[1:], p, counts_q.dtype)
        out = np.empty_like(counts_q)
        for s in range(len(counts_q)):
            out[s], current = model.step(plan["alpha"] * counts_q[s], current, p)
        state["neuron"] = current
        return out

    def _gate_evaluations(self, plan, counts_q, t0):
        """Neuron updates per step: every (h, n) unless per_step with θ[t] > 0 (then only tokens with q spikes)."""
        everyone = counts_q[0].size
        if self.gate == "integrate":
            return np.full(len(counts_q), everyone, dtype=np.int64)
        theta = plan["theta"][t0:t0 + len(counts_q)]
        spiked = np.count_nonzero(counts_q.reshape(len(counts_q), -1), axis=1)
        return np.where(theta > 0, spiked, everyone).astype(np.int64)

    def _apply(self, gates, v):
        S, N, D = v.shape
        return (v.reshape(S, N, self.heads, D // self.heads) * gates.transpose(0, 2, 1)[..., None]).reshape(S, N, D)

    # -- engines --------------------------------------------------------------------------
    def dense(self, plan, inputs, state):
        q, v = inputs
        return self._apply(self._gates(plan, self.salience(q), state), v).astype(v.dtype, copy=False)

    def event(self, plan, inputs, state, counts, steps):
        """Q' from q's events only (one addition each); then each open (h, n) forwards its V events."""
        q, v = inputs
        S, N, D = q.shape
        d = D // self.heads
        facts = plan["facts"]
        counts_q = np.zeros((S, self.heads, N), dtype=q.dtype)
        for s in range(S):
            index, _ = kernels.extract_events(q[s].reshape(-1))
            np.add.at(counts_q[s], ((index % D) // d, index // D), 1)
        t0 = state.get("t", 0)
        gates = self._gates(plan, counts_q, state)
        out = np.zeros_like(v)
        for s, t in enumerate(range(steps.start, steps.stop)):
            index, _ = kernels.extract_events(v[s].reshape(-1))
            passed = index[gates[s, (index % D) // d, index // D] != 0]
            out[s].reshape(-1)[passed] = 1
            q_events = int(counts_q[s].sum())
            counts["synaptic_events"][t] = counts["weighted_synaptic_events"][t] = \
                counts["synaptic_events_nonzero"][t] = q_events + len(passed)
            counts["output_spikes"][t] = len(passed)
        counts["neuron_updates"][steps] = self._gate_evaluations(plan, counts_q, t0)
        counts["dense_synaptic_ops"][steps] = facts.synapses
        counts["dense_macs"][steps] = facts.dense_ops
        counts["tokens"][steps] = N
        return out

    def count(self, params, inputs, output, facts, counts):
        """From the dense tensors: q spikes + output spikes per step; gate evaluations from Q' and θ."""
        q, _ = inputs
        per_step = lambda a: np.count_nonzero(a.reshape(a.shape[0], -1), axis=1)  # noqa: E731
        counts["synaptic_events"][:] = counts["weighted_synaptic_events"][:] = \
            counts["synaptic_events_nonzero"][:] = per_step(q) + per_step(output)
        counts["output_spikes"][:] = per_step(output)
        theta = thresholds(params["m_w"], params["alpha"], self.v_threshold, self.time_steps)
        counts["neuron_updates"][:] = self._gate_evaluations({"theta": theta}, self.salience(q), 0)
        counts["dense_synaptic_ops"][:] = facts.synapses
        counts["dense_macs"][:] = facts.dense_ops
        counts["tokens"][:] = q.shape[1]

    def expected(self, facts, in_rates, out_rate, counts):
        """q spikes r_q N D + forwarded spikes r_out N D; gate evaluations heads·N·P(Q' > 0)
        = heads·N·(1 − (1 − r_q)^d) for per_step (θ > 0 assumed), heads·N for integrate."""
        rq = in_rates[0].events
        n, width = facts.in_shapes[0]
        d = width // self.heads
        ops = rq * n * width + out_rate.events * n * width
        for field in ("synaptic_events", "weighted_synaptic_events", "synaptic_events_nonzero"):
            counts[field][:] = ops
        counts["output_spikes"][:] = out_rate.events * n * width
        p_any = 1.0 if self.gate == "integrate" else 1 - (1 - rq) ** d
        counts["neuron_updates"][:] = self.heads * n * p_any
        counts["dense_synaptic_ops"][:] = facts.synapses
        counts["dense_macs"][:] = facts.dense_ops
        counts["tokens"][:] = n

    def calibrate(self, params, inputs, target_rate, iterations=40):
        """Synthetic weights: α bisected (log scale) so that the gate opens for ``target_rate`` of
        all (step, head, token) — the gate opens more often as α grows."""
        counts_q = self.salience(inputs[0])
        low, high = -12.0, 12.0
        for _ in range(iterations):
            middle = 0.5 * (low + high)
            params["alpha"] = np.asarray(np.exp(middle))
            plan = self.prepare(params, np.float64, None, "dense")
            rate = float(self._gates(plan, counts_q, {}).mean())
            low, high = (middle, high) if rate < target_rate else (low, middle)
        params["alpha"] = np.asarray(np.exp(high))
