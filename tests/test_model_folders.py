from pathlib import Path

import pytest
import torch

from pocketgan.cli import main
from pocketgan.inference.pipeline import TranslationPipeline
from pocketgan.models import create_generator
from pocketgan.models.importing import import_reference
from pocketgan.models.pretrained import ModelFolderError, load_generator, read_model_config, save_pretrained


def reference_style_pth(net: torch.nn.Module, path: Path, data_parallel: bool = False, stale_norm_stats: bool = False) -> None:
    """Save weights the way the reference does (a plain state_dict via torch.save), optionally with
    DataParallel's 'module.' prefix and the InstanceNorm running stats old PyTorch versions wrote."""
    state = dict(net.state_dict())
    if stale_norm_stats:
        state["model.2.running_mean"] = torch.zeros(8)
        state["model.2.running_var"] = torch.ones(8)
        state["model.10.conv_block.2.running_mean"] = torch.zeros(32)
    if data_parallel:
        state = {f"module.{k}": v for k, v in state.items()}
    torch.save(state, path)


def test_save_and_load_pretrained_round_trip(tmp_path):
    g = create_generator("resnet_6blocks", ngf=8)
    save_pretrained(tmp_path / "m", {"G_A": g}, training={"steps": 7})
    assert read_model_config(tmp_path / "m")["generators"]["G_A"] == {"name": "resnet_6blocks", "ngf": 8}
    loaded = load_generator(tmp_path / "m", "G_A")
    x = torch.randn(1, 3, 32, 32)
    assert torch.equal(loaded(x), g.eval()(x))
    with pytest.raises(ModelFolderError, match="has no G_B"):
        load_generator(tmp_path / "m", "G_B")


@pytest.mark.parametrize("data_parallel,stale", [(False, False), (True, True)])
def test_import_reference_pth(tmp_path, data_parallel, stale):
    g = create_generator("resnet_9blocks", ngf=8).eval()
    pth = tmp_path / "latest_net_G_A.pth"
    reference_style_pth(g, pth, data_parallel, stale)
    out = import_reference(pth, tmp_path / "models" / "h2z", "resnet_9blocks", ngf=8, norm="instance")
    x = torch.randn(1, 3, 32, 32)
    assert torch.equal(load_generator(out, "G_A")(x), g(x))
    assert list(out.glob("*.pth")) == []


def test_import_both_directions_into_one_folder_via_cli(tmp_path, capsys):
    ga, gb = create_generator("resnet_6blocks", ngf=4), create_generator("resnet_6blocks", ngf=4)
    reference_style_pth(ga, tmp_path / "latest_net_G_A.pth")
    reference_style_pth(gb, tmp_path / "latest_net_G_B.pth")
    for f in ("latest_net_G_A.pth", "latest_net_G_B.pth"):
        assert main(["import", str(tmp_path / f), "--arch", "resnet_6blocks", "--ngf", "4", "--out", str(tmp_path / "m")]) == 0
    config = read_model_config(tmp_path / "m")
    assert set(config["generators"]) == {"G_A", "G_B"}
    x = torch.randn(1, 3, 16, 16)
    assert torch.equal(load_generator(tmp_path / "m", "G_B")(x), gb.eval()(x))


def test_import_pix2pix_unet(tmp_path):
    g = create_generator("unet_256", ngf=4, norm="batch", use_dropout=True).eval()
    reference_style_pth(g, tmp_path / "latest_net_G.pth")
    out = import_reference(tmp_path / "latest_net_G.pth", tmp_path / "p2p", "unet_256", ngf=4, norm="batch", use_dropout=True)
    x = torch.randn(1, 3, 256, 256)
    assert torch.allclose(load_generator(out, "G_A")(x), g(x))


def test_import_rejects_wrong_architecture_and_pickles(tmp_path):
    reference_style_pth(create_generator("resnet_6blocks", ngf=8), tmp_path / "g.pth")
    with pytest.raises(ModelFolderError, match=r"g\.pth: weights do not fit architecture.*missing keys"):
        import_reference(tmp_path / "g.pth", tmp_path / "m", "resnet_9blocks", ngf=8)
    with pytest.raises(ModelFolderError, match="shape mismatch"):
        import_reference(tmp_path / "g.pth", tmp_path / "m", "resnet_6blocks", ngf=16)

    class Evil:
        def __reduce__(self):
            return (print, ("code ran",))
    torch.save({"model.1.weight": Evil()}, tmp_path / "evil.pth")
    with pytest.raises(ModelFolderError, match="evil.pth: not a loadable"):
        import_reference(tmp_path / "evil.pth", tmp_path / "m")
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(ModelFolderError, match="junk.pth"):
        import_reference(tmp_path / "junk.pth", tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_not_a_model_folder(tmp_path, capsys):
    for bad, reason in [(tmp_path / "nope", "no such model folder"), (tmp_path, "no config.json")]:
        with pytest.raises(ModelFolderError, match=reason):
            TranslationPipeline.from_pretrained(bad)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ModelFolderError, match="unreadable config"):
        read_model_config(tmp_path)
    (tmp_path / "img.png").write_bytes(b"")
    assert main(["translate", str(tmp_path / "img.png"), "--model", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pocketgan: error:") and "\n" not in err


def test_weights_file_from_another_architecture(tmp_path):
    save_pretrained(tmp_path / "m", {"G_A": create_generator("resnet_6blocks", ngf=4)})
    save_pretrained(tmp_path / "other", {"G_A": create_generator("resnet_9blocks", ngf=4)})
    (tmp_path / "m" / "G_A.safetensors").write_bytes((tmp_path / "other" / "G_A.safetensors").read_bytes())
    with pytest.raises(ModelFolderError, match=r"G_A\.safetensors: weights do not fit architecture \[name=resnet_6blocks"):
        load_generator(tmp_path / "m")
    (tmp_path / "m" / "G_A.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(ModelFolderError, match="unreadable weights"):
        load_generator(tmp_path / "m")
