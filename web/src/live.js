// The live camera: frames from the camera go to the inference worker(s) at a working size that
// adapts to the speed, and come back translated onto a canvas, until Stop (or a photo) ends it.
// The session is state.live; "Keep this frame" hands the full camera frame to the photo path.

import { Cancelled } from "./engine.js";
import { liveSize, sizeText } from "./imaging.js";
import { cancelRun, clearResult, handlePhoto } from "./photo.js";
import { nextGeneration, state } from "./state.js";
import { errorText, READY, setStatus, strength, ui } from "./ui.js";

const LIVE_SIDES = [128, 160, 192, 224, 256, 320, 384, 448, 512];
const LIVE_START = 256;
const CAMERA_FRAME_MS = 1000 / 30;

/** The live working size's longer side: the one chosen in the details, or adapted to the speed. */
function liveSide(session) {
  return ui.liveSize.value === "auto" ? LIVE_SIDES[session.step] : Number(ui.liveSize.value);
}

/** Every second: show the frame rate; in automatic mode, a smaller working size below 10 fps and a
 *  larger one above 24 (a step costs ~1.5x the pixels, so it would still give 15). */
function liveTick(session) {
  const now = performance.now();
  const seconds = (now - session.windowStart) / 1000;
  if (seconds < 1) return;
  const fps = session.windowFrames / seconds;
  session.windowStart = now;
  session.windowFrames = 0;
  ui.fps.dataset.fps = fps.toFixed(2);
  ui.fps.dataset.workers = String(state.engine.liveWorkers(session.direction));
  ui.fps.textContent = `${fps.toFixed(1)} fps · ${sizeText(session.width, session.height)}`;
  session.windows++;
  if (ui.liveSize.value !== "auto" || session.windows <= 2) return; // the first seconds warm the runtime up
  if (fps < 10 && session.step > 0) session.step--;
  else if (fps > 24 && session.step < LIVE_SIDES.length - 1) session.step++;
}

/** Resolves when the camera has a frame not sent yet, or when a camera frame's time (1/30 s) has
 *  passed since the last one was sent: a model faster than the camera does not translate the same
 *  frame twice, and a slower one never waits (requestVideoFrameCallback, which counts presented
 *  frames, runs late when the page is busy). */
function nextVideoFrame(session) {
  const since = performance.now() - session.sentAt;
  if (session.presented !== session.sent || since >= CAMERA_FRAME_MS) return Promise.resolve();
  return new Promise((resolve) => {
    session.wake = resolve;
    setTimeout(resolve, CAMERA_FRAME_MS - since);
  });
}

function countFrames(session) {
  if (!ui.video.requestVideoFrameCallback) return;
  const onFrame = () => {
    session.presented++;
    session.wake?.();
    if (session.running) ui.video.requestVideoFrameCallback(onFrame);
  };
  ui.video.requestVideoFrameCallback(onFrame);
}

async function waitVisible() {
  await new Promise((resolve) => document.addEventListener("visibilitychange", resolve, { once: true }));
}

const sum = (stages) => Object.values(stages || {}).reduce((a, b) => a + b, 0);

/** Where a shown frame's time went, as running averages (ms) in the fps element's data-stages (JSON):
 *  the page's grab of the camera frame, the worker's steps (worker.js liveFrame), the page showing it,
 *  and `queue`: the time the frame waited for its worker and travelled between page and worker. */
function recordStages(session, stages, queueMs) {
  const all = { ...stages, queue: Math.max(0, queueMs) };
  const avg = session.stages || {};
  for (const [name, ms] of Object.entries(all)) avg[name] = name in avg ? 0.9 * avg[name] + 0.1 * ms : ms;
  session.stages = avg;
  ui.fps.dataset.stages = JSON.stringify(Object.fromEntries(Object.entries(avg).map(([k, v]) => [k, Number(v.toFixed(2))])));
}

/** Show a translated frame: the newest one wins (a frame that arrives after a later one is dropped). */
function showFrame(session, seq, bitmap) {
  if (!session.running || seq < session.shownSeq) {
    bitmap.close();
    return false;
  }
  session.shownSeq = seq;
  if (session.canvas.width !== bitmap.width) session.canvas.width = bitmap.width;
  if (session.canvas.height !== bitmap.height) session.canvas.height = bitmap.height;
  session.view.transferFromImageBitmap(bitmap); // hands the pixels over, no copy
  return true;
}

/** Frames go to the worker as bitmaps at the working size, one waiting behind the one it runs, so
 *  it never waits for the page (while the page grabs the next frame). */
