"""Translate video files: decode, translate frame by frame, stabilise, encode; audio copied.

Reading and writing go through PyAV (``av``, FFmpeg in its wheels; ``pip install 'pocketgan[video]'``),
imported only when a video is translated. The output has the input's frame rate, frame times and
(displayed) size, in the same container: H.264 in .mp4/.mov/.mkv/.avi, VP9 in .webm. The first
audio stream is copied as it is (re-encoded only if the container cannot hold its codec). A video
stored sideways with a rotation (phones) is turned upright before translating, as photos are by
their EXIF orientation, and written upright.

Temporal stabilisation (:class:`ChangeStabilizer`, on by default for video): frames translated one
by one flicker, because the network's change to the photo jitters with every bit of noise and
compression in the input. The stabiliser works on the change the model predicts at the working size
(a residual model's own change; output minus input for any other model). Where the input barely
changed since the previous frame, the previous (stabilised) change is kept and blended with the new
one; where it changed (motion), the new change is taken; a scene cut (most of the picture changes)
starts afresh. The result is then made exactly as for a photo (the change at ``strength``, applied
to the full-size frame for residual models, see :mod:`pocketgan.inference.fullres`). Measured by
``benchmarks/video_flicker.py``.
"""
from __future__ import annotations

import contextlib
import os
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from ..data.inputs import VIDEO_EXTENSIONS, is_video  # noqa: F401  (the one rule; importable here)
from ..errors import MissingDependency, PocketganError, first_line
from .pipeline import TranslationPipeline
from .videofiles import VideoError  # noqa: F401  (defined there, torch-free)

INSTALL_HINT = "pip install 'pocketgan[video]'"

# suffix -> (FFmpeg muxer, video encoder, audio codecs the muxer takes as they are (None: any), audio encoder)
CONTAINERS = {
    ".mp4": ("mp4", "libx264", {"aac", "mp3", "opus", "alac", "ac3", "eac3", "flac"}, "aac"),
    ".mov": ("mov", "libx264", {"aac", "mp3", "alac", "ac3", "eac3", "pcm_s16le", "pcm_s24le", "pcm_s16be",
                                "pcm_f32le"}, "aac"),
    ".mkv": ("matroska", "libx264", None, "aac"),
    ".webm": ("webm", "libvpx-vp9", {"opus", "vorbis"}, "libopus"),
    ".avi": ("avi", "libx264", {"mp3", "ac3", "aac", "mp2", "pcm_s16le", "pcm_u8"}, "libmp3lame"),
}
ENCODER_OPTIONS = {
    "libx264": {"crf": "18", "preset": "fast"},
    "libvpx-vp9": {"crf": "30", "b": "0", "deadline": "good", "cpu-used": "4", "row-mt": "1"},
}
_UPRIGHT = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_270}


def require_av():
    """The ``av`` module, or a one-line MissingDependency with the install command."""
    try:
        import av
    except ImportError as e:
        raise MissingDependency(f"translating videos needs PyAV ({first_line(e)}); install it with: "
                                f"{INSTALL_HINT}") from None
    return av


# ---------------------------------------------------------------------------------- stabilisation


