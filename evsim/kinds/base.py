"""The facets every layer kind implements — the whole contract between a kind and the rest.

A kind is one module holding one :class:`Kind` subclass: spec fields and their checks and
shape facets (from :class:`evsim.spec.layer.Layer`), plus

    prepare(params, dtype, facts, engine)    per-run constants (the plan): cast or transposed weights
    dense(plan, inputs, state)               the clock-driven reference: [S, ...] inputs → [S, ...] output
    event(plan, inputs, state, counts, steps) the same output from the inputs' events only, recording
                                             exact counts into ``counts[field][steps]``
    count(params, inputs, output, facts, counts)  the brute-force count from dense tensors (the
                                             independent reference the tests compare ``event`` with)
    expected(facts, in_rates, out_rate, counts)   expected counts given declared rates (what
                                             analytic energy prices); pure arithmetic on shapes
    output_rate(facts, in_rates)             the rate of the output when none is declared
                                             (its ``rate_rule`` says which assumption it makes)
    per_element_rate(facts, rate, in_rates)  a firing rate declared per neuron (the default or
                                             the spec's) as the rate per output element
    detail(stats, facts)                     measured statistics ``expected`` can use instead of
                                             an assumption (written by ``--save-rates``)

``inputs`` hold S time steps (a leading axis): a feed-forward spec runs each layer over all T
steps in one call; a kind must give the same result if called one step at a time with the
same ``state`` dict (its own, empty at the start of a run). A ``step_local`` kind (no state, no
mixing over time) must also give the same result on the concatenated steps of several inputs
(throughput mode, ``evsim.engines.walk.walk_batch``). Input elements, events and spikes
are recorded for every counted kind by the engine (``evsim.stats.record_inputs``); a kind
records the rest. Nothing outside a kind's module branches on its name.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from ..spec.layer import Layer, LayerFacts
from ..stats import ANALOG_RATE, Rate


class Kind(Layer, ABC):
    """Base of every layer kind (see the module docstring for the facets)."""

    counted: ClassVar[bool] = True   # has LayerStats (a mean over time does no countable work)
    rate_is_declared: ClassVar[bool] = False  # analytic energy needs a declared rate for its output
    rate_rule: ClassVar[str] = "analog: every value nonzero"  # how output_rate propagates, for reports
    detail_keys: ClassVar[tuple] = ()  # the measured statistics ``detail`` gives and ``expected`` takes
    # The output at step s depends only on the inputs at step s (no state, no mixing over time):
    # throughput mode may then give the kind the steps of several inputs in one call.
    step_local: ClassVar[bool] = False
    # Input density above which ``event_dense`` runs instead of ``event`` (None: the engine's
    # DENSE_INPUTS_ABOVE, measured for the conv/linear scatters).
    dense_inputs_above: ClassVar[float | None] = None

    def prepare(self, params: dict, dtype, facts: LayerFacts, engine: str) -> dict:
        """Constants of this layer for one engine and dtype; by default the weights cast."""
        return {key: np.asarray(value, dtype=dtype) for key, value in params.items()}

    @abstractmethod
    def dense(self, plan: dict, inputs: list[np.ndarray], state: dict) -> np.ndarray:
        """Dense output over the steps of ``inputs``."""

    @abstractmethod
    def event(self, plan: dict, inputs: list[np.ndarray], state: dict, counts: dict, steps: slice) -> np.ndarray:
        """Event-driven output over the steps of ``inputs`` (equal to ``dense``), with counts."""

    @abstractmethod
    def count(self, params: dict, inputs: list[np.ndarray], output: np.ndarray, facts: LayerFacts,
              counts: dict) -> None:
        """Brute-force counts over all steps from dense inputs and output."""

    @abstractmethod
    def expected(self, facts: LayerFacts, in_rates: list[Rate], out_rate: Rate, counts: dict) -> None:
        """Expected counts per step (floats) given each input's and the output's rate."""

    def event_dense(self, plan: dict, inputs: list[np.ndarray], state: dict, counts: dict, steps: slice) -> np.ndarray | None:
        """Optional: the output computed densely (``dense``, through BLAS) with the counts still
        taken from the events — for inputs too dense for the event kernels to win. None: this
        kind has no such path and always runs ``event``."""
        return None

    def detail(self, stats: list, facts: LayerFacts) -> dict:
        """Measured statistics of this layer's work over runs (``stats``: its LayerStats of each
        run; ratios of counts to their dense maxima) that ``expected`` uses when a rates file
        declares them; most kinds' expected counts need nothing beyond their rates."""
        return {}

    def initial_params(self, shapes: dict, rng: np.random.Generator) -> dict:
        """Random parameters for synthetic networks: W ~ N(0, 1/fan_in), everything else 0."""
        return {key: rng.standard_normal(shape) / np.sqrt(int(np.prod(shape[1:]))) if key == "weight"
                else np.zeros(shape) for key, shape in shapes.items()}

    def output_rate(self, facts: LayerFacts, in_rates: list[Rate]) -> Rate:
        """Output rate when none is declared; analog outputs are all nonzero."""
        return ANALOG_RATE

    def per_element_rate(self, facts: LayerFacts, rate: Rate, in_rates: list[Rate]) -> Rate:
        """The rate per output element of a firing rate declared per neuron (the default rate,
        or the spec's ``firing_rate``): the same where every neuron updates at every step; a
        layer that updates only some (the masked kinds) scales it. A rate declared for the
        layer by name is per element already (as ``--save-rates`` writes it)."""
        return rate


class Passive(Kind):
    """A kind without synapses or neurons (reshapes, sums, poolings, normalisations): its
    event step is its dense step, and it counts nothing beyond its inputs."""

    def event(self, plan, inputs, state, counts, steps):
        return self.dense(plan, inputs, state)

    def count(self, params, inputs, output, facts, counts):
        pass

    def expected(self, facts, in_rates, out_rate, counts):
        pass


def per_step(a: np.ndarray) -> np.ndarray:
    """[S, ...] → [S, elements]."""
    return a.reshape(a.shape[0], -1)
