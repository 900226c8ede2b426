"""synthetic_trunk.py, the Python twin of the Swift runtime's SyntheticTrunk: the same values bit for bit (the Swift
test SyntheticTrunkTwinTests pins the same numbers), every tensor of the real trunks, activations that stay O(1)."""
import torch

from mirrorgan_train import synthetic_trunk as st
from mirrorgan_train.backbones import InceptionTrunk, ResNetTrunk
from mirrorgan_train.convert_layout import inception_backbone, inception_trunk_shapes, resnet152_backbone, \
    resnet152_trunk_shapes


def test_values_are_pinned_for_the_swift_twin():
    assert st.fnv1a64("layer1.0.bn3.weight") == 0x2EC3C5C9DC4CECE2
    expected = {
        ("conv1.weight", (2, 3)): ["0x1.3c0bb0p-3", "-0x1.099284p+0", "-0x1.70857ap-5", "-0x1.d6532ep-2",
                                   "0x1.67e5fap-2", "0x1.65e15ap-5"],
        ("layer1.0.bn3.weight", (3,)): ["0x1.8c5ba4p-3", "0x1.870cb4p-3", "0x1.d1b320p-3"],
        ("bn1.running_var", (3,)): ["0x1.cf476cp-1", "0x1.93c8ccp-1", "0x1.871510p-1"],
        ("Mixed_5b.branch1x1.bn.bias", (2,)): ["0x1.9fb6bap-5", "-0x1.29df90p-4"],
    }
    for (name, shape), values in expected.items():
        got = st.value(name, shape, 18002).reshape(-1).tolist()
        assert got == [float.fromhex(v) for v in values], name


def test_counter_based_and_covers_the_real_trunks():
    a = st.unit_values("x", 10, 5)
    assert (a[:4] == st.unit_values("x", 4, 5)).all() and not (a == st.unit_values("x", 10, 6)).all()
    assert a.min() >= -1 and a.max() < 1
    inc = InceptionTrunk(inception_backbone(True))
    sd = st.state_dict(inc, 1)
    assert {k: tuple(v.shape) for k, v in sd.items()} == inception_trunk_shapes()
    res = ResNetTrunk(resnet152_backbone(False, False))
    assert {k: tuple(v.shape) for k, v in st.state_dict(res, 2).items()} == resnet152_trunk_shapes()
    inc.load_state_dict(sd)
    with torch.no_grad():
        local, glob = inc.eval()(torch.rand(1, 3, 64, 64) * 2 - 1)
    assert 0.05 < float(glob.std()) < 5 and torch.isfinite(local).all()  # O(1) through the whole trunk
