"""Property tests (hypothesis) of every reader a user's file reaches: the spec loader, the
weights loader, and the rates and profile readers. Whatever the document — generated
structures, mutations of valid files, raw bytes — the reader either returns or raises an
EvsimError; nothing else escapes. 10,000 documents per run in all (no engine runs here)."""
import io
import json
import os
import struct
import tempfile

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import energy
import evsim
from energy.analytic import analytic_stats, load_rates, propagate_rates
from evsim import EvsimError
from evsim.weights import bind, read_flat

from conftest import SPECS

SETTINGS = dict(deadline=None, suppress_health_check=list(HealthCheck), database=None)
SCALE = float(os.environ.get("EVSIM_PROPERTY_SCALE", "1"))  # < 1 for a quick local pass; CI runs the full count


def examples(count: int) -> int:
    return max(10, int(count * SCALE))
SPEC_KEYS = ["name", "input", "params", "templates", "layers", "output", "extends", "shape", "T", "encoding", "values",
             "kind", "inputs", "input", "use", "repeat", "with", "when", "out_channels", "out_features", "kernel_size",
             "stride", "padding", "groups", "eps", "tau", "v_threshold", "v_reset", "heads", "order", "firing_rate", "bias"]
KINDS = ["conv2d", "linear", "batchnorm", "lif", "if", "cuba_lif", "lca_neuron", "maxpool2d", "add", "tokens", "flatten",
         "attention", "mean_tokens", "mean_time", "nope"]
SMALL_SPEC = evsim.load_spec(SPECS / "every_kind.yaml")
STATS = analytic_stats(SMALL_SPEC, {"default": 0.1})  # priced by every profile that loads
WORK = tempfile.mkdtemp(prefix="evsim-properties-")

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 40), st.integers(-2**70, 2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(KINDS + SPEC_KEYS + ["$in", "input", "block.0"]),
    st.text(max_size=12),
    st.builds(lambda a, op, b: f"${{{a}{op}{b}}}", st.sampled_from(["D", "C", "9", "2.5", "x", "'a'", "D**9"]),
              st.sampled_from(["*", "**", "/", "//", "%", "+", "-", " "]), st.sampled_from(["D", "0", "64", "99", "C", "-1"])),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.one_of(st.sampled_from(SPEC_KEYS), st.text(max_size=6)), inner, max_size=5)), max_leaves=20)


small_values = st.one_of(scalars, st.lists(scalars, max_size=3))  # layer options: cheap to draw
layer_entries = st.fixed_dictionaries(
    {"name": st.one_of(st.sampled_from(["a", "b", "c", "d"]), small_values),
     "kind": st.one_of(st.sampled_from(KINDS), small_values)},
    optional={k: small_values for k in ["out_channels", "out_features", "kernel_size", "stride", "padding", "eps", "tau",
                                        "v_threshold", "heads", "inputs", "input", "firing_rate", "groups", "order", "when"]})


spec_documents = st.fixed_dictionaries(
    {"input": st.one_of(st.fixed_dictionaries({"shape": st.one_of(st.lists(st.integers(1, 6), min_size=1, max_size=3), small_values),
                                               "T": st.one_of(st.integers(1, 4), small_values)},
                                              optional={"encoding": st.sampled_from(["direct", "frames", "x"]),
                                                        "values": st.sampled_from(["analog", "binary", "integer", "y"])}),
                        small_values),
     "layers": st.one_of(st.lists(st.one_of(layer_entries, st.fixed_dictionaries(
         {"use": small_values}, optional={"name": small_values, "repeat": small_values, "with": values})), min_size=1, max_size=5),
         small_values)},
    optional={"params": st.dictionaries(st.sampled_from(["D", "C", "x", "n"]), small_values, max_size=4),
              "templates": st.dictionaries(st.sampled_from(["t", "u"]), st.lists(layer_entries, max_size=3), max_size=2),
              "output": small_values, "name": small_values, "extends": st.sampled_from(["missing.yaml", "base.yaml", "spec.yaml"])})


with open(os.path.join(WORK, "base.yaml"), "w") as _base:  # what generated specs extend (the shipped bases are slow to read)
    _base.write("input: {shape: [2, 4, 4], T: 2}\nparams: {D: 4, C: 2}\n"
                "layers: [{name: a, kind: conv2d, out_channels: '${C}'}, {name: b, kind: lif}]\n")


def dump(document) -> bytes:
    try:
        return yaml.safe_dump(document, default_flow_style=True, allow_unicode=True).encode("utf-8")
    except (yaml.YAMLError, ValueError, RecursionError):
        return b"{}"


