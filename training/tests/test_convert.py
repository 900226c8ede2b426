"""The converter (mirrorgan_train.convert) on official-layout files with random weights (tests/official_layout.py):
tensors carried over under the key mapping, this project's modules loaded from the converted directory give the
official modules' outputs. Malformed inputs: test_convert_errors.py; the inputs both write: convert_inputs.py."""
from __future__ import annotations

import hashlib
import json
import math
import os
import pickletools

import torch
import torchvision
from safetensors.torch import load_file

from mirrorgan_train.pipeline import ReferenceModel
from mirrorgan_train.rng import candidate_indices
from mirrorgan_train.models import CAPTION_CNN, CAPTION_RNN, CNN_ENCODER, G_NET, RNN_ENCODER, ModelConfig

import official_layout as O
from convert_inputs import WORDS, argv, assert_nothing_written, expect_error, run, tiny_cfg, write_inputs


# --------------------------------------------------------------------------------------------------
# Round trips and parity
# --------------------------------------------------------------------------------------------------
def words_and_mask(te, ids, lens):
    with torch.no_grad():
        words, sent = te(ids, lens)
    return words, sent, ids[:, :words.size(2)] == 0


def test_py2_pickle_really_is_python2_style(tmp_path):
    O.write_py2_pickle(O.captions_pickle(WORDS, 2, 2), tmp_path / "c.pickle")
    data = (tmp_path / "c.pickle").read_bytes()
    ops = {op.name for op, _, _ in pickletools.genops(data)}
    assert data[:2] == b"\x80\x02" and "SHORT_BINSTRING" in ops and "BINUNICODE" not in ops


