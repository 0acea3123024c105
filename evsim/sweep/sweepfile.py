"""Reading a sweep file: which networks, which inputs, which prices, how to run.

    specs:                                  # one or more networks
      - spec: ../models/spikformer-cifar10-4-384.yaml
        synthetic_rate: 0.15                # calibrated random weights (with seed), or
        seed: 0
      - spec: my-net.yaml
        weights: my-net.safetensors         # a weights file
        name: mine                          # label in the results (default: the spec file's stem)
    inputs: images.npy                      # a .npy batch [B, ...], a folder of .npy files
                                            # (one input each), or: digits
    conventions: [paper, exact]             # default: [exact]
    profiles: [horowitz45-fp32, loihi]      # names or profile YAML paths; default: [horowitz45-fp32]
    engine: event                           # event | dense
    dtype: float64                          # float64 | float32
    chunk_size: 8                           # inputs per Dask task
    retries: 2                              # retries of a failing chunk before it is reported
    output: rates-results                   # default: <sweep file stem>-results beside the sweep file
    scheduler: tcp://10.0.0.5:8786          # default: a LocalCluster sized to this machine

Relative paths are relative to the sweep file. Every problem is one :class:`SweepError`
line naming the sweep file and line, and the fix.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import EvsimError, SpecError
from .fingerprint import file_sha256

ENGINES = ("event", "dense")          # the engines Network.run accepts
DTYPES = ("float64", "float32")
TOP_KEYS = ("specs", "inputs", "conventions", "profiles", "engine", "dtype", "chunk_size", "retries", "output",
            "scheduler")
SPEC_KEYS = ("spec", "name", "weights", "synthetic_rate", "seed")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")   # a label is also a folder name in the output


class SweepError(EvsimError):
    """A sweep file, its output folder or its run is wrong; located and explained."""


@dataclass(frozen=True)
class SpecEntry:
    """One network of a sweep: a spec with a weights file, or with calibrated synthetic
    weights (``synthetic_rate`` spikes per neuron per step, ``seed``)."""
    name: str
    spec: str                       # absolute path
    weights: str | None = None      # absolute path
    synthetic_rate: float | None = None
    seed: int = 0

    def describe(self) -> str:
        weights = self.weights or f"synthetic weights at rate {self.synthetic_rate}, seed {self.seed}"
        return f"{self.name}: {self.spec} with {weights}"


@dataclass(frozen=True)
class Sweep:
    """A checked sweep file with every path made absolute."""
    path: str
    sha256: str                     # of the sweep file's bytes
    specs: tuple                    # SpecEntry, in file order
    inputs: object                  # an evsim.sweep.inputs.InputSet
    conventions: tuple
    profiles: tuple                 # as written (names), or absolute paths of profile files
    engine: str = "event"
    dtype: str = "float64"
    chunk_size: int = 8
    retries: int = 2
    output: str = ""
    scheduler: str | None = None


class _Checker:
    """Raises SweepError located at a key of the sweep file."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, message, line=None, fix=None):
        raise SweepError(message, file=str(self.path), line=line or None, fix=fix)

    def unknown_keys(self, mapping, allowed, where):
        for key in mapping:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"{where} keys are: {', '.join(allowed)}"
                self.fail(f"unknown key '{key}' in {where}", mapping.line_of(key), hint)

    def names(self, raw, key, choices=None, default=()):
        """A string or a list of strings under ``key``; each one in ``choices`` if given."""
        value = raw.get(key, list(default))
        line = raw.line_of(key)
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
            self.fail(f"'{key}' must be a name or a non-empty list of names", line)
        if len(set(values)) != len(values):
            self.fail(f"'{key}' lists a name twice", line)
        for v in values:
            if choices is not None and v not in choices:
                self.fail(f"unknown {key[:-1]} '{v}'", line, f"choose from {', '.join(choices)}")
        return values

    def whole(self, raw, key, default, minimum):
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.fail(f"'{key}' must be a whole number ≥ {minimum}, got {value!r}", raw.line_of(key))
        return value

    def existing_file(self, base: Path, value, line, what):
        if not isinstance(value, str) or not value:
            self.fail(f"{what} must be a path", line)
        path = (base / value).resolve()
        if not path.is_file():
            self.fail(f"no such {what} '{value}' (looked for {path})", line, "paths are relative to the sweep file")
        return str(path)


