"""Wrong calls into the Numba kernels raise an EvsimError instead of reading or writing
outside an array (Numba does not check bounds: unchecked, these calls can crash)."""
import numpy as np
import pytest

from evsim.errors import EvsimError
from evsim.kinds import kernels


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


def test_wrong_row_and_attention_calls_are_rejected():
    weight_t = np.ones((4, 3))
    with pytest.raises(EvsimError, match="does not fit"):
        kernels.row_gather(np.array([1], dtype=np.int64), np.ones(1), np.array([0, 1]), weight_t, np.zeros((1, 5)))
    with pytest.raises(EvsimError, match="outside"):
        kernels.row_gather(np.array([99], dtype=np.int64), np.ones(1), np.array([0, 1]), weight_t, np.zeros((1, 3)))
    q = np.ones((4, 6), dtype=np.int64)
    with pytest.raises(EvsimError, match="do not split into 4 heads"):
        kernels.attention_qk_first(q, q, q, 4, np.zeros((4, 6), dtype=np.int64))
    with pytest.raises(EvsimError, match="q has dtype float64"):
        kernels.attention_kv_first(q.astype(float), q, q, 2, np.zeros((4, 6), dtype=np.int64))
    with pytest.raises(EvsimError, match="dimensions"):
        kernels.extract_events(np.zeros((2, 2)))
