"""The ``evsim`` command: info, run, energy, audit, compare, crossval, import, export."""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from energy.conventions import DEFAULTS as CONVENTIONS
from energy.conventions import INTEGER_AS

from . import validate
from .engines import ENGINES
from .errors import EvsimError, InputError
from .importers.spikformer import VARIANTS
from .outputs import OutputSet, check_destination


def _format_shape(shape):
    return "×".join(str(s) for s in shape)


def cmd_info(args):
    from .spec import load_spec
    spec = load_spec(args.spec)
    shapes = spec.parameter_shapes()
    print(f"{spec.name}: input {spec.input.encoding} {_format_shape(spec.input.shape)}, T = {spec.input.T} steps")
    header = f"{'layer':<34} {'kind':<11} {'output/step':<14} {'values':<8} {'params':>11} {'dense MACs/step':>16}"
    print(header)
    print("-" * len(header))
    total_ops = 0
    for name, layer in spec.layers.items():
        params = sum(math.prod(s) for k, s in shapes.get(name, {}).items() if not k.startswith("running_"))
        ops = spec.dense_ops(name)
        total_ops += ops * spec.steps(name)
        print(f"{name:<34} {layer.kind:<11} {_format_shape(spec.shapes[name]):<14} {spec.values[name]:<8} "
              f"{params:>11,} {ops:>16,}")
    print("-" * len(header))
    print(f"parameters: {spec.param_count:,} ({spec.param_count / 1e6:.2f} M, BatchNorm running statistics excluded)")
    print(f"dense operations per inference: {total_ops / 1e9:.4f} G MAC/AC (padded-border FLOP count, all T steps)")


def _network(args, spec=None):
    from . import load, synthetic_weights
    from .spec import load_spec
    spec = spec or load_spec(args.spec)
    if args.weights:
        return load(spec, args.weights)
    if args.synthetic_rate is None:
        raise EvsimError("no weights given", file=args.spec,
                         fix="pass --weights W.safetensors, or --synthetic-rate 0.15 for calibrated random weights")
    return load(spec, synthetic_weights(spec, seed=args.seed, target_rate=args.synthetic_rate, progress=True))


def _inputs(args, spec):
    """The input array(s): --input X.npy holds one input or a batch (one more leading axis)."""
    from .synthetic import sample_input
    if not args.input:
        return [sample_input(spec, args.seed)]
    x = validate.read_array(args.input)
    single = spec.input.shape if spec.input.encoding == "direct" else (spec.input.T, *spec.input.shape)
    if x.shape == tuple(single) or (x.ndim == len(single) + 1 and x.shape[1:] == tuple(single) and len(x) > 0):
        batch = [x] if x.shape == tuple(single) else list(x)
        for item in batch:  # values too (negative spike counts, NaN), before any work
            validate.input_array(item, spec)
        return batch
    raise InputError(f"input has shape {list(x.shape)}; expected {list(single)} or a batch [B, {', '.join(map(str, single))}]",
                     file=args.input)


def cmd_run(args):
    from .resources import check_run, saved_spikes_bytes
    outputs_set = OutputSet()  # every destination checked before any work
    outputs_set.add(args.save_output, "npy", "--save-output")
    outputs_set.add(args.save_spikes, "npz", "--save-spikes")
    from .spec import load_spec
    spec = load_spec(args.spec)
    inputs = _inputs(args, spec)  # read and checked, and the whole batch's memory estimated, before any weight
    saved = [("the saved spikes", saved_spikes_bytes(spec, len(inputs)))] if args.save_spikes else []
    check_run(spec, np.dtype(args.dtype), args.engine, len(inputs), extra=saved)
    network = _network(args, spec)
    runs = network.run_many(inputs, args.engine, args.dtype, strict_events=args.strict_events, batch=args.batch)
    _print_execution(runs[0])
    outputs = np.stack([r.output for r in runs])
    for i, r in enumerate(runs):
        rates = {n: s.mean() for n, s in r.spikes.items()}
        mean_rate = float(np.mean(list(rates.values()))) if rates else 0.0
        top = int(np.argmax(r.output)) if r.output.ndim == 1 else None
        print(f"input {i}: output {list(r.output.shape)}, argmax {top}, mean firing rate {mean_rate:.4f} spikes/neuron/step "
              f"over {len(rates)} spiking layers ({args.engine} engine, {args.dtype})")
    with outputs_set:
        if args.save_output:
            outputs_set.stage(args.save_output, lambda f: np.save(f, outputs if len(runs) > 1 else outputs[0]))
        if args.save_spikes:
            spikes = {n: (np.stack([r.spikes[n] for r in runs]) if len(runs) > 1 else runs[0].spikes[n]).astype(np.uint8)
                      for n in runs[0].spikes}
            outputs_set.stage(args.save_spikes, lambda f: np.savez_compressed(f, **spikes))
        outputs_set.commit()
    if args.save_output:
        print(f"wrote {args.save_output}")
    if args.save_spikes:
        print(f"wrote {args.save_spikes} ({len(spikes)} layers, arrays [T, ...] of 0/1)")
    _save_rates(args, runs, network.spec)


