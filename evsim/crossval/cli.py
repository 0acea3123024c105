"""``evsim crossval``: every neuron model against its Brian2 twin, as a table."""
from __future__ import annotations

from .. import neurons
from ..errors import EvsimError
from .network import compare_network
from .twins import cases, compare, compare_lca, drive, lca_problem

LCA_PARAMS = neurons.lca.Parameters(threshold=1.0, tau=10.0)
NETWORK_CHECKS = ["lca", "linear-lif-network"]


def all_checks() -> list[str]:
    """Every neuron model's cases (from the registry) and the network-level checks."""
    return list(cases()) + NETWORK_CHECKS


def run_crossval(args):
    known = all_checks()
    names = [args.model] if args.model else known
    for name in names:
        if name not in known:
            raise EvsimError(f"unknown model '{name}'", fix=f"choose one of {', '.join(known)}")
    print("evsim vs Brian2 2.9 (numpy target, euler, dt = 1 step): max |ΔV| in units of the membrane potential")
    print(f"{'model':<26} {'max |ΔV|':>10} {'spikes evsim':>13} {'spikes Brian2':>14}  agreement")
    traces = []
    for name in names:
        if name == "lca":
            b, gram = lca_problem()
            r = compare_lca(b, gram, LCA_PARAMS)
            print(f"{name:<26} {r.max_abs_du:>10.2e} {'—':>13} {'—':>14}  "
                  f"{'same active set' if r.same_active_set else 'ACTIVE SETS DIFFER'} (λ = 1, τ = 10, 100 iterations)")
            traces.append((name, r.traces))
        elif name == "linear-lif-network":
            r = compare_network()
            print(f"{name:<26} {r.max_abs_dv:>10.2e} {r.evsim_spikes:>13} {r.brian_spikes:>14}  "
                  f"{'identical spikes after the 1-step synaptic shift' if r.same_spikes else f'{len(r.mismatched)} spikes differ'}")
        else:
            r = compare(name, drive(name))
            agreement = "identical spikes" if r.same_spikes else f"{len(r.spike_time_differences)} neurons differ"
            print(f"{name:<26} {r.max_abs_dv:>10.2e} {r.evsim_spikes:>13} {r.brian_spikes:>14}  {agreement}")
            traces.append((name, r.traces))
    if args.plot:
        plot_traces(traces, args.plot)
        print(f"wrote {args.plot}")


def plot_traces(traces, path, neuron=0, steps=60):
    import matplotlib
    matplotlib.use("Agg")
    from pathlib import Path

    import matplotlib.pyplot as plt

    from ..outputs import write_output
    fig, axes = plt.subplots(len(traces), 1, figsize=(8, 1.6 * len(traces) + 0.5), sharex=True, squeeze=False)
    for ax, (name, (ours, theirs)) in zip(axes[:, 0], traces):
        column = min(neuron + 12, ours.shape[1] - 1)  # a randomly driven neuron, not a tie neuron
        ax.plot(ours[:steps, column], "-", lw=2, label="evsim", color="#4c72b0")
        ax.plot(theirs[:steps, column], "--", lw=1.2, label="Brian2", color="#dd8452")
        ax.set_ylabel(name, fontsize=7)
    axes[0, 0].legend(fontsize=7, loc="upper right")
    axes[-1, 0].set_xlabel("time step")
    fig.suptitle("state variable (membrane potential after reset) of one neuron: evsim vs its Brian2 twin", fontsize=9)
    fig.tight_layout()
    write_output(path, lambda f: fig.savefig(f, format=Path(path).suffix[1:].lower(), dpi=110), "image")
