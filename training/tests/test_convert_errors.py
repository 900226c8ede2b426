"""The converter (mirrorgan_train.convert) on malformed official-layout inputs: each is a clear error naming the file,
the key, what was expected and what was found, and nothing is written (the round trips: test_convert.py)."""
from __future__ import annotations

import os
import pickle

import pytest
import torch

from mirrorgan_train import convert as C
from mirrorgan_train import export
from mirrorgan_train.models import ModelConfig

import official_layout as O
from convert_inputs import (TINY_YAML, WORDS, argv, assert_nothing_written, expect_error, run,
                            write_inputs)


# --------------------------------------------------------------------------------------------------
# Malformed inputs: a clear error naming file, key, expected and found; nothing written
# --------------------------------------------------------------------------------------------------
def test_truncated_generator_zip_and_legacy(tmp_path, image_encoder_file):
    paths, mods = write_inputs(tmp_path)
    out = tmp_path / "out"
    for save in (torch.save, O.save_legacy):
        save(mods["generator"].state_dict(), paths["generator"])
        data = open(paths["generator"], "rb").read()
        open(paths["generator"], "wb").write(data[: len(data) // 2])
        expect_error(argv(paths, image_encoder_file[0], out), out, "netG_epoch_600.pth: truncated or corrupt")


def test_not_a_pickle(tmp_path, image_encoder_file):
    paths, _ = write_inputs(tmp_path)
    open(paths["text_encoder"], "w").write("<html>404 Not Found</html>")
    out = tmp_path / "out"
    expect_error(argv(paths, image_encoder_file[0], out), out,
                 "text_encoder200.pth: not a PyTorch checkpoint or pickle", "b'<htm'")
    torch.save(O.RNN_ENCODER(len(WORDS) + 1, nhidden=16), paths["text_encoder"])  # a whole module: never unpickled
    expect_error(argv(paths, image_encoder_file[0], out), out, "text_encoder200.pth: holds Python objects other than "
                 "tensors", "save module.state_dict() instead", "Unsupported class official_layout.RNN_ENCODER")


def test_wrong_vocabulary(tmp_path, image_encoder_file):
    paths, _ = write_inputs(tmp_path)
    O.write_py2_pickle(O.captions_pickle(WORDS + ["extra1", "extra2", "extra3"], 8, 12), paths["captions"])
    out = tmp_path / "out"
    expect_error(argv(paths, image_encoder_file[0], out), out, "text_encoder200.pth: the text encoder does not fit",
                 "key encoder.weight: expected shape [43, 300], found [40, 300]",
                 "captions.pickle has 43 words but encoder.weight has 40 rows")


def test_swapped_encoder_files(tmp_path, image_encoder_file):
    paths, _ = write_inputs(tmp_path)
    out = tmp_path / "out"
    args = argv({**paths, "text_encoder": image_encoder_file[0]}, paths["text_encoder"], out)
    expect_error(args, out, "image_encoder200.pth: given as --text-encoder, but it is a DAMSM image encoder",
                 "Were two file arguments swapped?")
    args = argv(paths, paths["text_encoder"], out)
    expect_error(args, out, "text_encoder200.pth: given as --image-encoder, but it is a DAMSM text encoder")


def test_missing_and_extra_key(tmp_path, image_encoder_file):
    paths, mods = write_inputs(tmp_path)
    out = tmp_path / "out"
    sd = mods["generator"].state_dict()
    del sd["h_net2.residual.0.block.0.weight"]
    torch.save(sd, paths["generator"])
    expect_error(argv(paths, image_encoder_file[0], out), out, "netG_epoch_600.pth: the MirrorGAN (GLAM) generator",
                 "1 problem(s)", "missing key h_net2.residual.0.block.0.weight (expected shape [16, 8, 3, 3])")
    sd = mods["generator"].state_dict()
    sd["h_net3.att.extra.weight"] = torch.zeros(2, 3)
    torch.save(sd, paths["generator"])
    expect_error(argv(paths, image_encoder_file[0], out), out,
                 "extra key h_net3.att.extra.weight (shape [2, 3]) that the config does not have")


def test_wrong_config(tmp_path, image_encoder_file):
    paths, _ = write_inputs(tmp_path)
    out = tmp_path / "out"
    with open(paths["config"], "w") as f:
        f.write(TINY_YAML.replace("GF_DIM: 4", "GF_DIM: 8"))
    expect_error(argv(paths, image_encoder_file[0], out), out, "key h_net1.fc.0.weight: expected shape [4096, 200], "
                 "found [2048, 200]", "GAN.GF_DIM = 4, the config 8")
    with open(paths["config"], "w") as f:
        f.write(TINY_YAML.replace("EMBEDDING_DIM: 16", "EMBEDDING_DIM: 32"))
    expect_error(argv(paths, image_encoder_file[0], out), out, "key rnn.weight_hh_l0: expected shape [64, 16], found "
                 "[32, 8]", "text encoder has TEXT.EMBEDDING_DIM = 16, the config 32")
    with open(paths["config"], "w") as f:
        f.write(TINY_YAML.replace("R_NUM: 2", "R_NUM: two"))
    expect_error(argv(paths, image_encoder_file[0], out), out, "bird.yml: config key GAN.R_NUM should be a positive "
                 "integer, found 'two'")
    with open(paths["config"], "w") as f:
        f.write("- just\n- a list\n")
    expect_error(argv(paths, image_encoder_file[0], out), out, "bird.yml: an official config is a YAML mapping")
    expect_error(argv({**paths, "config": "flowers"}, image_encoder_file[0], out), out,
                 "flowers: not a preset (birds, coco) and no such YAML file")


def test_captions_pickle_with_unexpected_layout(tmp_path, image_encoder_file):
    paths, _ = write_inputs(tmp_path)
    out = tmp_path / "out"
    train, test, ixtoword, wordtoix = O.captions_pickle(WORDS, 2, 2)
    cases = [([train, test, ixtoword], "expected a list of 4 items [train captions, test captions, ixtoword, "
                                       "wordtoix], found a list of 3 items"),
             ({"ixtoword": ixtoword}, "found a dict of 1 items"),
             ([train, test, wordtoix, ixtoword], "item [2] (ixtoword) should map int -> str"),
             ([train, [[1, 2, 99]], ixtoword, wordtoix], "item [1] (test captions) caption 0 should be a list of word "
                                                         "ids in 0..39"),
             ([train, test, {**ixtoword, 0: "<pad>"}, wordtoix], "index 0 should be '<end>'")]
    for obj, fragment in cases:
        O.write_py2_pickle(obj, paths["captions"])
        expect_error(argv(paths, image_encoder_file[0], out), out, "captions.pickle: ", fragment)


def test_captions_pickle_that_is_not_data(tmp_path, image_encoder_file):
    paths, _ = write_inputs(tmp_path)
    out = tmp_path / "out"
    with open(paths["captions"], "wb") as f:
        pickle.dump([ModelConfig(), [], {}, {}], f, protocol=2)  # a class reference: refused, never imported
    expect_error(argv(paths, image_encoder_file[0], out), out, "not a data-only pickle",
                 "references mirrorgan_train.models.ModelConfig")
    data = pickle.dumps(O.captions_pickle(WORDS, 2, 2), protocol=2)
    open(paths["captions"], "wb").write(data[:-20])
    expect_error(argv(paths, image_encoder_file[0], out), out, "captions.pickle: truncated pickle")
    torch.save({"a": torch.zeros(1)}, paths["captions"])
    expect_error(argv(paths, image_encoder_file[0], out), out, "captions.pickle: a zip archive")


def test_stream_decoder_with_another_vocabulary_and_half_stream(tmp_path, image_encoder_file):
    paths, _ = write_inputs(tmp_path)
    out = tmp_path / "out"
    torch.save(O.CAPTION_RNN(8, 16, 45).state_dict(), tmp_path / "rnn.ckpt")
    expect_error(argv(paths, image_encoder_file[0], out, "--stream-decoder", str(tmp_path / "rnn.ckpt")), out,
                 "--stream-encoder and --stream-decoder go together")
    torch.save(O.CAPTION_CNN(8).state_dict(), tmp_path / "cnn.ckpt")
    expect_error(argv(paths, image_encoder_file[0], out, "--stream-encoder", str(tmp_path / "cnn.ckpt"),
                      "--stream-decoder", str(tmp_path / "rnn.ckpt")), out,
                 "rnn.ckpt: the STREAM decoder does not fit", "key embed.weight: expected shape [40, 8], found [45, 8]",
                 "has 40 words but embed.weight has 45 rows")


def test_existing_output_and_failed_write_leave_nothing(tmp_path, image_encoder_file, monkeypatch):
    paths, _ = write_inputs(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(C.ConvertError, match="already exists"):
        run(argv(paths, image_encoder_file[0], out))
    assert os.listdir(out) == ["keep.txt"]
    calls = []

    def failing_save(*a, **k):
        calls.append(a[1])
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real_save(*a, **k)

    real_save = export.save_file
    monkeypatch.setattr(export, "save_file", failing_save)
    with pytest.raises(OSError):
        run(argv(paths, image_encoder_file[0], out, "--force"))
    assert os.listdir(out) == ["keep.txt"]  # the old directory untouched, the partial one removed
    assert [f for f in os.listdir(tmp_path) if f.startswith(".out.")] == []
    monkeypatch.setattr(export, "save_file", real_save)
    run(argv(paths, image_encoder_file[0], out, "--force"))
    assert "keep.txt" not in os.listdir(out) and "model.json" in os.listdir(out)


def test_cli_reports_error_and_exit_code(tmp_path, image_encoder_file, capsys):
    paths, _ = write_inputs(tmp_path)
    out = tmp_path / "out"
    code = C.main(argv({**paths, "generator": str(tmp_path / "nope.pth")}, image_encoder_file[0], out))
    err = capsys.readouterr().err
    assert code == 2 and "nope.pth: no such file" in err and "nothing was written" in err
    assert_nothing_written(out)