def _print_execution(run):
    """Which layers the event engine ran densely (their inputs too dense for the scatter to win)."""
    dense = [name for name, path in run.execution.items() if path == "dense"]
    if dense:
        print(f"event engine: {len(dense)} layer(s) with dense inputs computed through BLAS, counts from their events "
              f"({', '.join(dense)}); --strict-events scatters them too", file=sys.stderr)


def _save_rates(args, runs, spec):
    if args.save_rates:
        from energy.rates import save_rates
        save_rates(args.save_rates, runs, spec)
        print(f"wrote {args.save_rates} (measured rates of every layer over {len(runs)} input(s), spikes per element "
              f"per step; evsim energy SPEC --rates {args.save_rates} reproduces the run's counts)", file=sys.stderr)


def cmd_energy(args):
    """Measured (a run) or analytic (declared rates) energy of one inference."""
    import energy
    outputs_set = OutputSet()  # every destination checked before any work
    outputs_set.add(args.output, "text", "--output")
    outputs_set.add(args.plot, "image", "--plot")
    profile = energy.load_profile(args.profile)  # fail before a long run, not after
    switches = {"integer_as": args.integer_as, "count_bias": False if args.no_bias else None,
                "analog_as_mac": args.analog_as == "mac"}
    if args.rates:
        if args.weights or args.input or args.synthetic_rate is not None or args.save_rates:
            raise EvsimError("give either --rates (analytic) or --weights/--synthetic-rate/--input/--save-rates "
                             "(measured), not both")
        from .spec import load_spec
        report = energy.analytic(load_spec(args.spec), args.rates, profile, args.convention, **switches)
    else:
        from .spec import load_spec
        spec = load_spec(args.spec)
        inputs = _inputs(args, spec)
        network = _network(args, spec)
        if len(inputs) != 1:
            raise EvsimError("energy is reported per inference: give one input", file=args.input)
        run = network.run(inputs[0], engine=args.engine, dtype=args.dtype, strict_events=args.strict_events)
        _print_execution(run)
        report = energy.estimate(run, profile, args.convention, **switches)
        _save_rates(args, [run], network.spec)
    text = report.render(args.format)
    with outputs_set:
        if args.output:
            outputs_set.stage(args.output, lambda f: f.write((text + "\n").encode("utf-8")))
        if args.plot:
            figure = report.plot()
            outputs_set.stage(args.plot, lambda f: figure.savefig(f, format=Path(args.plot).suffix[1:].lower(), dpi=120))
        outputs_set.commit()
    if args.output:
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        print(text)
    if args.plot:
        print(f"wrote {args.plot}", file=sys.stderr)


def cmd_demo(args):
    from .demo import run_demo, summary_lines
    result = run_demo(args.output, args.limit, args.engine)
    print("\n".join(summary_lines(result)))


_CALIBRATED: dict = {}


def measure_runs(spec, weights, inputs, synthetic_rate=None, seed=0, calibrate_with=None, engine="event"):
    """What the audit's measured rows run, through the event engine (float64): ``weights`` a
    path, or None for calibrated random weights (calibrated on ``calibrate_with``, a spec with
    the same parameters); ``inputs`` an array of inputs, or a number of seeded sample inputs."""
    from . import load, sample_input, synthetic_weights
    if weights is None:
        source = calibrate_with or spec
        key = (str(Path(source.path).resolve()), seed, synthetic_rate)
        if key not in _CALIBRATED:   # the rows compare runs on the same weights: calibrate once
            _CALIBRATED[key] = synthetic_weights(source, seed=seed, target_rate=synthetic_rate)
        weights = _CALIBRATED[key]
    if isinstance(inputs, int):
        inputs = [sample_input(spec, seed + 1 + i) for i in range(inputs)]
    return load(spec, weights).run_many(list(inputs), engine=engine)


def cmd_audit(args):
    from energy.audit import CLAIMS_PATH, audit, render
    print(render(audit(args.claims or CLAIMS_PATH, measure=None if args.no_measure else measure_runs), args.format))


