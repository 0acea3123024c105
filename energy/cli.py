"""``evsim energy`` and ``evsim audit``."""
from __future__ import annotations

import sys

from evsim.errors import EvsimError


def run_energy(args):
    from evsim.cli import _inputs, _network
    from evsim.spec import load_spec
    from evsim.weights import write_atomic

    from .analytic import analytic
    from .estimate import estimate
    from .profiles import load_profile
    profile = load_profile(args.profile)  # fail before a long run, not after
    switches = {"integer_as": args.integer_as, "count_bias": False if args.no_bias else None,
                "analog_as_mac": args.analog_as == "mac"}
    if args.rates:
        if args.weights or args.input:
            raise EvsimError("give either --rates (analytic) or --weights/--input (measured), not both")
        report = analytic(load_spec(args.spec), args.rates, profile, args.convention, **switches)
    else:
        network = _network(args)
        inputs = _inputs(args, network)
        if len(inputs) != 1:
            raise EvsimError("energy is reported per inference: give one input", file=args.input)
        run = network.run(inputs[0], engine=args.engine, dtype=args.dtype)
        report = estimate(run, profile, args.convention, **switches)
    text = report.render(args.format)
    if args.output:
        write_atomic(args.output, lambda tmp: open(tmp, "w").write(text + "\n"))
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        print(text)
    if args.plot:
        report.plot(args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)


def run_audit(args):
    from .audit import CLAIMS_PATH, audit, render
    print(render(audit(args.claims or CLAIMS_PATH), args.format))
