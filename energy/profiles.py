"""Hardware profiles: picojoules per operation kind, with provenance, read from YAML.

A profile prices the operations a convention counted: ``ac`` (accumulate), ``mac``
(multiply-accumulate), optionally ``neuron_update`` and ``spike_routing``, and — for
memory-aware profiles — every memory access at the cost of the buffer that holds it.
Shipped profiles live in ``energy/profiles/``; pass a path to use your own.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from evsim.errors import ProfileError, SpecError
from evsim.spec.yamlio import read_yaml

PROFILE_DIR = Path(__file__).parent / "profiles"
PROVENANCES = ("measured", "pre-silicon", "modelled")
PRICED_OPS = ("ac", "mac", "neuron_update", "spike_routing")
MEMORY_KEYS = {"word_bits", "access_64bit_pj", "dram_64bit_pj", "weight_reads_per_synaptic_event",
               "potential_accesses_per_synaptic_event", "potential_accesses_per_neuron_update",
               "input_reads_per_event", "output_writes_per_spike", "dataflow", "buffer_bytes", "array_bits"}
ARRAYS = ("weights", "membranes", "activations")
DATAFLOWS = ("no-reuse", "weight-stationary", "output-stationary")


@dataclass
class MemoryModel:
    """Per-access energy by buffer size (Horowitz 45 nm per 64-bit access, scaled to the word)."""
    word_bits: int
    access_64bit_pj: dict          # capacity in bytes → pJ per 64-bit access, ascending
    dram_64bit_pj: float
    weight_reads_per_synaptic_event: float = 1
    potential_accesses_per_synaptic_event: float = 2
    potential_accesses_per_neuron_update: float = 2
    input_reads_per_event: float = 1
    output_writes_per_spike: float = 1
    dataflow: str = "no-reuse"     # see energy/dataflow.py
    buffer_bytes: dict | None = None   # on-chip buffer per array (weights, membranes, activations)
    array_bits: dict | None = None     # word width per array; word_bits where not given

    def array_bytes(self, array: str) -> float:
        """Bytes of one word of an array (weights, membranes, activations)."""
        return (self.array_bits or {}).get(array, self.word_bits) / 8

    def access_pj(self, buffer_bytes: float) -> float:
        """Energy of one word access in a buffer of that size: the smallest SRAM that holds it."""
        for capacity, pj in sorted(self.access_64bit_pj.items()):
            if buffer_bytes <= capacity:
                return pj * self.word_bits / 64
        return self.dram_64bit_pj * self.word_bits / 64

    @property
    def word_bytes(self) -> float:
        return self.word_bits / 8


@dataclass
class Profile:
    name: str
    description: str
    citation: str
    provenance: str
    energy_pj: dict
    memory: MemoryModel | None = None
    path: str = ""

    def header(self) -> str:
        return f"{self.name} ({self.provenance}; {self.citation})"


def available() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def load_profile(name_or_path: str) -> Profile:
    """A shipped profile by name, or a profile YAML file by path."""
    if isinstance(name_or_path, Profile):
        return name_or_path
    if not isinstance(name_or_path, (str, Path)) or not str(name_or_path).strip():
        raise ProfileError(f"a profile is a shipped name or a YAML path, got {name_or_path!r:.60}",
                           fix=f"shipped: {', '.join(available())}")
    path = Path(name_or_path)
    if not path.suffix:
        path = PROFILE_DIR / f"{name_or_path}.yaml"
        if not path.exists():
            raise ProfileError(f"unknown profile '{name_or_path}'", fix=f"shipped: {', '.join(available())}; or give a YAML path")
    try:
        raw = read_yaml(path, "profile")
    except SpecError as err:
        raise ProfileError(err.bare_message, file=err.file, line=err.line, fix=err.fix) from None
    return _parse(raw, str(path))


def _fail(message, path, raw=None, key=None, fix=None):
    line = raw.line_of(key) if raw is not None and hasattr(raw, "line_of") else None
    raise ProfileError(message, file=path, line=line, fix=fix)


def _positive_number(value):
    """Finite and ≥ 0: an infinite price turns every total into inf or nan."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def _parse(raw, path) -> Profile:
    if not isinstance(raw, dict):
        _fail("a profile must be a mapping", path, fix="see energy/profiles/horowitz45-fp32.yaml")
    allowed = {"name", "description", "citation", "provenance", "energy_pj", "memory"}
    for key in raw:
        if key not in allowed:
            _fail(f"unknown key '{key}'", path, raw, key, fix=f"allowed: {', '.join(sorted(allowed))}")
    for key in ("name", "citation", "provenance", "energy_pj"):
        if key not in raw:
            _fail(f"missing '{key}'", path, raw, fix="every profile states its name, citation, provenance and energy_pj")
    if raw["provenance"] not in PROVENANCES:
        _fail(f"provenance '{raw['provenance']}' is not one of {PROVENANCES}", path, raw, "provenance")
    energy = raw["energy_pj"]
    if not isinstance(energy, dict) or not {"ac", "mac"} <= set(energy):
        _fail("'energy_pj' must give at least 'ac' and 'mac' in pJ", path, raw, "energy_pj")
    for op, value in energy.items():
        if op not in PRICED_OPS:
            _fail(f"unknown operation '{op}' in energy_pj", path, energy, op, fix=f"priced operations: {', '.join(PRICED_OPS)}")
        if not _positive_number(value):
            _fail(f"energy of '{op}' must be a non-negative number of pJ, got {value!r}", path, energy, op)
    memory = None
    if raw.get("memory") is not None:
        mem = raw["memory"]
        if not isinstance(mem, dict):
            _fail("'memory' must be a mapping", path, raw, "memory")
        for key in mem:
            if key not in MEMORY_KEYS:
                _fail(f"unknown memory key '{key}'", path, mem, key, fix=f"allowed: {', '.join(sorted(MEMORY_KEYS))}")
        for key in ("word_bits", "access_64bit_pj", "dram_64bit_pj"):
            if key not in mem:
                _fail(f"memory model needs '{key}'", path, mem)
        table = mem["access_64bit_pj"]
        if not isinstance(table, dict) or not table or not all(
                isinstance(k, int) and k > 0 and _positive_number(v) for k, v in table.items()):
            _fail("'access_64bit_pj' must map buffer bytes (int) to pJ per 64-bit access", path, mem, "access_64bit_pj")
        dataflow = mem.get("dataflow", "no-reuse")
        if dataflow not in DATAFLOWS:
            _fail(f"unknown dataflow {dataflow!r}", path, mem, "dataflow", fix=f"choose one of {', '.join(DATAFLOWS)}")
        for key in ("buffer_bytes", "array_bits"):
            table = mem.get(key)
            if table is None:
                continue
            if not isinstance(table, dict) or set(table) - set(ARRAYS) or not all(
                    _positive_number(v) and v > 0 for v in table.values()):
                _fail(f"'{key}' must map {', '.join(ARRAYS)} to positive numbers", path, mem, key)
        if dataflow != "no-reuse" and set(mem.get("buffer_bytes") or {}) != set(ARRAYS):
            _fail(f"dataflow '{dataflow}' needs 'buffer_bytes' for {', '.join(ARRAYS)}", path, mem, "dataflow",
                  fix="give the on-chip buffer of each array in bytes")
        for key, value in mem.items():
            if key not in ("access_64bit_pj", "dataflow", "buffer_bytes", "array_bits") and not _positive_number(value):
                _fail(f"memory '{key}' must be a finite non-negative number, got {value!r}", path, mem, key)
        if isinstance(mem["word_bits"], float) or mem["word_bits"] < 1 or mem["word_bits"] > 1024:
            _fail(f"memory 'word_bits' must be a whole number of bits between 1 and 1024, got {mem['word_bits']!r}", path,
                  mem, "word_bits")
        memory = MemoryModel(**{k: (dict(v) if isinstance(v, dict) else v) for k, v in mem.items()})
    return Profile(str(raw["name"]), str(raw.get("description", "")).strip(), str(raw["citation"]).strip(),
                   raw["provenance"], {k: float(v) for k, v in energy.items()}, memory, path)