class ChangeStabilizer:
    """Blends each frame's predicted change with the previous frame's where the input is still.

    Per pixel, ``keep = hold * exp(-motion / motion_scale)``, with ``motion`` the input's change
    since the previous frame (mean over the channels, smoothed over a (2*radius+1)² window, in
    [-1, 1] units), and the change used is ``keep * previous + (1 - keep) * new``. ``hold`` < 1 lets a
    still picture's change follow slow drifts of the model's answer. A frame whose mean ``motion``
    is above ``cut`` (a scene cut), or of another size, starts afresh. Tensors are (3, h, w) at the
    working size."""

    def __init__(self, hold: float = 0.85, motion_scale: float = 0.05, cut: float = 0.2, radius: int = 2) -> None:
        self.hold, self.motion_scale, self.cut, self.radius = hold, motion_scale, cut, radius
        self.reset()

    def reset(self) -> None:
        self._x: torch.Tensor | None = None
        self._change: torch.Tensor | None = None

    def __call__(self, x: torch.Tensor, change: torch.Tensor) -> torch.Tensor:
        if self._x is None or self._x.shape != x.shape:
            out = change
        else:
            motion = (x - self._x).abs().mean(0, keepdim=True)
            if float(motion.mean()) > self.cut:
                out = change
            else:
                assert self._change is not None  # set with self._x
                r = max(0, min(self.radius, (min(x.shape[-2:]) - 1) // 2))
                if r:
                    motion = F.avg_pool2d(motion[None], 2 * r + 1, stride=1, padding=r, count_include_pad=False)[0]
                keep = self.hold * torch.exp(-motion / self.motion_scale)
                out = keep * self._change + (1 - keep) * change
        self._x, self._change = x, out
        return out


def translate_frames(pipe: TranslationPipeline, frames: Iterable[Image.Image], stabilize: bool = True,
                     strength: float | None = None) -> Iterator[Image.Image]:
    """Translate a stream of RGB frames (in order), ``pipe.batch_size`` at a time. Without
    ``stabilize`` each frame is exactly what translating it as a photo gives."""
    s = pipe._strength(strength)
    stabilizer = ChangeStabilizer() if stabilize else None
    batch: list[Image.Image] = []

    def flush() -> Iterator[Image.Image]:
        size = pipe.working_size(batch[0].size)
        if any(pipe.working_size(f.size) != size for f in batch):  # sizes change mid-stream: one by one
            for f in batch:
                yield from _translate([f], pipe.working_size(f.size))
        else:
            yield from _translate(batch, size)
        batch.clear()

    def _translate(group: list[Image.Image], size: tuple[int, int]) -> Iterator[Image.Image]:
        if stabilizer is None:
            yield from pipe._translate_batch(group, size, strength=s)
            return
        x, change = pipe.predict_change(group, size)
        for i, frame in enumerate(group):
            yield pipe.compose(frame, x[i], stabilizer(x[i], change[i]), s)

    for frame in frames:
        batch.append(frame.convert("RGB"))
        if len(batch) >= pipe.batch_size:
            yield from flush()
    if batch:
        yield from flush()


# ---------------------------------------------------------------------------------- files


@dataclass
class VideoResult:
    path: Path
    frames: int
    seconds: float

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def _upright(frame) -> Image.Image:
    image = frame.to_image()
    rotation = (getattr(frame, "rotation", 0) or 0) % 360
    return image.transpose(_UPRIGHT[rotation]) if rotation in _UPRIGHT else image


def _pixel_format(codec: str, size: tuple[int, int]) -> str:
    """The pixel format to encode ``size`` with: 4:2:0 when both sides are even (what players
    expect), else 4:4:4 (H.264's 4:2:0 needs even sides)."""
    w, h = size
    return "yuv420p" if (w % 2 == 0 and h % 2 == 0) or codec != "libx264" else "yuv444p"


def translate_video(pipe: TranslationPipeline, src: str | os.PathLike[str], dst: str | os.PathLike[str],
                    stabilize: bool = True, strength: float | None = None, progress: bool = True) -> VideoResult:
    """Translate the video ``src`` into ``dst`` (same container type as ``dst``'s suffix). Written
    through a temporary file in ``dst``'s folder: ``dst`` is the complete video or untouched.
    Raises VideoError (one line naming ``src``) for unreadable input, MissingDependency without PyAV."""
    av = require_av()
    from tqdm import tqdm

    src, dst = Path(src), Path(dst)
    suffix = dst.suffix.lower()
    if suffix not in CONTAINERS:
        raise VideoError(f"{dst}: cannot write this kind of video (use one of {' '.join(sorted(CONTAINERS))})")
    muxer, vcodec, copyable, acodec = CONTAINERS[suffix]
    if vcodec not in av.codecs_available:
        vcodec = "mpeg4"
    errors = (av.error.FFmpegError, OSError, ValueError, RuntimeError)
    try:
        source = av.open(str(src))
    except errors as e:
        raise VideoError(f"{src}: not a readable video ({first_line(e)})") from None
    tmp = dst.with_name(f".{dst.stem}.pocketgan-partial{suffix}")
    out = None
    start = time.perf_counter()
    frames = 0
    try:
        if not source.streams.video:
            raise VideoError(f"{src}: no video stream in this file")
        vin = source.streams.video[0]
        ain = source.streams.audio[0] if source.streams.audio else None
        vin.thread_type = "AUTO"
        rate = vin.average_rate or vin.guessed_rate or Fraction(25)
        total = vin.frames or None
        out = container = av.open(str(tmp), "w", format=muxer)
        vout = aout = None
        waiting_audio: list = []  # audio packets that come before the first video frame
        audio_codec = ain and getattr(ain.codec_context.codec, "canonical_name", ain.codec_context.name)
        copy_audio = ain is not None and (copyable is None or audio_codec in copyable)

        def open_streams(first: Image.Image):
            nonlocal vout, aout
            vout = container.add_stream(vcodec, rate=rate)
            vout.width, vout.height = first.size
            vout.pix_fmt = _pixel_format(vcodec, first.size)
            vout.options = dict(ENCODER_OPTIONS.get(vcodec, {}))
            vout.codec_context.time_base = vin.time_base or Fraction(1, 1) / rate
            if ain is not None:
                if copy_audio:
                    aout = container.add_stream_from_template(ain)
                else:
                    aout = container.add_stream(acodec, rate=ain.codec_context.sample_rate or 48000)
                    aout.layout = ain.codec_context.layout
            for packet in waiting_audio:
                mux_audio(packet)
            waiting_audio.clear()

        def mux_audio(packet) -> None:
            if copy_audio:
                if packet.dts is None:
                    return
                packet.stream = aout
                container.mux(packet)
            else:
                assert aout is not None  # open_streams made it: audio packets mean there is ain
                for frame in packet.decode():
                    container.mux(aout.encode(frame))

        times: deque = deque()  # (pts, time_base) of the frames in the translation queue

        def decoded() -> Iterator[Image.Image]:
            for packet in source.demux(*(s for s in (vin, ain) if s is not None)):
                if packet.stream.type == "audio":
                    if vout is None:
                        waiting_audio.append(packet)
                    else:
                        mux_audio(packet)
                    continue
                for frame in packet.decode():
                    image = _upright(frame)
                    times.append((frame.pts, frame.time_base))
                    if vout is None:
                        open_streams(image)
                    yield image

        with tqdm(total=total, unit="frame", disable=not progress, file=sys.stderr, desc=src.name) as bar:
            for result in translate_frames(pipe, decoded(), stabilize, strength):
                frame = av.VideoFrame.from_image(result)
                pts, time_base = times.popleft()
                if pts is None or time_base is None:
                    frame.pts, frame.time_base = frames, Fraction(1, 1) / rate
                else:
                    frame.pts, frame.time_base = pts, time_base
                assert vout is not None  # decoded() opened the streams before its first frame
                container.mux(vout.encode(frame))
                frames += 1
                bar.update(1)
        if vout is None:
            raise VideoError(f"{src}: no frames could be decoded")
        container.mux(vout.encode(None))
        if aout is not None and not copy_audio:
            container.mux(aout.encode(None))
        out.close()
        out = None
        os.replace(tmp, dst)
    except PocketganError:
        raise
    except errors as e:
        raise VideoError(f"{src}: cannot translate this video ({first_line(e)}); {frames} frames were done "
                         "and nothing was written") from None
    finally:
        source.close()
        if out is not None:
            with contextlib.suppress(*errors):
                out.close()
        if tmp.exists():
            tmp.unlink()
    return VideoResult(dst, frames, time.perf_counter() - start)