def test_mirrorgan_files_convert_and_match(tmp_path, image_encoder_file):
    ie_path, ie = image_encoder_file
    paths, mods = write_inputs(tmp_path)
    out = tmp_path / "converted"
    assert run(argv(paths, ie_path, out)) == "MirrorGAN (GLAM)"
    cfg = tiny_cfg(glam=True)
    meta = json.load(open(out / "model.json"))
    assert meta["generator"] == {"ngf": 4, "z_dim": 100, "condition_dim": 100, "r_num": 2, "branch_num": 3,
                                 "base_size": 64, "glam": True}
    assert meta["text_encoder"] == {"n_words": 40, "embedding_dim": 300, "hidden_dim": 16, "words_num": 10}
    assert meta["backbone"]["name"] == "inception_v3" and meta["backbone"]["local_layer"] == "Mixed_6e"
    assert meta["backbone"]["input_size"] == 299 and meta["backbone"]["align_corners"] is True
    assert meta["stream"] is None and "stream_backbone" not in meta
    assert sorted(os.listdir(out)) == ["MANIFEST", "backbone.safetensors", "caption_bank.json", "generator.safetensors",
                                       "image_encoder.safetensors", "model.json", "text_encoder.safetensors",
                                       "vocab.json"]
    for line in open(out / "MANIFEST").read().split("\n")[:-1]:
        digest, name = line.split("  ")
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
    assert json.load(open(out / "vocab.json"))["ixtoword"] == ["<end>"] + WORDS
    bank = json.load(open(out / "caption_bank.json"))
    assert bank["captions"] == mods["captions"][1] and bank["class_ids"] == [j // 2 for j in range(12)]

    # Tensors carried over unchanged under the key mapping.
    gsd, tsd = load_file(str(out / "generator.safetensors")), load_file(str(out / "text_encoder.safetensors"))
    official_g = {k: v for k, v in mods["generator"].state_dict().items() if "num_batches" not in k}
    assert gsd.keys() == official_g.keys() and all(torch.equal(gsd[k], official_g[k]) for k in gsd)
    assert all(torch.equal(tsd[k], v) for k, v in mods["text_encoder"].state_dict().items()) and len(tsd) == 9
    trunk, heads = load_file(str(out / "backbone.safetensors")), load_file(str(out / "image_encoder.safetensors"))
    official_ie = {k: v for k, v in ie.state_dict().items() if "num_batches" not in k}
    assert len(trunk) + len(heads) == len(official_ie) == 473
    assert all(torch.equal(v, official_ie[k]) for k, v in {**trunk, **heads}.items())
    inception = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False)
    missing, unexpected = inception.load_state_dict(trunk, strict=False)
    assert sorted(missing) == ["fc.bias", "fc.weight"] and unexpected == []

    # This project's modules loaded from the directory give the official modules' outputs.
    te = RNN_ENCODER(cfg.n_words, cfg.embedding_dim, nhidden=cfg.nef).eval()
    te.load_state_dict(tsd)
    g = G_NET(cfg).eval()
    g.load_state_dict(gsd)
    ids = torch.tensor([[5, 9, 2, 7, 11, 3], [4, 8, 1, 6, 2, 0]])  # sorted longest first; the second one padded
    lens = torch.tensor([6, 5])
    w0, s0, mask = words_and_mask(mods["text_encoder"], ids, lens)
    w1, s1, _ = words_and_mask(te, ids, lens)
    assert torch.allclose(w0, w1, atol=1e-5) and torch.allclose(s0, s1, atol=1e-5)
    for b in (0, 1):  # batch 1: the official mask tiling is only right for one caption (pitfall 7)
        z, eps = torch.randn(1, 100), torch.randn(1, 100)
        with torch.no_grad():
            n = int(lens[b])
            imgs0, maps0, mu0, _ = mods["generator"](z, s0[b:b + 1], w0[b:b + 1, :, :n], mask[b:b + 1, :n], eps)
            imgs1, maps1, mu1, _, _ = g(z, s1[b:b + 1], w1[b:b + 1, :, :n], mask[b:b + 1, :n], eps)
        assert [i.shape[-1] for i in imgs1] == [64, 128, 256]
        for a, c in zip(imgs0 + maps0 + [mu0], imgs1 + maps1 + [mu1]):
            assert torch.allclose(a, c, atol=1e-5), (a - c).abs().max()
    heads_net = CNN_ENCODER(cfg.nef, local_channels=768, global_channels=2048).eval()
    heads_net.load_state_dict(heads)
    local, glob = torch.randn(2, 768, 17, 17), torch.randn(2, 2048)
    with torch.no_grad():
        for a, c in zip(ie.heads(local, glob), heads_net(local, glob)):
            assert torch.allclose(a, c, atol=1e-5)
    assert_nothing_written(tmp_path / "not-there")  # and no staging directory beside the output

    # The reference pipeline serves the converted directory: the DAMSM image code through the Inception-v3 trunk
    # equals the official CNN_ENCODER's, and a request's R-precision rank is the one the official modules give.
    ref = ReferenceModel(str(out))
    assert ref.stream_decoder is None and ref.redescribe(torch.zeros(3, 64, 64)) == ([], [])
    text = " ".join(WORDS[i] for i in (4, 8, 1, 6, 2))
    r = ref.generate(text, seed=3)
    got = r["images"][0]
    img = got["images"][-1].unsqueeze(0)
    with torch.no_grad():
        region, code = ie(img)
        local, glob = ref.backbone(img)
        region1, code1 = ref.image_encoder(local, glob)
        assert torch.allclose(code, code1, rtol=1e-4, atol=1e-5 * code.abs().max().item())
        assert torch.allclose(region, region1, rtol=1e-4, atol=1e-5 * region.abs().max().item())
        sims = []
        for c in [r["ids"]] + [ref.bank[j] for j in candidate_indices(got["seed"], ref.bank, r["ids"], 99)]:
            sent = mods["text_encoder"](torch.tensor([c]), torch.tensor([len(c)]))[1][0]
            sims.append(torch.nn.functional.cosine_similarity(code[0], sent, dim=0).item())
    assert got["rank"] == 1 + sum(x > sims[0] for x in sims[1:]) and got["redescription"] == ""


def test_attngan_generator_detected(tmp_path, image_encoder_file):
    paths, mods = write_inputs(tmp_path, glam=False)
    pre041 = {k: v for k, v in mods["generator"].state_dict().items() if "num_batches_tracked" not in k}
    O.save_legacy(pre041, paths["generator"])  # as PyTorch < 0.4.1 saved it: no BN counters
    out = tmp_path / "attngan"
    assert run(argv(paths, image_encoder_file[0], out, "--name", "attngan-birds")) == "AttnGAN"
    meta = json.load(open(out / "model.json"))
    assert meta["generator"]["glam"] is False and meta["name"] == "attngan-birds"
    g = G_NET(tiny_cfg(glam=False)).eval()
    g.load_state_dict(load_file(str(out / "generator.safetensors")))  # strict: no GLAM keys expected or present
    z, eps, sent, words = torch.randn(1, 100), torch.randn(1, 100), torch.randn(1, 16), torch.randn(1, 16, 5)
    mask = torch.zeros(1, 5, dtype=torch.bool)
    with torch.no_grad():
        a = mods["generator"](z, sent, words, mask, eps)[0][-1]
        b = g(z, sent, words, mask, eps)[0][-1]
    assert torch.allclose(a, b, atol=1e-5)