def _spec_entry(check: _Checker, base: Path, item, index, list_line) -> SpecEntry:
    if not isinstance(item, dict):
        check.fail(f"specs[{index}] must be a mapping, got {item!r}", list_line,
                   "write '- {spec: PATH, weights: PATH}' or '- {spec: PATH, synthetic_rate: 0.15}'")
    check.unknown_keys(item, SPEC_KEYS, "a spec entry")
    if "spec" not in item:
        check.fail(f"specs[{index}] has no 'spec:'", item.line, "give the path of a network spec YAML")
    spec = check.existing_file(base, item["spec"], item.line_of("spec"), "spec file")
    has_weights, has_rate = "weights" in item, "synthetic_rate" in item
    if has_weights == has_rate:
        check.fail(f"spec entry '{item['spec']}' needs exactly one of 'weights:' and 'synthetic_rate:'", item.line,
                   "a weights file, or a firing rate for calibrated random weights")
    weights = check.existing_file(base, item["weights"], item.line_of("weights"), "weights file") if has_weights else None
    rate = item.get("synthetic_rate")
    if has_rate and (isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate < 1):
        check.fail(f"'synthetic_rate' must be in (0, 1) spikes per neuron per step, got {rate!r}",
                   item.line_of("synthetic_rate"))
    if "seed" in item and has_weights:
        check.fail("'seed' only applies to synthetic weights", item.line_of("seed"), "drop it, or use 'synthetic_rate:'")
    seed = check.whole(item, "seed", 0, 0)
    name = item.get("name", Path(spec).stem)
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        check.fail(f"spec name {name!r} is not a plain label", item.line_of("name"),
                   "use letters, digits, '.', '_' and '-' (it names a folder of the results)")
    return SpecEntry(name, spec, weights, None if rate is None else float(rate), seed)


def _check_networks(check: _Checker, raw, entries, inputs):
    """Load every spec now (errors name the spec file) and check the input set fits them."""
    import evsim
    for entry, item in zip(entries, raw["specs"]):
        try:
            spec = evsim.load_spec(entry.spec)
        except EvsimError as err:
            check.fail(f"spec '{entry.name}' does not load: {err}", item.line)
        expected = evsim.sample_input(spec).shape   # the one input the spec takes
        problem = inputs.shape_problem(expected)
        if problem:
            check.fail(f"inputs do not fit spec '{entry.name}': {problem}", raw.line_of("inputs"))


def _profiles(check: _Checker, raw, base: Path):
    """Profile names as written; a profile given as a file becomes an absolute path."""
    import energy
    out = []
    for name in check.names(raw, "profiles", default=("horowitz45-fp32",)):
        if Path(name).suffix:
            name = check.existing_file(base, name, raw.line_of("profiles"), "profile file")
        try:
            energy.load_profile(name)
        except EvsimError as err:
            check.fail(f"profile '{name}' does not load: {err}", raw.line_of("profiles"))
        out.append(name)
    return tuple(out)


def read_sweep(path: str | Path) -> Sweep:
    """Read and check a sweep file (see the module docstring for its keys)."""
    import energy

    from ..spec.yamlio import read_yaml
    from .inputs import input_set
    path = Path(path)
    check = _Checker(path)
    try:
        raw = read_yaml(path, "sweep file")
    except SpecError as err:
        raise SweepError(err.bare_message, file=err.file or str(path), line=err.line, fix=err.fix) from None
    if not isinstance(raw, dict):
        check.fail("a sweep file is a mapping with 'specs:' and 'inputs:'", None, "see `evsim sweep --help`")
    check.unknown_keys(raw, TOP_KEYS, "a sweep file")
    for key in ("specs", "inputs"):
        if key not in raw:
            check.fail(f"no '{key}:'", raw.line, "a sweep needs 'specs:' (networks) and 'inputs:' (a .npy, a folder, or digits)")
    base = path.resolve().parent
    specs = raw["specs"]
    if not isinstance(specs, list) or not specs:
        check.fail("'specs' must be a non-empty list", raw.line_of("specs"))
    entries = [_spec_entry(check, base, item, i, specs.line) for i, item in enumerate(specs)]
    seen = {}
    for entry, item in zip(entries, specs):
        if entry.name in seen:
            check.fail(f"two specs are named '{entry.name}'", item.line, "give each a distinct 'name:'")
        seen[entry.name] = item
    inputs = input_set(raw["inputs"], base, check.fail, raw.line_of("inputs"))
    engine = raw.get("engine", "event")
    if engine not in ENGINES:
        check.fail(f"unknown engine {engine!r}", raw.line_of("engine"), f"choose {' or '.join(ENGINES)}")
    dtype = raw.get("dtype", "float64")
    if dtype not in DTYPES:
        check.fail(f"unsupported dtype {dtype!r}", raw.line_of("dtype"), f"choose {' or '.join(DTYPES)}")
    scheduler = raw.get("scheduler")
    if scheduler is not None and not isinstance(scheduler, str):
        check.fail("'scheduler' must be an address such as tcp://host:8786", raw.line_of("scheduler"))
    output = raw.get("output", f"{path.stem}-results")
    if not isinstance(output, str) or not output:
        check.fail("'output' must be a folder path", raw.line_of("output"))
    sweep = Sweep(
        path=str(path), sha256=file_sha256(path), specs=tuple(entries), inputs=inputs,
        conventions=tuple(check.names(raw, "conventions", tuple(energy.CONVENTIONS), default=("exact",))),
        profiles=_profiles(check, raw, base), engine=engine, dtype=dtype,
        chunk_size=check.whole(raw, "chunk_size", 8, 1), retries=check.whole(raw, "retries", 2, 0),
        output=str((base / output).resolve()), scheduler=scheduler)
    _check_networks(check, raw, entries, inputs)
    return sweep