# YAML syntax fragments: aliases, anchors, tags, flow and block markers, odd bytes.
fragments = st.lists(st.sampled_from(["{", "}", "[", "]", ": ", ", ", "\n", "  ", "- ", "&a ", "*a", "!!binary ", "!!python/object ",
                                      "<<: *a", "? ", "'", '"', "#", "${", "}", "layers", "input", "kind: lif", "name: x",
                                      "shape: [3]", "T: 2", "\t", "\x00", "\xff", "%YAML 1.1\n", "---\n", "...\n", "|\n", ">\n"]),
                     max_size=30).map(lambda parts: "".join(parts).encode("utf-8", "surrogateescape"))
raw_bytes = st.binary(max_size=200)


def write_file(name, data: bytes) -> str:
    path = os.path.join(WORK, name)
    with open(path, "wb") as handle:
        handle.write(data)
    return path


def only_evsim_errors(function, *args):
    try:
        function(*args)
    except EvsimError as err:
        assert "\n" not in str(err), str(err)


@settings(max_examples=examples(1200), **SETTINGS)
@given(spec_documents.map(dump))
def test_spec_loader_generated_documents(document):
    only_evsim_errors(evsim.load_spec, write_file("spec.yaml", document))


HOSTILE = [None, True, -1, 0, 2**70, 1e308, float("nan"), float("-inf"), "", "x", "${D**64}", "${'a'*9}", [], {}, [1, [2]],
           {"a": {"b": 1}}, "$in", "input", "block.0", 0.5, 10**9, "${1/0}", "${D}", "qk_first"]
BASE_SPEC = yaml.safe_load((SPECS / "every_kind.yaml").read_text())


def mutate(document, rng, mutations):
    """Change ``mutations`` random places of a valid spec: a value made hostile, a key dropped
    or renamed, a list entry duplicated or removed."""
    for _ in range(mutations):
        parent, key = document, None
        path = []
        node = document
        while isinstance(node, (dict, list)) and node and rng.random() < 0.8:
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            key = rng.choice(keys)
            parent, node = node, node[key]
            path.append(key)
        if key is None:
            continue
        action = rng.randrange(4)
        if action == 0:
            parent[key] = rng.choice(HOSTILE)
        elif action == 1 and isinstance(parent, dict):
            del parent[key]
        elif action == 2 and isinstance(parent, dict):
            parent[rng.choice(SPEC_KEYS)] = parent.pop(key)
        elif isinstance(parent, list):
            parent.insert(rng.randrange(len(parent) + 1), json.loads(json.dumps(parent[key], default=str)))
    return document


@settings(max_examples=examples(500), **SETTINGS)
@given(st.integers(0, 2**32), st.integers(1, 4))
def test_spec_loader_mutated_specs(seed, mutations):
    import random
    document = mutate(json.loads(json.dumps(BASE_SPEC)), random.Random(seed), mutations)
    only_evsim_errors(evsim.load_spec, write_file("mutated.yaml", dump(document)))


@settings(max_examples=examples(1500), **SETTINGS)
@given(st.one_of(fragments, raw_bytes, values.map(dump)))
def test_spec_loader_raw_text(document):
    only_evsim_errors(evsim.load_spec, write_file("raw.yaml", document))


FLAT = {k: np.zeros(s) for k, s in ((f"{l}.{p}", s) for l, ps in SMALL_SPEC.parameter_shapes().items() for p, s in ps.items())}
def _array(shape, dtype, fill):
    with np.errstate(all="ignore"):
        return np.full(shape, fill).astype(dtype, casting="unsafe")


arrays = st.builds(_array,
                   st.lists(st.integers(0, 4), max_size=3).map(tuple),
                   st.sampled_from(["f8", "f4", "f2", "i8", "u1", "?", "c16", "S3", "U2"]),
                   st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5)))


def npz_bytes(entries) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **entries)
    return buffer.getvalue()


def safetensors_bytes(header, payload: bytes) -> bytes:
    text = json.dumps(header).encode() if not isinstance(header, bytes) else header
    return struct.pack("<Q", len(text)) + text + payload


weight_sets = st.one_of(
    st.dictionaries(st.sampled_from(list(FLAT) + ["x.weight", "conv_a", ""]), arrays, max_size=4),
    st.builds(lambda drop, change, value: {**{k: v for i, (k, v) in enumerate(FLAT.items()) if i != drop},
                                           **({list(FLAT)[change]: value})},
              st.integers(0, len(FLAT)), st.integers(0, len(FLAT) - 1), arrays))
