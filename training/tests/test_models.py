"""Reference modules: official key names, shapes and parameter counts (spec §1.2, §3.7, §3.8, §6.1)."""
import torch

from mirrorgan_train.models import (CAPTION_RNN, CA_NET, G_NET, RNN_ENCODER, Backbone, ModelConfig,
                                    count_params, per_sample_word_mask)


def test_generator_birds_config_matches_spec():
    g = G_NET(ModelConfig())
    sd = g.state_dict()
    assert count_params(g) == 7_105_392
    assert len(sd) == 105
    assert sum(1 for k in sd if k.endswith("num_batches_tracked")) == 15
    expected = {
        "ca_net.fc.weight": (400, 256), "h_net1.fc.0.weight": (16384, 200), "h_net1.fc.1.running_var": (16384,),
        "h_net1.upsample1.1.weight": (512, 512, 3, 3), "h_net1.upsample4.2.weight": (64,),
        "img_net3.img.0.weight": (3, 32, 3, 3), "h_net2.att.conv_context.weight": (32, 256, 1, 1),
        "h_net2.att.conv_sentence_vis.weight": (32, 32, 1, 1), "h_net3.att.linear.weight": (32, 100),
        "h_net3.att.linear.bias": (32,), "h_net2.residual.1.block.0.weight": (128, 64, 3, 3),
        "h_net2.residual.0.block.4.running_mean": (64,), "h_net3.residual.1.block.3.weight": (64, 64, 3, 3),
        "h_net3.upsample.1.weight": (64, 64, 3, 3), "h_net2.conv.weight": (64, 96, 1, 1),
    }
    for k, shape in expected.items():
        assert tuple(sd[k].shape) == shape, k


def test_attngan_variant_drops_the_eight_glam_tensors():
    a = G_NET(ModelConfig(glam=False))
    m = G_NET(ModelConfig())
    assert count_params(a) == 7_084_592
    extra = set(m.state_dict()) - set(a.state_dict())
    assert extra == {f"h_net{s}.{k}" for s in (2, 3) for k in
                     ("att.conv_sentence_vis.weight", "att.linear.weight", "att.linear.bias", "conv.weight")}


def test_text_encoder_birds_parameter_count_and_keys():
    enc = RNN_ENCODER(5450)
    assert count_params(enc) == 2_075_320
    assert set(enc.state_dict()) == {"encoder.weight"} | {f"rnn.{p}_l0{s}" for p in
                                     ("weight_ih", "weight_hh", "bias_ih", "bias_hh") for s in ("", "_reverse")}


def test_sentence_is_forward_last_valid_and_backward_first():
    torch.manual_seed(0)
    enc = RNN_ENCODER(50, 20, nhidden=16).eval()
    caps = torch.tensor([[3, 4, 5, 6], [7, 8, 0, 0]])
    lens = torch.tensor([4, 2])
    words, sent = enc(caps, lens)
    assert words.shape == (2, 16, 4)
    assert torch.all(words[1, :, 2:] == 0)  # positions past the length are exactly zero
    for b, n in enumerate(lens.tolist()):
        assert torch.allclose(sent[b, :8], words[b, :8, n - 1])
        assert torch.allclose(sent[b, 8:], words[b, 8:, 0])


def test_ca_net_mean_only_with_zero_eps():
    ca = CA_NET(256, 100)
    s = torch.randn(3, 256)
    c, mu, logvar = ca(s, torch.zeros(3, 100))
    assert torch.equal(c, mu) and logvar.shape == (3, 100)


def test_per_sample_mask_rows_follow_their_sample():
    mask = torch.tensor([[False, True], [False, False]])
    rows = per_sample_word_mask(mask, 3)
    assert rows.tolist() == [[False, True]] * 3 + [[False, False]] * 3


def test_stream_decoder_keys_birds():
    d = CAPTION_RNN(256, 512, 5450)
    shapes = {k: tuple(v.shape) for k, v in d.state_dict().items()}
    assert shapes == {"embed.weight": (5450, 256), "lstm.weight_ih_l0": (2048, 256), "lstm.weight_hh_l0": (2048, 512),
                      "lstm.bias_ih_l0": (2048,), "lstm.bias_hh_l0": (2048,), "linear.weight": (5450, 512),
                      "linear.bias": (5450,)}
    assert count_params(d) == 5_768_010


def test_backbone_feature_shapes_and_tf_same_padding():
    bb = Backbone(pretrained=True).eval()
    with torch.no_grad():
        local, glob = bb(torch.zeros(1, 3, 256, 256))
    assert local.shape == (1, 112, 14, 14) and glob.shape == (1, 1280)
    # Stride-2 3x3 on 224: TF SAME pads one row/column at the bottom/right only.
    assert tuple(bb.net._conv_stem.static_padding.padding) == (0, 1, 0, 1)


def test_damsm_code_heads_keys_shapes_and_model_json_rules():
    import pytest

    from mirrorgan_train.models import CNN_ENCODER

    lin = CNN_ENCODER(32)
    assert set(lin.state_dict()) == {"emb_features.weight", "emb_cnn_code.weight", "emb_cnn_code.bias"}
    assert lin.config() == {}
    conv = CNN_ENCODER(32, code_head="local_conv", width=8).eval()
    keys = set(conv.state_dict())
    assert {"code_conv1.weight", "code_conv1.bias", "code_bn1.running_var", "code_conv2.weight", "code_bn2.weight",
            "code_out.weight", "code_out.bias"} <= keys
    assert conv.code_out.weight.shape == (32, 8 + 32) and conv.config() == {"code_head": "local_conv", "width": 8}
    local, glob = torch.randn(3, 112, 14, 14), torch.randn(3, 1280)
    region, code = conv(local, glob)
    assert region.shape == (3, 32, 14, 14) and code.shape == (3, 32)
    # the code reads the local map (the linear head does not)
    assert not torch.allclose(conv.code(local * 2, glob), code)
    assert torch.equal(lin.code(local * 2, glob), lin.code(local, glob))
    # model.json "image_encoder": the runtime's rules (Sources/MirrorGAN/Models/ModelConfig.swift)
    assert CNN_ENCODER.from_config(32, 112, 1280, None).code_head == "linear"
    assert CNN_ENCODER.from_config(32, 112, 1280, {"code_head": "linear"}).code_head == "linear"
    assert CNN_ENCODER.from_config(32, 112, 1280, {"code_head": "local_conv", "width": 8}).width == 8
    for bad in ({}, {"code_head": "mlp"}, {"code_head": "local_conv"}, {"code_head": "local_conv", "width": 0},
                {"code_head": "local_conv", "width": "8"}, {"code_head": "linear", "width": 8}):
        with pytest.raises(ValueError, match="image_encoder"):
            CNN_ENCODER.from_config(32, 112, 1280, bad)