def cmd_compare(args):
    from energy.audit import CLAIMS_PATH
    from energy.compare import compare, render
    print(render(*compare(claims_path=args.claims or CLAIMS_PATH), args.format))


def cmd_crossval(args):
    from .crossval.cli import run_crossval
    if args.plot:
        check_destination(args.plot, "image", "--plot")
    run_crossval(args)


def cmd_import(args):
    if args.family == "nir":
        return cmd_import_nir(args)
    if args.family in ("spikingformer", "sdt"):
        return cmd_import_spike_driven(args)
    if args.variant is None or args.heads is None:
        raise EvsimError(f"importing a {'QKFormer' if args.family == 'qkformer' else 'Spikformer'} checkpoint "
                         "needs --variant and --heads")
    if args.family == "qkformer":
        from .importers.qkformer import import_checkpoint
    else:
        from .importers.spikformer import import_checkpoint
    spec, ignored = import_checkpoint(args.checkpoint, args.variant, args.heads, args.output, T=args.T,
                                      img_size=args.img_size, num_classes=args.num_classes)
    print(f"wrote {Path(args.output) / 'model.yaml'} and {Path(args.output) / 'weights.safetensors'}: {spec.name}, "
          f"{spec.param_count / 1e6:.2f} M parameters")
    if ignored:
        shown = ", ".join(ignored[:4]) + (" …" if len(ignored) > 4 else "")
        print(f"note: ignored {len(ignored)} key(s) evsim has no use for — LayerNorms the official code builds but "
              f"never calls, BatchNorm counters, a DVS pos_embed ({shown})")


def cmd_import_spike_driven(args):
    from .importers.spike_driven import FAMILIES, import_checkpoint, variants
    if args.variant is None:
        raise EvsimError(f"importing a {FAMILIES[args.family].title} checkpoint needs --variant",
                         fix=f"one of {', '.join(variants(args.family))} (models/{args.family}-*.yaml), or a spec file")
    if args.num_classes is not None:
        raise EvsimError("--num-classes is for spikformer; here the variant's spec sets the classes",
                         fix="choose the variant with the checkpoint's classes (cifar10, cifar100, imagenet)")
    spec, ignored = import_checkpoint(args.family, args.checkpoint, args.variant, args.output, T=args.T,
                                      img_size=args.img_size, heads=args.heads)
    print(f"wrote {Path(args.output) / 'model.yaml'} and {Path(args.output) / 'weights.safetensors'}: {spec.name}, "
          f"{spec.param_count / 1e6:.2f} M parameters")
    if ignored:
        shown = ", ".join(ignored[:4]) + (" …" if len(ignored) > 4 else "")
        print(f"note: ignored {len(ignored)} key(s) evsim has no use for — {FAMILIES[args.family].unused_note} ({shown})")


def cmd_import_nir(args):
    from .importers.nir import import_nir
    shape = [int(v) for v in args.input_shape.split(",")] if args.input_shape else None
    _, _, notes = import_nir(args.checkpoint, args.output, dt=args.dt, source=args.source, T=args.T or 10, input_shape=shape)
    print(f"wrote {Path(args.output) / 'model.yaml'} and {Path(args.output) / 'weights.safetensors'}")
    for note in notes:
        print(f"note: {note}")


def cmd_export(args):
    from . import load
    if len(args.files) == 3 and args.files[0] == "nir":
        return cmd_export_nir(args, *args.files[1:])
    if len(args.files) != 2:
        raise EvsimError(f"export takes SPEC WEIGHTS or nir SPEC WEIGHTS, got {' '.join(args.files)}")
    if args.variant is None:
        raise EvsimError("exporting a Spikformer state_dict needs --variant", fix=f"choose one of {', '.join(VARIANTS)}")
    from .importers.spikformer import export_state_dict, save_state_dict
    args.spec, args.weights = args.files
    check_destination(args.output, "pth", "-o")
    network = load(args.spec, args.weights)
    save_state_dict(export_state_dict(network.spec, network.params, args.variant), args.output)
    print(f"wrote {args.output} (official Spikformer {args.variant} layout)")


def cmd_export_nir(args, spec, weights):
    from . import load
    from .importers.nir import export_nir
    _, notes = export_nir(load(spec, weights), args.output, target=args.target, dt=args.dt)
    print(f"wrote {args.output} (NIR graph, {notes[0]})")
    for note in notes[1:]:
        print(f"note: {note}")


def _option(check):
    """An argparse type from a validate function: its EvsimError becomes argparse's one-line usage error."""
    def convert(text):
        try:
            return check(text)
        except EvsimError as err:
            raise argparse.ArgumentTypeError(err.bare_message + (f" — {err.fix}" if err.fix else "")) from None
    convert.__name__ = getattr(check, "__name__", "value")
    return convert