headers = st.one_of(st.dictionaries(st.text(max_size=8), st.fixed_dictionaries(
    {"dtype": st.sampled_from(["F64", "F32", "I8", "BOOL", "X"]), "shape": st.lists(st.integers(-2, 2**40), max_size=3),
     "data_offsets": st.lists(st.integers(-1, 2**40), max_size=3)}), max_size=3), st.binary(max_size=40), values)


def truncate(data: bytes, cut) -> bytes:
    return data[:cut] if cut is not None else data


weight_files = st.one_of(
    st.tuples(st.just("w.npz"), st.builds(truncate, weight_sets.map(npz_bytes), st.one_of(st.none(), st.integers(0, 400)))),
    st.tuples(st.just("w.safetensors"), st.builds(safetensors_bytes, headers, st.binary(max_size=64))),
    st.tuples(st.sampled_from(["w.npz", "w.safetensors", "w.pth", "w"]), raw_bytes))


@settings(max_examples=examples(1800), **SETTINGS)
@given(weight_files)
def test_weights_loader(named):
    name, data = named
    path = write_file(name, data)
    only_evsim_errors(lambda: bind(SMALL_SPEC, read_flat(path, SMALL_SPEC), path))


@settings(max_examples=examples(800), **SETTINGS)
@given(weight_sets)
def test_weights_given_in_python(flat):
    only_evsim_errors(lambda: evsim.load(SMALL_SPEC, {k: v for k, v in flat.items()}))


LAYERS = list(SMALL_SPEC.layers) + ["input", "default", "nope"]
rates_values = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-2, 3), values,
                         st.fixed_dictionaries({"events": values}, optional={"spikes": values}),
                         st.fixed_dictionaries({"events": st.floats(0, 1)}, optional={"spikes": st.floats(0, 3)}))
rates_documents = st.one_of(
    st.fixed_dictionaries({}, optional={"default": rates_values,
                                        "layers": st.one_of(st.dictionaries(st.sampled_from(LAYERS), rates_values, max_size=4),
                                                            values)}),
    st.dictionaries(st.sampled_from(LAYERS), rates_values, max_size=4), values)


@settings(max_examples=examples(1400), **SETTINGS)
@given(st.one_of(rates_documents.map(dump), fragments))
def test_rates_reader(document):
    only_evsim_errors(lambda: propagate_rates(SMALL_SPEC, load_rates(write_file("rates.yaml", document))))


@settings(max_examples=examples(1200), **SETTINGS)
@given(st.dictionaries(st.sampled_from(LAYERS), rates_values, max_size=4))
def test_rates_given_in_python(rates):
    only_evsim_errors(propagate_rates, SMALL_SPEC, rates)


PROFILE = yaml.safe_load(open(os.path.join(os.path.dirname(energy.__file__), "profiles", "lemaire-memory-fp32.yaml")))
prices = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-3, 2**70), values)
profile_documents = st.one_of(
    st.builds(lambda section, key, value: _replace(section, key, value),
              st.sampled_from(["top", "energy_pj", "memory"]),
              st.sampled_from(["name", "citation", "provenance", "ac", "mac", "neuron_update", "word_bits", "access_64bit_pj",
                               "dram_64bit_pj", "input_reads_per_event", "extra"]), prices),
    st.fixed_dictionaries({}, optional={"name": values, "citation": values, "provenance": values,
                                        "energy_pj": st.dictionaries(st.sampled_from(["ac", "mac", "spike_routing", "x"]), prices),
                                        "memory": values}))


def _replace(section, key, value):
    document = json.loads(json.dumps(PROFILE, default=str))
    target = document if section == "top" else document[section]
    target[key] = value
    return document


@settings(max_examples=examples(1600), **SETTINGS)
@given(st.one_of(profile_documents.map(dump), fragments))
def test_profile_reader(document):
    path = write_file("profile.yaml", document)
    try:
        profile = energy.load_profile(path)
    except EvsimError:
        return
    only_evsim_errors(energy.estimate, STATS, profile)


def test_the_property_runs_add_up_to_ten_thousand_documents():
    counts = [1200, 500, 1500, 1800, 800, 1400, 1200, 1600]
    assert sum(counts) >= 10_000 and (SCALE >= 1 or os.environ.get("EVSIM_PROPERTY_SCALE"))
    for test, count in zip([test_spec_loader_generated_documents, test_spec_loader_mutated_specs, test_spec_loader_raw_text, test_weights_loader,
                            test_weights_given_in_python, test_rates_reader, test_rates_given_in_python, test_profile_reader],
                           counts):
        assert test._hypothesis_internal_use_settings.max_examples == examples(count)


@pytest.fixture(scope="module", autouse=True)
def _clean_work_folder():
    yield
    import shutil
    shutil.rmtree(WORK, ignore_errors=True)
