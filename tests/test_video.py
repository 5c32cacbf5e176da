"""Video from the command line (issue 18, item 6): `pocketgan translate clip.mp4 --out out/` writes a
translated video of the same frame rate and size with its audio, through PyAV; frames are steadied
from one to the next. Tests that read or write files skip when PyAV (`av`) is not installed."""
from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pocketgan.cli import main
from pocketgan.data.synthetic import render_scene
from pocketgan.errors import MissingDependency
from pocketgan.inference.pipeline import TranslationPipeline
from pocketgan.inference.video import ChangeStabilizer, require_av, translate_frames
from pocketgan.models.pretrained import save_pretrained

try:
    import av
except ImportError:  # pragma: no cover - depends on the environment
    av = None
needs_av = pytest.mark.skipif(av is None, reason="PyAV not installed (pip install -e '.[video]')")


@pytest.fixture(scope="module")
def model(tmp_path_factory, expressive_generator) -> Path:
    return save_pretrained(tmp_path_factory.mktemp("video") / "model",
                           {"G_A": expressive_generator(0, residual=True), "G_B": expressive_generator(1, residual=True)})


def frames(n: int = 12, size=(32, 32)) -> list[np.ndarray]:
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    return [np.stack([(xx * 8 + i * 5) % 256, (yy * 8) % 256, np.full_like(xx, 120)], -1).astype(np.uint8)
            for i in range(n)]


def write_video(path: Path, n: int = 12, size=(32, 32), fps: int = 12, audio: str | None = None,
                codec: str = "libx264", rotation: int = 0) -> Path:
    """``n`` frames of a moving pattern; ``audio``: an audio encoder for a 440 Hz tone (aac, mp2...)."""
    with av.open(str(path), "w") as out:
        v = out.add_stream(codec, rate=fps)
        v.width, v.height = size
        v.pix_fmt = "yuv420p" if size[0] % 2 == 0 and size[1] % 2 == 0 else "yuv444p"
        if rotation:
            v.set_display_rotation(rotation)
        a = None
        if audio:
            a = out.add_stream(audio, rate=16000)
            a.layout = "mono"
        for i, pixels in enumerate(frames(n, size)):
            f = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            f.pts = i
            out.mux(v.encode(f))
        out.mux(v.encode(None))
        if a is not None:
            rate, total, step = 16000, 16000 * n // fps, 1152
            t = np.arange(total) / rate
            samples = (0.3 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)[None]
            for k in range(0, total, step):
                af = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, k:k + step]), format="s16", layout="mono")
                af.sample_rate, af.pts = rate, k
                out.mux(a.encode(af))
            out.mux(a.encode(None))
    return path


def probe(path: Path) -> dict:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        rate, size = v.average_rate, (v.width, v.height)
        decoded = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    with av.open(str(path)) as c:
        audio = [(s.codec_context.name, s.codec_context.sample_rate, sum(1 for p in c.demux(s) if p.size))
                 for s in c.streams.audio]
    return {"frames": len(decoded), "rate": rate, "size": size, "audio": audio, "first": decoded[0] if decoded else None}


@needs_av
@pytest.mark.parametrize("stabilize", [True, False])
def test_video_round_trips_frames_rate_and_size(model, tmp_path, capsys, stabilize):
    src = write_video(tmp_path / "clip.mp4")
    args = ["translate", str(src), "--model", str(model), "--out", str(tmp_path / "out"), "--device", "cpu"]
    assert main(args + ([] if stabilize else ["--no-stabilize"])) == 0
    captured = capsys.readouterr()
    assert "12 frames translated at" in captured.out and "frames/s" in captured.out
    assert "wrote 1 video to" in captured.out
    assert "frame/s" in captured.err  # the progress bar
    before, after = probe(src), probe(tmp_path / "out" / "clip.mp4")
    assert after["frames"] == before["frames"] == 12
    assert after["rate"] == before["rate"] == Fraction(12)
    assert after["size"] == before["size"] == (32, 32)
    assert after["audio"] == []
    assert np.abs(after["first"].astype(float) - before["first"].astype(float)).mean() > 2  # it was translated
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["clip.mp4"]  # no temporary file left


@needs_av
def test_audio_is_copied_and_images_and_videos_mix(model, tmp_path, capsys):
    src = write_video(tmp_path / "holiday.mp4", audio="aac")
    Image.fromarray(frames(1)[0]).save(tmp_path / "photo.png")
    assert main(["translate", str(src), str(tmp_path / "photo.png"), "--model", str(model), "--out",
                 str(tmp_path / "out"), "--no-progress", "--device", "cpu"]) == 0
    assert "wrote 1 image and 1 video" in capsys.readouterr().out
    before, after = probe(src), probe(tmp_path / "out" / "holiday.mp4")
    assert before["audio"] and after["audio"] == before["audio"]  # same codec, rate and packets
    assert after["frames"] == 12
    assert Image.open(tmp_path / "out" / "photo.png").size == (32, 32)


@needs_av
def test_audio_the_container_cannot_copy_is_reencoded(model, tmp_path):
    """MPEG-1 layer II in a .mov is not in the copy list: re-encoded to AAC, its length kept."""
    src = write_video(tmp_path / "old.mov", audio="mp2")
    assert main(["translate", str(src), "--model", str(model), "--out", str(tmp_path / "out"), "--no-progress",
                 "--device", "cpu"]) == 0
    after = probe(tmp_path / "out" / "old.mov")
    assert after["frames"] == 12 and [a[:2] for a in after["audio"]] == [("aac", 16000)]
    with av.open(str(tmp_path / "out" / "old.mov")) as c:
        seconds = float(c.streams.audio[0].duration * c.streams.audio[0].time_base)
    assert seconds == pytest.approx(1.0, abs=0.1)