def _parse_number(text, kind):
    try:
        return kind(text)
    except ValueError:
        raise EvsimError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None


def _count_option(maximum):
    return _option(lambda text: validate.integer(_parse_number(text, int), "value", low=1, high=maximum))


def _rate_option(text):
    return _option(lambda t: validate.fraction(_parse_number(t, float), "synthetic rate"))(text)


def _seed_option(text):
    return _option(lambda t: validate.seed(_parse_number(t, int)))(text)


def _size_option(text):
    from .resources import parse_size
    return _option(parse_size)(text)


def _add_network_options(p):
    p.add_argument("spec", help="YAML network spec, or the name of a shipped spec")
    p.add_argument("--weights", help=".npz or .safetensors weights keyed '<layer>.<param>'")
    p.add_argument("--synthetic-rate", type=_rate_option, help="no weights file: calibrated random weights firing at this rate")
    p.add_argument("--seed", type=_seed_option, default=0)
    p.add_argument("--input", help=".npy input (one, or a batch with a leading axis); default: a seeded sample")
    p.add_argument("--engine", choices=list(ENGINES), default="event")
    p.add_argument("--save-rates", help="write the measured rates of every layer to this YAML (for --rates)")
    p.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    p.add_argument("--strict-events", action="store_true",
                   help="event engine: scatter every layer's events, even where its input is dense enough for BLAS "
                        "to be faster (same spikes and counts; default: such layers run through BLAS)")
    p.add_argument("--memory-budget", type=_size_option,
                   help="refuse work estimated above this much memory (e.g. 8GiB; default: 80%% of the machine's, "
                        "or EVSIM_MEMORY_BUDGET)")


