"""Wrong calls into the Numba kernels raise an EvsimError instead of reading or writing
outside an array (Numba does not check bounds: unchecked, these calls can crash)."""
import numpy as np
import pytest

from evsim.errors import EvsimError
from evsim.kinds import attention_bits, kernels

import reference


def conv_call(**change):
    x = np.zeros((2, 3, 3))   # [C, H, W]
    x[1, 2, 2] = 1.0
    index, values = kernels.extract_events(np.ascontiguousarray(x.transpose(1, 2, 0)).reshape(-1))
    args = dict(ev_index=index, ev_val=values, position_start=np.searchsorted(index // 2, np.arange(10)), c_in=2, in_h=3,
                in_w=3, weight_t=np.ones((2, 3, 3, 4)), out=np.zeros((3, 3, 4)), stride_h=1, stride_w=1, pad_h=1, pad_w=1,
                dil_h=1, dil_w=1, c_per_group=2, o_per_group=4)
    args.update(change)
    kernels.conv_gather(**args)
    return args["out"]


def test_a_correct_call_works():
    out = conv_call()
    assert out.sum() == 4 * 4   # the corner input reaches 4 output positions × 4 channels


@pytest.mark.parametrize("change,message", [
    ({"weight_t": np.ones((3, 3, 3, 4))}, "do not fit"),
    ({"out": np.zeros((3, 3, 4), dtype=np.float32)}, "differ in dtype"),
    ({"ev_index": np.array([0, 10_000], dtype=np.int64), "ev_val": np.ones(2)}, "outside"),
    ({"ev_index": np.array([0], dtype=np.int32), "ev_val": np.ones(1)}, "int64"),
    ({"position_start": np.zeros(4, dtype=np.int64)}, "one start per input position"),
    ({"out": np.zeros((3, 3, 4))[:, :, ::2].copy()[:, :, :2].T}, "accumulator"),
    ({"stride_h": 0}, "bad geometry"),
])
def test_wrong_conv_calls_are_rejected(change, message):
    with pytest.raises(EvsimError, match=message):
        conv_call(**change)


def test_wrong_event_extraction_is_rejected():
    with pytest.raises(EvsimError, match="dimensions"):
        kernels.extract_events(np.zeros((2, 2)))


# -- the register-blocked scatters and counting while extracting --------------------------

def reference_rows(index, values, starts, weight_t, d_in):
    """out[r, o] summed event by event in ascending order, in the weights' dtype (the kernels' order)."""
    kind = weight_t.dtype.type
    out = np.zeros((starts.size - 1, weight_t.shape[1]), dtype=weight_t.dtype)
    for r in range(starts.size - 1):
        for o in range(weight_t.shape[1]):
            acc = kind(0)
            for e in range(starts[r], starts[r + 1]):
                acc = kind(acc + kind(values[e]) * weight_t[index[e] % d_in, o])
            out[r, o] = acc
    return out


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize("d_out", [64 + 9, 48, 64 + 32 + 5, 7])   # 64-wide tiles, 16-wide tiles, the rest one by one
def test_blocked_rows_sum_each_output_in_event_order(dtype, binary, d_out):
    rng = np.random.default_rng(3)
    d_in, rows = 7, 37   # two blocks of 32 rows
    x = (rng.random((rows, d_in)) < 0.5) * (1 if binary else rng.integers(1, 4, (rows, d_in)) * 0.75)
    x = x.astype(dtype)
    weight_t = rng.standard_normal((d_in, d_out)).astype(dtype)
    fan = np.full(x.size, d_out, dtype=np.int64)
    index, values, starts, _ = kernels.counted_events(x.reshape(1, -1), d_in, fan, fan)
    out = np.full((rows, d_out), np.nan, dtype=dtype)   # overwritten, not added to
    kernels.blocked_rows(index, values, starts, weight_t, out, binary)
    assert np.array_equal(out, reference_rows(index, values, starts, weight_t, d_in))
    assert np.allclose(out, x.astype(np.float64) @ weight_t.astype(np.float64), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize("geometry", [(1, 1, 1, 1, 1, 1), (2, 1, 0, 2, 1, 2)])  # stride h/w, pad h/w, dilation h/w
@pytest.mark.parametrize("d_out", [70, 48, 64 + 16 + 3])   # 64-wide tiles, 16-wide tiles, the rest one by one
def test_blocked_conv_equals_the_grouped_kernel_step_by_step(binary, geometry, d_out):
    """Two steps at once through the blocked kernel = the plain kernel (an independent loop
    nest, one step per call) bit for bit, on a non-square input."""
    rng = np.random.default_rng(5)
    steps, c_in, in_h, in_w = 2, 3, 5, 4
    x = (rng.random((steps, in_h, in_w, c_in)) < 0.4) * (1.0 if binary else rng.integers(1, 3, (steps, in_h, in_w, c_in)))
    x = x.astype(np.float64)
    weight_t = rng.standard_normal((c_in, 3, 3, d_out))
    sh, sw, ph, pw, dh, dw = geometry
    out_h = (in_h + 2 * ph - dh * 2 - 1) // sh + 1
    out_w = (in_w + 2 * pw - dw * 2 - 1) // sw + 1
    ones = np.ones(in_h * in_w * c_in, dtype=np.int64)
    index, values, starts, _ = kernels.counted_events(x.reshape(steps, -1), c_in, ones, ones)
    out = np.full((steps, out_h, out_w, d_out), np.nan)
    kernels.blocked_conv(index, values, starts, c_in, in_h, in_w, weight_t, out, *geometry, binary)
    for s in range(steps):
        step_index, step_values = kernels.extract_events(x[s].reshape(-1))
        plain = np.zeros((out_h, out_w, d_out))
        kernels.conv_gather(step_index, step_values, np.searchsorted(step_index // c_in, np.arange(in_h * in_w + 1)),
                            c_in, in_h, in_w, weight_t, plain, *geometry, c_in, d_out)
        assert np.array_equal(out[s], plain)


def test_counted_events_count_what_a_brute_force_count_gives():
    rng = np.random.default_rng(8)
    x = np.where(rng.random((3, 24)) < 0.3, rng.integers(1, 5, (3, 24)), 0).astype(np.float64)
    fan, fan_nonzero = rng.integers(0, 9, 24), rng.integers(0, 4, 24)
    index, values, starts, counts = kernels.counted_events(x, 6, fan, fan_nonzero)
    flat = x.reshape(-1)
    assert np.array_equal(index, np.flatnonzero(flat)) and np.array_equal(values, flat[index])
    assert np.array_equal(starts, np.searchsorted(index // 6, np.arange(3 * 4 + 1)))
    expected = np.stack([(x != 0) @ fan, x @ fan, (x != 0) @ fan_nonzero], axis=1)
    assert np.array_equal(counts, expected)


def test_generated_kernels_are_what_the_generator_writes():
    from evsim.kinds import blocked_source
    assert blocked_source.TARGET.read_text() == blocked_source.source(), \
        "evsim/kinds/blocked_kernels.py is stale: run python -m evsim.kinds.blocked_source"


def test_wrong_blocked_and_counting_calls_are_rejected():
    weight_t = np.ones((4, 3))
    one = np.array([1], dtype=np.int64)
    with pytest.raises(EvsimError, match="does not fit"):
        kernels.blocked_rows(one, np.ones(1), np.array([0, 1]), weight_t, np.zeros((1, 5)), True)
    with pytest.raises(EvsimError, match="outside"):
        kernels.blocked_rows(np.array([99], dtype=np.int64), np.ones(1), np.array([0, 1]), weight_t, np.zeros((1, 3)), True)
    with pytest.raises(EvsimError, match="one start per input position of each step"):
        kernels.blocked_conv(one, np.ones(1), np.zeros(5, dtype=np.int64), 2, 2, 2, np.ones((2, 1, 1, 3)),
                             np.zeros((2, 2, 2, 3)), 1, 1, 0, 0, 1, 1, True)
    with pytest.raises(EvsimError, match="groups of 5"):
        kernels.counted_events(np.zeros((2, 12)), 5, np.zeros(12, dtype=np.int64), np.zeros(12, dtype=np.int64))
    with pytest.raises(EvsimError, match="fan must be int64"):
        kernels.counted_events(np.zeros((2, 12)), 6, np.zeros(12, dtype=np.int32), np.zeros(12, dtype=np.int64))


# -- bit-packed attention -------------------------------------------------------------------

def attention_counts_by_hand(q, k, v, order):
    """One step, one head: the four counts from the integer products (NumPy, dense)."""
    d = q.shape[1]
    if order == "qk_first":
        scores, v_nnz = q @ k.T, v.sum(axis=1)
        return [scores.sum(), (scores != 0).sum() * d, ((scores != 0) * v_nnz).sum(), (scores * v_nnz).sum()]
    kv = k.T @ v
    additions = (q * (kv != 0).sum(axis=1)).sum()
    return [kv.sum(), q.sum() * d, additions, additions]


@pytest.mark.parametrize("n_tokens,width,heads", [(5, 8, 1), (64, 384, 12), (65, 130, 2), (130, 70, 1), (3, 200, 1)])
@pytest.mark.parametrize("order", ["qk_first", "kv_first"])
def test_bit_packed_attention_is_the_integer_product(n_tokens, width, heads, order):
    """Across word boundaries (65, 130 tokens; 65, 70, 200 features), at every density (0.9
    makes scores reach d: every bit plane in use), in both associations and three dtypes:
    the values are scale · Q Kᵀ V exactly, the counts those of the declared order (done event by event)."""
    rng = np.random.default_rng(n_tokens * width)
    d = width // heads
    for rate in (0.0, 0.04, 0.3, 0.9):
        spikes = [(rng.random((2, n_tokens, width)) < rate).astype(np.int64) for _ in range(3)]
        expected = np.zeros((2, n_tokens, width), dtype=np.int64)
        counts = np.zeros((2, 4), dtype=np.int64)
        for s in range(2):
            for h in range(heads):
                q, k, v = (a[s][:, h * d:(h + 1) * d] for a in spikes)
                expected[s][:, h * d:(h + 1) * d] = q @ k.T @ v
                counts[s] += attention_counts_by_hand(q, k, v, order)
        for dtype in (np.float64, np.float32, np.int64):
            for association in ("cheaper", "qk", "kv"):
                out = np.full((2, n_tokens, width), -1, dtype=np.float64 if dtype == np.int64 else dtype)
                got = attention_bits.attention_bits(*(a.astype(dtype) for a in spikes), heads, order, 0.3, out,
                                                    association)
                assert np.array_equal(out, (expected * 0.3).astype(out.dtype)), (rate, dtype, association)
                assert np.array_equal(got, counts), (rate, dtype, association)
            only = attention_bits.attention_counts(*(a.astype(dtype) for a in spikes), heads, order)
            assert np.array_equal(only, counts), (rate, dtype)


def test_wrong_bit_packed_attention_calls_are_rejected():
    x = np.zeros((1, 4, 6))
    with pytest.raises(EvsimError, match="do not split into 4 heads"):
        attention_bits.attention_bits(x, x, x, 4, "qk_first", 1.0, x.copy())
    with pytest.raises(EvsimError, match="differ in shape"):
        attention_bits.attention_bits(x, x, x[:, :3], 1, "qk_first", 1.0, x.copy())
    with pytest.raises(EvsimError, match="unknown association"):
        attention_bits.attention_bits(x, x, x, 1, "qk_first", 1.0, x.copy(), "both")
    with pytest.raises(EvsimError, match="unknown order"):
        attention_bits.attention_bits(x, x, x, 1, "vq_first", 1.0, x.copy())


@pytest.mark.parametrize("geometry", [((3, 3), (2, 2), (1, 1)), ((2, 3), (1, 2), (1, 1)), ((3, 2), (3, 1), (0, 1)),
                                      ((1, 1), (1, 1), (0, 0))])
def test_max_pool_is_the_window_maximum(geometry):
    """Every step and channel in one call, integer spike counts 0–3 and analog values of both
    signs (where −∞ padding matters), odd sizes, a stride as large as the kernel: the PyTorch
    window maximum, whatever the output held before."""
    kernel, stride, padding = geometry
    rng = np.random.default_rng(sum(kernel) + 7 * sum(stride))
    spikes = rng.integers(0, 4, (3, 5, 7, 9)) * (rng.random((3, 5, 7, 9)) < 0.3)
    for x in (spikes, rng.normal(-1, 1, (3, 5, 7, 9))):
        expected = np.stack([reference.maxpool(frame, kernel, stride, padding) for frame in x])
        for dtype in (np.float64, np.float32):
            out = np.full(expected.shape, 9.0, dtype=dtype)
            kernels.max_pool(x.astype(dtype), out, *kernel, *stride, *padding)
            assert np.array_equal(out, expected.astype(dtype))


def test_wrong_max_pool_calls_are_rejected():
    x = np.zeros((1, 2, 5, 5))
    with pytest.raises(EvsimError, match="bad geometry"):
        kernels.max_pool(x, np.zeros((1, 2, 3, 3)), 2, 2, 2, 2, 2, 0)   # padding over half the kernel
    with pytest.raises(EvsimError, match="does not fit"):
        kernels.max_pool(x, np.zeros((1, 2, 3, 3)), 3, 3, 2, 2, 0, 0)   # 5 → 2, not 3
    with pytest.raises(EvsimError, match="differ"):
        kernels.max_pool(x, np.zeros((1, 2, 3, 3), dtype=np.float32), 3, 3, 2, 2, 1, 1)