@needs_av
def test_odd_sizes_and_other_containers(model, tmp_path):
    """An odd-sized .mkv (H.264 4:4:4) given by a glob pattern, and a .webm (VP9)."""
    write_video(tmp_path / "odd.mkv", n=5, size=(33, 21))
    write_video(tmp_path / "web.webm", n=5, codec="libvpx-vp9")
    assert main(["translate", str(tmp_path / "*.mkv"), str(tmp_path / "web.webm"), "--model", str(model),
                 "--out", str(tmp_path / "out"), "--no-progress", "--device", "cpu"]) == 0
    odd, web = (probe(tmp_path / "out" / n) for n in ("odd.mkv", "web.webm"))
    assert (odd["frames"], odd["size"]) == (5, (33, 21))
    assert (web["frames"], web["size"]) == (5, (32, 32))


@needs_av
def test_a_video_stored_sideways_comes_out_upright(model, tmp_path):
    if av is not None and not hasattr(av.video.stream.VideoStream, "set_display_rotation"):
        pytest.skip("this PyAV cannot write a display rotation")
    write_video(tmp_path / "phone.mp4", n=5, size=(32, 24), rotation=90)
    assert main(["translate", str(tmp_path / "phone.mp4"), "--model", str(model), "--out", str(tmp_path / "out"),
                 "--no-progress", "--device", "cpu"]) == 0
    phone = probe(tmp_path / "out" / "phone.mp4")
    assert (phone["frames"], phone["size"]) == (5, (24, 32))  # turned upright, as players show it
    stored = probe(tmp_path / "phone.mp4")["first"].astype(float)
    upright, other = np.rot90(stored, 1), np.rot90(stored, -1)  # rotation 90 = a quarter turn counterclockwise
    out = phone["first"].astype(float)
    assert np.abs(out - upright).mean() < 0.5 * np.abs(out - other).mean()
    with av.open(str(tmp_path / "out" / "phone.mp4")) as c:
        assert next(c.decode(video=0)).rotation == 0


@needs_av
def test_corrupt_video_is_one_line(model, tmp_path, capsys):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4)
    assert main(["translate", str(bad), "--model", str(model), "--out", str(tmp_path / "out"), "--no-progress",
                 "--device", "cpu"]) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith(f"skipped {bad}: not a readable video"), err
    assert list((tmp_path / "out").iterdir()) == []


def test_missing_pyav_is_one_line_with_the_pip_command(model, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "av", None)  # import av raises ImportError
    with pytest.raises(MissingDependency, match=r"pip install 'pocketgan\[video\]'"):
        require_av()
    (tmp_path / "clip.mp4").write_bytes(b"not read")
    assert main(["translate", str(tmp_path / "clip.mp4"), "--model", str(model), "--out", str(tmp_path / "out"),
                 "--no-progress", "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'pocketgan[video]'" in err[0]


def flicker(inp: np.ndarray, out: np.ndarray) -> float:
    """mean |out_t - out_t-1| / mean |in_t - in_t-1| (benchmarks/video_flicker.py)."""
    return float(np.abs(np.diff(out, axis=0)).mean() / np.abs(np.diff(inp, axis=0)).mean())


def jitter(inp: np.ndarray, out: np.ndarray) -> float:
    """How much the translation's change to the frames moves from frame to frame."""
    return float(np.abs(np.diff(out - inp, axis=0)).mean())


def test_stabilisation_reduces_flicker_on_a_toy_clip():
    """The bundled model on a toy scene: held still with sensor noise, then panning slowly. Frame by
    frame its change jitters with the noise; stabilised it moves less, and keeps its strength."""
    scene = render_scene(5, 96)
    rng = np.random.default_rng(0)
    clip = []
    for i in range(16):
        x = max(0, i - 8) * 0.5
        frame = np.asarray(scene.resize((48, 48), Image.BICUBIC, box=(x, 8, 64 + x, 72)), np.float32)
        clip.append(Image.fromarray(np.clip(frame + rng.normal(0, 2, frame.shape), 0, 255).round().astype(np.uint8)))
    pipe = TranslationPipeline.from_pretrained(None, device="cpu", batch_size=4)
    inp = np.stack([np.asarray(f, np.float32) for f in clip])
    plain = np.stack([np.asarray(f, np.float32) for f in translate_frames(pipe, clip, stabilize=False)])
    steady = np.stack([np.asarray(f, np.float32) for f in translate_frames(pipe, clip, stabilize=True)])
    assert np.array_equal(plain[3], np.asarray(pipe(clip[3]), np.float32))  # frame by frame = as photos
    assert flicker(inp, steady) < flicker(inp, plain) <= 1.1
    assert jitter(inp, steady) < 0.75 * jitter(inp, plain), (jitter(inp, steady), jitter(inp, plain))
    strength_plain, strength_steady = np.abs(plain - inp).mean(), np.abs(steady - inp).mean()
    assert abs(strength_steady / strength_plain - 1) < 0.1


def test_stabilizer_resets_on_a_scene_cut():
    st = ChangeStabilizer()
    x1, x2 = torch.zeros(3, 8, 8), torch.ones(3, 8, 8)
    c1, c2 = torch.full((3, 8, 8), 0.1), torch.full((3, 8, 8), -0.1)
    assert torch.equal(st(x1, c1), c1)
    assert torch.equal(st(x2, c2), c2)  # everything changed: a cut, the new change as it is
    held = st(x2, c1)  # nothing changed: mostly the previous change
    assert torch.allclose(held, 0.85 * c2 + 0.15 * c1)