async function liveLoop(session) {
  const inFlight = new Set();
  countFrames(session);
  while (session.running) {
    if (document.hidden) {
      ui.video.pause();
      session.stream.getVideoTracks().forEach((t) => { t.enabled = false; }); // the camera rests too
      await waitVisible();
      session.stream.getVideoTracks().forEach((t) => { t.enabled = true; });
      if (session.running) await ui.video.play().catch(() => {});
      session.windowStart = performance.now();
      session.windowFrames = 0;
      continue;
    }
    if (!state.engine.canTakeFrame(session.direction)) {
      await Promise.race([...inFlight, new Promise((resolve) => setTimeout(resolve, 100))]); // or a lane got ready
      continue;
    }
    await nextVideoFrame(session);
    const { videoWidth, videoHeight } = ui.video;
    if (!session.running || !videoWidth) continue;
    session.sent = session.presented;
    session.sentAt = performance.now();
    const size = liveSize(videoWidth, videoHeight, liveSide(session));
    session.width = size.width;
    session.height = size.height;
    let bitmap;
    const grabStart = performance.now();
    try {
      bitmap = await createImageBitmap(ui.video, { resizeWidth: size.width, resizeHeight: size.height, resizeQuality: "medium" });
    } catch (e) {
      if (session.running) stopLive(`Live translation stopped: the camera gave no picture (${errorText(e)}).`, "error");
      break; // stopped while the frame was being grabbed
    }
    const seq = ++session.seq;
    const grabMs = performance.now() - grabStart;
    const sentAt = performance.now();
    const job = state.engine.frame(session.direction, bitmap, size.width, size.height, strength()).then((out) => {
      // only frames shown count (stopped: frames still in flight are not; an overtaken one is dropped)
      const shownAt = performance.now();
      if (!showFrame(session, seq, out.bitmap)) return;
      recordStages(session, { grab: grabMs, ...out.stages, show: performance.now() - shownAt },
                   shownAt - sentAt - sum(out.stages));
      session.runMs = session.runMs ? 0.9 * session.runMs + 0.1 * out.ms : out.ms; // the model's share of a frame
      ui.fps.dataset.runMs = session.runMs.toFixed(1);
      session.frames++;
      session.windowFrames++;
      ui.fps.dataset.frames = String(session.frames);
      liveTick(session);
    }, (e) => {
      if (session.running && !(e instanceof Cancelled)) stopLive(`Live translation stopped: ${errorText(e)}`, "error");
    }).finally(() => inFlight.delete(job));
    inFlight.add(job);
  }
}

export async function startLive() {
  if (state.live) return;
  if (ui.onServer.checked) {
    setStatus("Live translation needs the model on this device; it could not be loaded here. Take or choose a photo instead.", "error");
    return;
  }
  if (!navigator.mediaDevices?.getUserMedia) {
    setStatus("A live camera needs a secure (HTTPS) page in this browser; use “Take a photo” or “Choose a photo” instead.", "error");
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: "environment", width: { ideal: 1280 }, height: { ideal: 720 } }, audio: false });
  } catch (e) {
    const denied = e && (e.name === "NotAllowedError" || e.name === "SecurityError");
    setStatus(denied ? "Camera permission was denied; use “Take a photo” or “Choose a photo” instead."
                     : `No camera available (${errorText(e)}); use “Take a photo” or “Choose a photo” instead.`, "error");
    return;
  }
  if (state.progressTimer) cancelRun(); // a photo still translating is no longer wanted
  nextGeneration();
  clearResult();
  const direction = ui.direction.value;
  const canvas = document.createElement("canvas"); // shows the workers' bitmaps as they are
  canvas.id = "live-canvas";
  canvas.setAttribute("aria-label", "live translated camera");
  ui.liveView.querySelector("#live-canvas")?.remove();
  ui.liveView.prepend(canvas);
  state.live = { running: true, stream, direction, canvas, view: canvas.getContext("bitmaprenderer"), seq: 0, shownSeq: 0,
           frames: 0, windowFrames: 0, windowStart: performance.now(),
           step: LIVE_SIDES.indexOf(LIVE_START), width: 0, height: 0, presented: 0, sent: -1, sentAt: 0, windows: 0 };
  ui.video.srcObject = stream;
  ui.livePanel.hidden = false;
  ui.camera.disabled = true;
  showOriginal(false);
  ui.fps.textContent = "starting…";
  ui.fps.dataset.frames = "0";
  setStatus(`Live: ${state.labels[direction]}.`, "live");
  try {
    await ui.video.play();
    await state.engine.startLive(direction);
  } catch (e) {
    stopLive(`Live translation could not start: ${errorText(e)}`, "error");
    return;
  }
  liveLoop(state.live);
}

/** Stop the camera and the frames; the worker keeps its models for the next photo. */
export function stopLive(message = READY, kind = "ready") {
  if (!state.live) return;
  state.live.running = false;
  state.live.stream.getTracks().forEach((t) => t.stop());
  state.live = null;
  ui.video.srcObject = null;
  ui.livePanel.hidden = true;
  ui.camera.disabled = false;
  ui.fps.dataset.fps = "0";
  setStatus(message, kind);
}

export function showOriginal(on) {
  ui.liveOriginal.setAttribute("aria-pressed", String(on));
  ui.liveOriginal.textContent = on ? "Show translated" : "Show original";
  ui.liveView.classList.toggle("original", on);
}

/** Keep this frame: the full camera frame, translated like a photo (at photo quality). */
export async function snapshot() {
  const { videoWidth: w, videoHeight: h } = ui.video;
  if (!state.live || !w || !h) return;
  const canvas = new OffscreenCanvas(w, h);
  canvas.getContext("2d").drawImage(ui.video, 0, 0);
  const blob = await canvas.convertToBlob({ type: "image/png" });
  stopLive();
  handlePhoto(blob, "camera.png");
}