def build_parser():
    parser = argparse.ArgumentParser(prog="evsim", description="Event-driven spiking-network simulator with energy accounting")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("info", help="shapes, parameters and dense operation counts of a spec")
    p.add_argument("spec", help="YAML spec file, or the name of a shipped spec (e.g. spikformer-cifar10-4-384)")
    p.set_defaults(func=cmd_info)
    p = sub.add_parser("run", help="run a network on an input")
    _add_network_options(p)
    p.add_argument("--save-output", help="write the output(s) to this .npy")
    p.add_argument("--save-spikes", help="write every spiking layer's spikes to this .npz, keyed by layer")
    p.add_argument("--batch", type=_count_option(4096), default=1,
                   help="event engine, several inputs: run this many together (throughput mode: each layer's weights "
                        "serve all their events in one call; every result equals the input's own run)")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("energy", help="per-layer energy of one inference, measured or from declared rates")
    _add_network_options(p)
    p.add_argument("--rates", help="YAML of declared firing rates per layer (no weights needed)")
    p.add_argument("--profile", default="horowitz45-fp32", help="hardware profile name or YAML file")
    p.add_argument("--convention", default="exact", choices=list(CONVENTIONS))
    p.add_argument("--integer-as", choices=list(INTEGER_AS), default=None,
                   help="price integer multi-spike inputs as AC per spike or MAC per event (default: the convention's; effective: MAC)")
    p.add_argument("--no-bias", action="store_true", help="do not count bias and folded-BatchNorm additions")
    p.add_argument("--analog-as", choices=["mac", "ac"], default="mac",
                   help="price analog inputs (first conv on pixels, the head) as MAC (default) or AC")
    p.add_argument("--format", choices=["table", "csv", "json", "md", "sj"], default="table",
                   help="sj: SynOps/MACs in SpikingJelly 2.0's terms")
    p.add_argument("--output", help="write the report to this file instead of the terminal")
    p.add_argument("--plot", help="write a per-layer breakdown chart (PNG/PDF/SVG)")
    p.set_defaults(func=cmd_energy)
    p = sub.add_parser("demo", help="the shipped trained Spikformer on the digits test set: accuracy, rates, energy, plots")
    p.add_argument("--output", help="folder for the plots and the report (default: a new evsim-demo-<time> folder here)")
    p.add_argument("--limit", type=int, help="only the first N test images")
    p.add_argument("--engine", choices=list(ENGINES), default="event")
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("audit", help="published energy figures beside their recomputation")
    p.add_argument("--claims", help="claims YAML (default: the shipped energy/claims.yaml)")
    p.add_argument("--no-measure", action="store_true", help="skip the rows recomputed from runs (a minute or so)")
    p.add_argument("--format", choices=["table", "csv", "json", "md"], default="table")
    p.set_defaults(func=cmd_audit)
    p = sub.add_parser("compare", help="every model with a published energy at its implied rate: paper, exact, "
                                       "memory-aware, and the ANN on the same hardware")
    p.add_argument("--claims", help="claims YAML (default: the shipped energy/claims.yaml)")
    p.add_argument("--format", choices=["table", "csv", "md"], default="table")
    p.set_defaults(func=cmd_compare)
    p = sub.add_parser("import", help="import an official Spikformer, Spikingformer, SDT or QKFormer checkpoint "
                                      "(needs torch), or a NIR graph")
    p.add_argument("family", choices=["spikformer", "spikingformer", "sdt", "qkformer", "nir"])
    p.add_argument("checkpoint", help=".pth / .pth.tar state_dict, or a .nir graph")
    p.add_argument("--variant", help=f"spikformer, qkformer: the official layout ({' | '.join(VARIANTS)}); spikingformer, sdt: "
                                     "the spec (imagenet-8-512: models/FAMILY-imagenet-8-512.yaml, or a spec file)")
    p.add_argument("--heads", type=_count_option(4096), help="attention heads (not recoverable from tensor shapes; "
                                                             "spikingformer: default the spec's)")
    p.add_argument("--dt", type=float, help="nir: time step in seconds (default: the --from library's)")
    p.add_argument("--from", dest="source", choices=["snntorch", "norse", "spikingjelly", "sinabs"],
                   help="nir: read the file in this exporting library's convention (dt, r, reset)")
    p.add_argument("--input-shape", help="nir: per-step input shape, e.g. 2,34,34, where the graph leaves it unset")
    p.add_argument("--T", type=_count_option(100_000), help="time steps (default: 4, DVS 16; nir: 10)")
    p.add_argument("--img-size", type=_count_option(65_536), help="input height = width (default: 32, 224, DVS 128)")
    p.add_argument("--num-classes", type=_count_option(10**7), help="check the head against this")
    p.add_argument("-o", "--output", required=True, help="output folder for model.yaml and weights.safetensors")
    p.set_defaults(func=cmd_import)
    p = sub.add_parser("export", help="write a spec's weights as an official Spikformer state_dict (needs torch), "
                                      "or a network as a NIR graph (evsim export nir SPEC WEIGHTS -o G.nir)")
    p.add_argument("files", nargs="+", metavar="[nir] SPEC WEIGHTS",
                   help="SPEC WEIGHTS: a Spikformer state_dict; nir SPEC WEIGHTS: a NIR graph")
    p.add_argument("--variant", choices=list(VARIANTS), help="Spikformer: the official layout to write")
    p.add_argument("--for", dest="target", choices=["nir", "snntorch", "norse", "spikingjelly"], default="nir",
                   help="nir: the convention the reading library's NIR importer expects (default nir: NIR's equations, needs --dt)")
    p.add_argument("--dt", type=float, help="nir: time step in seconds (default: the --for library's)")
    p.add_argument("-o", "--output", required=True, help=".pth or .nir file to write")
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("crossval", help="Brian2 cross-validation of the neuron models")
    p.add_argument("--model", help="one case (default: every registered neuron model's cases and the network checks)")
    p.add_argument("--plot", help="overlay the membrane traces into this image")
    p.set_defaults(func=cmd_crossval)
    from .sweep.cli import add_sweep_parser
    add_sweep_parser(sub)
    return parser


def main(argv=None):
    """Every failure is one line on stderr: exit 2 for a problem with the input (an
    EvsimError, or argparse's usage error), 130 for Ctrl-C, 70 for a bug in evsim."""
    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "memory_budget", None) is not None:
            from .resources import set_budget
            set_budget(args.memory_budget)
        args.func(args)
    except EvsimError as err:
        print(f"evsim: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("evsim: interrupted — outputs are written whole or not at all", file=sys.stderr)
        return 130
    except MemoryError:
        print("evsim: error: out of memory — lower --memory-budget (or EVSIM_MEMORY_BUDGET) so that evsim refuses "
              "such work up front, or shrink the input", file=sys.stderr)
        return 2
    except BrokenPipeError:
        sys.stderr.close()  # the reader (e.g. `head`) went away: nothing to report
        return 0
    except Exception as err:  # a bug: still one line; EVSIM_DEBUG=1 shows the traceback
        import os
        if os.environ.get("EVSIM_DEBUG"):
            raise
        print(f"evsim: internal error ({type(err).__name__}: {str(err)[:200]}) — please report it; "
              f"EVSIM_DEBUG=1 shows the traceback", file=sys.stderr)
        return 70
    finally:
        if getattr(args, "memory_budget", None) is not None:
            from .resources import set_budget
            set_budget(None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