def test_ema_checkpoint_dataparallel_prefix_and_counters(tmp_path, image_encoder_file):
    paths, mods = write_inputs(tmp_path)
    raw = mods["generator"].state_dict()
    assert any(k.endswith("num_batches_tracked") for k in raw)
    ema = [p.detach() + 1.0 for p in mods["generator"].parameters()]  # parameters() order
    torch.save({"netG": {f"module.{k}": v for k, v in raw.items()}, "avg_param_G": ema, "epoch": 600},
               paths["generator"])
    run(argv(paths, image_encoder_file[0], tmp_path / "ema"))
    run(argv(paths, image_encoder_file[0], tmp_path / "raw", "--g-params", "raw"))
    got_ema = load_file(str(tmp_path / "ema" / "generator.safetensors"))
    got_raw = load_file(str(tmp_path / "raw" / "generator.safetensors"))
    names = [n for n, _ in mods["generator"].named_parameters()]
    assert all(torch.equal(got_ema[n], e) for n, e in zip(names, ema))
    assert torch.equal(got_ema["h_net1.fc.1.running_mean"], raw["h_net1.fc.1.running_mean"])  # buffers: current
    assert all(torch.equal(got_raw[n], raw[n]) for n in names)
    assert not any("num_batches_tracked" in k or k.startswith("module.") for k in got_ema)


def test_stream_resnet152_converts_and_matches(tmp_path, image_encoder_file):
    paths, mods = write_inputs(tmp_path)
    cnn = O.randomise(O.CAPTION_CNN(embed_size=8), 7)
    rnn = O.randomise(O.CAPTION_RNN(8, 16, len(WORDS) + 1), 8)
    O.save_legacy(cnn.state_dict(), tmp_path / "cnn_encoder.ckpt")
    torch.save(rnn.state_dict(), tmp_path / "rnn_decoder.ckpt")
    out = tmp_path / "with_stream"
    run(argv(paths, image_encoder_file[0], out, "--stream-encoder", str(tmp_path / "cnn_encoder.ckpt"),
             "--stream-decoder", str(tmp_path / "rnn_decoder.ckpt")))
    meta = json.load(open(out / "model.json"))
    assert meta["stream"] == {"embed_size": 8, "hidden_size": 16, "max_seq_length": 20, "end_token": False}
    assert meta["stream_backbone"]["name"] == "resnet152" and meta["stream_backbone"]["input_size"] == 224
    trunk = load_file(str(out / "stream_backbone.safetensors"))
    resnet = torchvision.models.resnet152(weights=None).eval()
    missing, unexpected = resnet.load_state_dict(trunk, strict=False)
    assert sorted(missing) == ["fc.bias", "fc.weight"] and unexpected == []
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        feat = torch.flatten(torch.nn.Sequential(*list(resnet.children())[:-1])(x), 1)
        assert torch.allclose(feat, cnn.resnet(x).flatten(1), atol=1e-5)
        head = CAPTION_CNN(8, global_channels=2048).eval()
        head.load_state_dict(load_file(str(out / "stream_encoder.safetensors")))
        assert torch.allclose(head(feat), cnn.bn(cnn.linear(cnn.resnet(x).flatten(1))), atol=1e-5)
        dec = CAPTION_RNN(8, 16, len(WORDS) + 1).eval()
        dec.load_state_dict(load_file(str(out / "stream_decoder.safetensors")))
        f = torch.randn(3, 8)
        assert torch.equal(dec.sample(f, stop_at_end=False)[0], rnn.sample(f))

    # The reference pipeline on the converted directory: STREAM on its own ResNet-152 trunk, 224² input.
    ref = ReferenceModel(str(out))
    img = torch.rand(3, 256, 256) * 2 - 1
    ids, _ = ref.redescribe(img)
    with torch.no_grad():
        assert ids == rnn.sample(cnn(img.unsqueeze(0)))[0].tolist() and len(ids) == 20  # no <end>: always 20


def test_birds_preset_full_widths(tmp_path, image_encoder_file):
    """The official birds widths: parameter counts as the spec gives them (G 7,105,392; STEM 2,075,320, 5450 words)."""
    words = [f"w{i}" for i in range(1, 5450)]
    paths, _ = write_inputs(tmp_path, words=words)
    te = O.randomise(O.RNN_ENCODER(5450), 1)
    g = O.G_NET(glam=True)
    O.save_legacy(te.state_dict(), paths["text_encoder"])
    torch.save(g.state_dict(), paths["generator"])
    ie = O.CNN_ENCODER(nef=256)
    torch.save(ie.state_dict(), tmp_path / "ie256.pth")
    out = tmp_path / "birds"
    run(argv({**paths, "config": "birds"}, str(tmp_path / "ie256.pth"), out))
    count = lambda f: sum(t.numel() for t in load_file(str(out / f)).values() if t.dim() and "running" not in str(t))
    gsd = load_file(str(out / "generator.safetensors"))
    assert sum(v.numel() for k, v in gsd.items() if "running" not in k) == 7_105_392
    assert sum(v.numel() for v in load_file(str(out / "text_encoder.safetensors")).values()) == 2_075_320
    assert count("image_encoder.safetensors") == 256 * 768 + 256 * 2048 + 256
    meta = json.load(open(out / "model.json"))
    assert meta["generator"]["ngf"] == 32 and meta["text_encoder"]["n_words"] == 5450


def test_expected_shapes_match_the_specs_parameter_counts():
    """Birds widths (spec §1.2, §5.1, §6.1): STREAM encoder 58,668,864 and decoder 5,768,010 parameters at 5450
    words, DAMSM image encoder 22,506,720; the ResNet-152 shapes are written out in convert_layout, not built."""
    from mirrorgan_train import convert_layout as CL

    cfg = ModelConfig(n_words=5450)
    params = lambda shapes: sum(math.prod(s) for k, s in shapes.items() if "running" not in k)
    assert params(CL.stream_encoder_shapes(cfg)) == 58_668_864
    assert params(CL.stream_decoder_shapes(cfg)) == 5_768_010
    assert params(CL.image_encoder_shapes(cfg)) == 22_506_720
    assert len(CL.stream_encoder_shapes(cfg)) == 937 - 156  # the spec's 937 entries less 156 BN counters
    resnet = {k: tuple(v.shape) for k, v in torchvision.models.resnet152(weights=None).state_dict().items()
              if not k.startswith("fc.") and "num_batches" not in k}
    assert CL.resnet152_trunk_shapes() == resnet


def test_coco_preset_and_wrong_preset(tmp_path, image_encoder_file):
    """COCO widths (GF_DIM 48, R_NUM 3) and COCO's 27,297-word vocabulary (text encoder 8,629,420 parameters)."""
    coco_words = [f"w{i}" for i in range(1, 27297)]
    paths, _ = write_inputs(tmp_path, words=coco_words)
    te = O.randomise(O.RNN_ENCODER(27297, nhidden=256), 1)
    O.save_legacy(te.state_dict(), paths["text_encoder"])
    torch.save(O.G_NET(ngf=48, r_num=3, glam=False).state_dict(), paths["generator"])
    ie = O.CNN_ENCODER(nef=256)
    torch.save(ie.state_dict(), tmp_path / "ie256.pth")
    args = argv({**paths, "config": "birds"}, str(tmp_path / "ie256.pth"), tmp_path / "coco")
    expect_error(args, tmp_path / "coco", "netG_epoch_600.pth: the AttnGAN generator does not fit the config (birds)",
                 "key h_net1.fc.0.weight: expected shape [16384, 200], found [24576, 200]",
                 "GAN.GF_DIM = 48, the config 32", "GAN.R_NUM = 3, the config 2", "... and 88 more")
    args[1] = "coco"
    run(args)
    meta = json.load(open(tmp_path / "coco" / "model.json"))
    assert (meta["generator"]["ngf"], meta["generator"]["r_num"], meta["text_encoder"]["words_num"]) == (48, 3, 12)
    assert meta["text_encoder"]["n_words"] == 27297
    assert len(json.load(open(tmp_path / "coco" / "vocab.json"))["ixtoword"]) == 27297
    assert sum(v.numel() for v in load_file(str(tmp_path / "coco" / "text_encoder.safetensors")).values()) == 8_629_420
    gsd = load_file(str(tmp_path / "coco" / "generator.safetensors"))
    assert sum(v.numel() for k, v in gsd.items() if "running" not in k) == 13_811_456  # AttnGAN COCO G (spec §3.8)
    assert json.load(open(tmp_path / "coco" / "caption_bank.json"))["class_ids"][:6] == [0, 0, 0, 0, 0, 1]


def test_class_info_goes_into_the_bank(tmp_path, image_encoder_file):
    paths, mods = write_inputs(tmp_path)
    O.write_py2_pickle([3, 3, 9, 9, 1, 2], tmp_path / "class_info.pickle")
    run(argv(paths, image_encoder_file[0], tmp_path / "o", "--class-info", str(tmp_path / "class_info.pickle")))
    assert json.load(open(tmp_path / "o" / "caption_bank.json"))["class_ids"] == [3, 3, 3, 3, 9, 9, 9, 9, 1, 1, 2, 2]
    O.write_py2_pickle([3, 3], tmp_path / "class_info.pickle")
    info = str(tmp_path / "class_info.pickle")
    expect_error(argv(paths, image_encoder_file[0], tmp_path / "o2", "--class-info", info), tmp_path / "o2",
                 "2 class ids", "12 test captions = 6 images at 2 captions per image")
