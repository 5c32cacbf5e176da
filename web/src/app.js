// pocketgan web app: pick or shoot a photo, or point the live camera, translate on this device,
// compare, save.
//
// The model card comes from api/model (or the service worker's copy when offline); the ONNX file
// runs in a worker (engine.js, worker.js, runtime.js), so the page never freezes and a long run can
// be cancelled. If the model cannot run here, the page says so and offers the server's
// POST api/translate instead.

import { Cancelled, Engine } from "./engine.js";
import { blendRgba, fitSize, isHeif, liveSize, sizeText } from "./imaging.js";

// A photo larger than the working size ("max side") comes back at its own size: a residual model's
// change is upsampled (bilinear) and added to the full-size photo, any other result is upscaled
// (imaging.js composeFull, in the worker); the strength slider then re-composes there.

window.pocketganStarted = true;

const $ = (id) => document.getElementById(id);
const ui = {
  status: $("status"), progress: $("progress"), progressBar: $("progress-bar"), cancel: $("cancel"),
  take: $("take"), file: $("file"), camera: $("camera"), livePanel: $("live-panel"), liveView: $("live-view"),
  video: $("video"), fps: $("fps"), snapshot: $("snapshot"), liveOriginal: $("live-original"), liveStop: $("live-stop"),
  direction: $("direction"), strength: $("strength"), strengthValue: $("strength-value"), maxSide: $("max-side"),
  liveSize: $("live-size"), onServer: $("on-server"), result: $("result"), compare: $("compare"), before: $("before"),
  after: $("after"), slider: $("slider"), timing: $("timing"), download: $("download"), share: $("share"), engine: $("engine"),
  modelInfo: $("model-info"),
};
const MODEL_CACHE = "pocketgan-models"; // shared with the service worker (sw.js)
const LIVE_SIDES = [128, 160, 192, 224, 256, 320, 384, 448, 512];
const LIVE_START = 256;
const CAMERA_FRAME_MS = 1000 / 30;

let card = null; // api/model
let engine = null;
let labels = { AtoB: "A → B", BtoA: "B → A" };
let current = { name: "photo", direction: "AtoB", jpeg: false }; // what is on screen
// the photo on screen: { before, after: RGBA at the working size (after at strength 1), full: null, or
// { width, height } when the worker composes the full-size result }
let shown = null;
let generation = 0; // a newer photo makes older results stale
let lastPhoto = null; // { blob, name } to re-run on option changes
let msPerPixel = 0; // of the last run on this device, for the progress estimate
let live = null; // the running live session

function setStatus(message, state = "info") {
  ui.status.textContent = message;
  ui.status.className = `status ${state === "error" ? "error" : ""}`.trim();
  ui.status.dataset.state = state;
}

function errorText(e) {
  return (e && (e.message || String(e))) || "unknown error";
}

const strength = () => Number(ui.strength.value);

// ---------------------------------------------------------------- model

async function fetchCard() {
  const response = await fetch("api/model");
  if (!response.ok) throw new Error(`api/model: HTTP ${response.status}`);
  return response.json();
}

function engineText(t) {
  const how = t.backend === "WebGPU" ? "WebGPU (the graphics chip)"
    : `WebAssembly (the processor, ${t.threads} thread${t.threads === 1 ? "" : "s"})`;
  return `Runs on this device with ${how}.`;
}

async function prepareDirection(direction) {
  if (ui.onServer.checked) return true;
  setStatus(`Getting the ${labels[direction]} model ready…`, "loading");
  try {
    const t = await engine.load(direction, card.models[direction].url);
    ui.engine.textContent = engineText(t);
    ui.engine.dataset.backend = t.backend;
    ui.engine.dataset.threads = String(t.threads);
    setStatus("Ready. Take or choose a photo, or go live.", "ready");
    return true;
  } catch (e) {
    if (e instanceof Cancelled) return false;
    ui.onServer.checked = true;
    setStatus(`The model could not be loaded on this device (${errorText(e)}). Photos will be translated on the server instead.`, "error");
    return false;
  }
}

// ---------------------------------------------------------------- images

async function decode(blob) {
  // Decode with the file's EXIF orientation and without colour management, as pocketgan's Python side reads it.
  try {
    return await createImageBitmap(blob, { imageOrientation: "from-image", colorSpaceConversion: "none", premultiplyAlpha: "none" });
  } catch {
    // Some browsers reject the options; an <img> decodes whatever the browser can show.
    const url = URL.createObjectURL(blob);
    try {
      const img = new Image();
      img.src = url;
      await img.decode();
      return await createImageBitmap(img);
    } finally {
      URL.revokeObjectURL(url);
    }
  }
}

/** Draw `source` on `canvas` at `width`×`height` (transparency over white, like pocketgan's
 *  load_image) and return the context. */
function paint(canvas, source, width, height) {
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, width, height);
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(source, 0, 0, width, height);
  return ctx;
}

/** The network's input: `source` at the working size on `canvas`, as RGBA. */
function drawInput(source, width, height, canvas = ui.before) {
  return paint(canvas, source, width, height).getImageData(0, 0, width, height).data;
}

/** True when the model of `direction` predicts a change to the photo (a residual mobile generator,
 *  as /api/model's generators say): its change is applied to the full-size photo. */
function isResidual(direction) {
  const g = card?.generators?.[direction === "BtoA" ? "G_B" : "G_A"];
  return Boolean(g && g.residual && /^mobile_resnet/.test(g.name || ""));
}

/** Show a full-size result from the worker (no copy: the ImageData wraps the buffer). */
function showFull(out, s) {
  if (ui.after.width !== out.width || ui.after.height !== out.height) {
    ui.after.width = out.width;
    ui.after.height = out.height;
  }
  ui.after.getContext("2d").putImageData(new ImageData(out.rgba, out.width, out.height), 0, 0);
  ui.after.dataset.strength = String(s);
}

let composing = false; // a full-size re-compose is in flight
let composeAgain = false; // the slider moved meanwhile

/** The full-size result at the slider's strength, computed in the worker; moves of the slider
 *  while it runs are coalesced into one more run with the latest value. */
async function recompose() {
  if (composing) {
    composeAgain = true;
    return;
  }
  composing = true;
  const mine = generation;
  try {
    do {
      composeAgain = false;
      const s = strength();
      const out = await engine.compose(s);
      if (mine !== generation || !shown) return;
      showFull(out, s);
    } while (composeAgain);
  } catch (e) {
    if (mine === generation && !(e instanceof Cancelled)) setStatus(`Could not apply the strength: ${errorText(e)}`, "error");
  } finally {
    composing = false;
  }
}

/** Draw the photo on screen at the chosen strength (the model's result is kept at strength 1). */
function drawOutput() {
  if (shown.full) {
    recompose();
    return;
  }
  const { width, height } = ui.before;
  if (ui.after.width !== width || ui.after.height !== height) {
    ui.after.width = width;
    ui.after.height = height;
  }
  const image = new ImageData(width, height);
  blendRgba(shown.before, shown.after, strength(), image.data);
  ui.after.getContext("2d").putImageData(image, 0, 0);
  ui.after.dataset.strength = String(strength());
}

function clearResult() {
  const hadFull = Boolean(shown?.full);
  shown = null;
  window.pocketganWorking = null;
  ui.result.hidden = true;
  ui.download.disabled = true;
  ui.share.disabled = true;
  ui.after.width = 0; // a stale translation must never be saved or compared
  ui.before.width = 0; // nor a full-size photo kept in memory
  ui.timing.textContent = "";
  if (hadFull) engine?.forget();
}

async function translateOnDevice(rgba, width, height, direction) {
  await engine.load(direction, card.models[direction].url);
  const out = await engine.run(direction, rgba.slice().buffer, width, height);
  msPerPixel = out.ms / (width * height);
  return { rgba: out.rgba, ms: out.ms, where: "on this device" };
}

/** A canvas (on screen or offscreen) as an encoded image. */
function canvasBlob(canvas, type = "image/png", quality = undefined) {
  if (canvas.convertToBlob) return canvas.convertToBlob({ type, quality });
  return new Promise((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error("the picture could not be encoded"))), type, quality));
}

async function translateOnServer(direction, signal, input = ui.before) {
  const png = await canvasBlob(input, "image/png");
  const form = new FormData();
  form.append("image", png, "photo.png");
  const start = performance.now();
  // strength 1: the page blends, the same rule as on the device, so the slider answers at once
  const response = await fetch(`api/translate?direction=${direction}&strength=1`, { method: "POST", body: form, signal });
  if (!response.ok) {
    let message = `HTTP ${response.status}`;
    try { message = (await response.json()).error || message; } catch { /* not JSON */ }
    throw new Error(`server: ${message}`);
  }
  const bitmap = await createImageBitmap(await response.blob(), { colorSpaceConversion: "none" });
  const ms = Number(response.headers.get("X-Inference-Ms")) || performance.now() - start;
  const scratch = new OffscreenCanvas(bitmap.width, bitmap.height).getContext("2d", { willReadFrequently: true });
  scratch.drawImage(bitmap, 0, 0);
  return { rgba: scratch.getImageData(0, 0, bitmap.width, bitmap.height).data, ms, where: "on the server" };
}

let progressTimer = null;

/** The working state: a progress bar (an estimate from the last run's speed) and Cancel. */
function showProgress(what, pixels) {
  stopProgress();
  const start = performance.now();
  const estimate = msPerPixel * pixels;
  ui.progress.hidden = false;
  ui.progressBar.removeAttribute("value"); // indeterminate until there is an estimate
  const tick = () => {
    const elapsed = performance.now() - start;
    if (estimate > 0) ui.progressBar.value = Math.min(0.95, elapsed / estimate);
    setStatus(`${what}… ${(elapsed / 1000).toFixed(0)} s`, "working");
  };
  tick();
  progressTimer = setInterval(tick, 500);
}

function stopProgress() {
  clearInterval(progressTimer);
  progressTimer = null;
  ui.progress.hidden = true;
}

let abortServer = null;

function cancelRun() {
  generation++; // whatever answers now is stale
  abortServer?.abort();
  engine.cancel();
  clearResult();
  stopProgress();
  setStatus("Cancelled. Take or choose a photo.", "cancelled");
}

async function handlePhoto(blob, name) {
  const mine = ++generation;
  lastPhoto = { blob, name };
  clearResult();
  const direction = ui.direction.value;
  const maxSide = Number(ui.maxSide.value);
  setStatus(`Reading ${name}…`, "working");
  let source;
  try {
    source = await decode(blob);
  } catch {
    const why = isHeif(blob)
      ? `${name} is a HEIC/HEIF photo, which this browser cannot decode. Share or export it as JPEG (iPhone: Settings › Camera › Formats › Most Compatible).`
      : `${name} could not be decoded: it is not an image this browser can read (corrupt, or an unsupported format).`;
    if (mine === generation) setStatus(why, "error");
    return;
  }
  const original = { width: source.width, height: source.height }; // EXIF orientation applied
  if (mine !== generation) {
    source.close();
    return;
  }
  const budget = card.max_pixels || 0;
  if (budget && original.width * original.height > budget) {
    source.close();
    const mp = (n) => (n / 1e6).toFixed(1);
    setStatus(`${name} is ${sizeText(original.width, original.height)} (${mp(original.width * original.height)} MP), ` +
      `more than this app takes (${mp(budget)} MP); use a smaller photo.`, "error");
    return;
  }
  const size = fitSize(original.width, original.height, maxSide);
  // a photo larger than the working size is translated from an offscreen copy at the working size
  // and shown (and saved) at its own size
  const working = size.scaled ? new OffscreenCanvas(size.width, size.height) : ui.before;
  const before = drawInput(source, size.width, size.height, working);
  if (!size.scaled) source.close();
  const residual = isResidual(direction);
  showProgress(`Translating ${sizeText(size.width, size.height)}`, size.width * size.height);
  try {
    let out;
    if (ui.onServer.checked) {
      abortServer = new AbortController();
      out = await translateOnServer(direction, abortServer.signal, working);
    } else {
      out = await translateOnDevice(before, size.width, size.height, direction);
    }
    if (mine !== generation) return;
    let how = "";
    if (size.scaled) {
      setStatus(`Making the ${sizeText(original.width, original.height)} picture…`, "working");
      paint(ui.before, source, original.width, original.height);
      const s = strength();
      const full = await engine.fullres(source, before, out.rgba, size.width, size.height, residual, s);
      if (mine !== generation) return;
      shown = { before, after: out.rgba, full: { width: full.width, height: full.height } };
      showFull(full, s);
      if (strength() !== s) recompose(); // the slider moved while it was made
      how = residual
        ? `, its change applied to the full ${sizeText(original.width, original.height)} photo (bilinear)`
        : `, result upscaled to ${sizeText(original.width, original.height)} (this model does not predict a change)`;
    } else {
      shown = { before, after: out.rgba, full: null };
      drawOutput();
    }
    window.pocketganWorking = { width: size.width, height: size.height, before, after: out.rgba }; // for tests
    current = { name: name.replace(/\.[^.]*$/, "") || "photo", direction, jpeg: isJpeg(blob, name) };
    ui.result.hidden = false;
    ui.download.disabled = false;
    ui.share.disabled = false;
    ui.timing.textContent = `Inference ${out.ms.toFixed(0)} ms ${out.where} · processed ${sizeText(size.width, size.height)}` +
      `${how} (original ${sizeText(original.width, original.height)})`;
    setStatus(`Done: ${labels[direction]} in ${(out.ms / 1000).toFixed(1)} s.`, "done");
  } catch (e) {
    if (mine !== generation || e instanceof Cancelled || e?.name === "AbortError") return;
    clearResult();
    setStatus(`Translation failed: ${errorText(e)}`, "error");
  } finally {
    source.close(); // harmless when it went to the worker
    if (mine === generation) stopProgress();
  }
}

function isJpeg(blob, name) {
  return /^image\/jpe?g$/i.test(blob.type || "") || /\.jpe?g$/i.test(name || "");
}

// ---------------------------------------------------------------- live camera

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
  ui.fps.dataset.workers = String(engine.liveWorkers(session.direction));
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
    if (!engine.canTakeFrame(session.direction)) {
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
    try {
      bitmap = await createImageBitmap(ui.video, { resizeWidth: size.width, resizeHeight: size.height, resizeQuality: "medium" });
    } catch (e) {
      if (session.running) stopLive(`Live translation stopped: the camera gave no picture (${errorText(e)}).`, "error");
      break; // stopped while the frame was being grabbed
    }
    const seq = ++session.seq;
    const job = engine.frame(session.direction, bitmap, size.width, size.height, strength()).then((out) => {
      // only frames shown count (stopped: frames still in flight are not; an overtaken one is dropped)
      if (!showFrame(session, seq, out.bitmap)) return;
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

async function startLive() {
  if (live) return;
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
  if (progressTimer) cancelRun(); // a photo still translating is no longer wanted
  generation++;
  clearResult();
  const direction = ui.direction.value;
  const canvas = document.createElement("canvas"); // shows the workers' bitmaps as they are
  canvas.id = "live-canvas";
  canvas.setAttribute("aria-label", "live translated camera");
  ui.liveView.querySelector("#live-canvas")?.remove();
  ui.liveView.prepend(canvas);
  live = { running: true, stream, direction, canvas, view: canvas.getContext("bitmaprenderer"), seq: 0, shownSeq: 0,
           frames: 0, windowFrames: 0, windowStart: performance.now(),
           step: LIVE_SIDES.indexOf(LIVE_START), width: 0, height: 0, presented: 0, sent: -1, sentAt: 0, windows: 0 };
  ui.video.srcObject = stream;
  ui.livePanel.hidden = false;
  ui.camera.disabled = true;
  showOriginal(false);
  ui.fps.textContent = "starting…";
  ui.fps.dataset.frames = "0";
  setStatus(`Live: ${labels[direction]}.`, "live");
  try {
    await ui.video.play();
    await engine.startLive(direction);
  } catch (e) {
    stopLive(`Live translation could not start: ${errorText(e)}`, "error");
    return;
  }
  liveLoop(live);
}

/** Stop the camera and the frames; the worker keeps its models for the next photo. */
function stopLive(message = "Ready. Take or choose a photo, or go live.", state = "ready") {
  if (!live) return;
  live.running = false;
  live.stream.getTracks().forEach((t) => t.stop());
  live = null;
  ui.video.srcObject = null;
  ui.livePanel.hidden = true;
  ui.camera.disabled = false;
  ui.fps.dataset.fps = "0";
  setStatus(message, state);
}

function showOriginal(on) {
  ui.liveOriginal.setAttribute("aria-pressed", String(on));
  ui.liveOriginal.textContent = on ? "Show translated" : "Show original";
  ui.liveView.classList.toggle("original", on);
}

/** Keep this frame: the full camera frame, translated like a photo (at photo quality). */
async function snapshot() {
  const { videoWidth: w, videoHeight: h } = ui.video;
  if (!live || !w || !h) return;
  const canvas = new OffscreenCanvas(w, h);
  canvas.getContext("2d").drawImage(ui.video, 0, 0);
  const blob = await canvas.convertToBlob({ type: "image/png" });
  stopLive();
  handlePhoto(blob, "camera.png");
}

// ---------------------------------------------------------------- wiring

/** The picture on screen as a file: JPEG (quality 0.92) for a JPEG photo, PNG otherwise. */
async function resultFile() {
  const [type, ext] = current.jpeg ? ["image/jpeg", "jpg"] : ["image/png", "png"];
  const blob = await canvasBlob(ui.after, type, current.jpeg ? 0.92 : undefined);
  return new File([blob], `${current.name}-${current.direction}.${ext}`, { type });
}

function saveFile(file) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(file);
  a.download = file.name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

async function download() {
  try {
    saveFile(await resultFile());
  } catch (e) {
    setStatus(`Could not save the picture: ${errorText(e)}`, "error");
  }
}

/** Share the picture (the phone's share sheet) where the browser can share files, else save it. */
async function share() {
  try {
    const file = await resultFile();
    if (navigator.canShare?.({ files: [file] })) {
      try {
        await navigator.share({ files: [file], title: file.name });
        return;
      } catch (e) {
        if (e?.name === "AbortError") return; // the person closed the share sheet
      }
    }
    saveFile(file);
  } catch (e) {
    setStatus(`Could not share the picture: ${errorText(e)}`, "error");
  }
}

function describe(model) {
  const parts = Object.entries(model.generators || {}).map(([slot, g]) => `${slot}: ${g.name}${g.ngf ? ` ngf ${g.ngf}` : ""}`);
  const mb = Object.values(model.models).reduce((n, m) => n + m.bytes, 0) / 1e6;
  return `Model ${model.name} (${parts.join(", ") || "exported ONNX"}), ${mb.toFixed(1)} MB to download once.`;
}

function registerServiceWorker() {
  if (!("serviceWorker" in navigator) || !window.isSecureContext) return;
  navigator.serviceWorker.register("sw.js").catch(() => { /* the page works without it, just not offline */ });
}

let blendQueued = false;

function onStrength() {
  ui.strengthValue.textContent = `${Math.round(strength() * 100)}%`;
  if (!shown || blendQueued) return; // live frames pick the value up themselves
  blendQueued = true;
  requestAnimationFrame(() => {
    blendQueued = false;
    if (shown) drawOutput();
  });
}

function applyCard() {
  labels = { ...labels, ...(card.direction_names || {}) };
  ui.direction.replaceChildren(...card.directions.map((d) => new Option(labels[d] || d, d)));
  ui.direction.disabled = card.directions.length < 2;
  const preset = String(card.max_side ?? 1024);
  if (![...ui.maxSide.options].some((o) => o.value === preset)) {
    ui.maxSide.add(new Option(preset === "0" ? "full size" : `${preset} px`, preset), 0);
  }
  ui.maxSide.value = preset;
  if (card.max_strength) ui.strength.max = String(card.max_strength);
  if (card.strength !== undefined) ui.strength.value = String(card.strength);
  onStrength();
  ui.modelInfo.textContent = describe(card);
}

function wire() {
  for (const input of [ui.take, ui.file]) {
    input.addEventListener("change", () => {
      const file = input.files[0];
      if (file) {
        stopLive();
        handlePhoto(file, file.name || "photo");
      }
      input.value = ""; // choosing the same file again still fires "change"
    });
  }
  ui.camera.addEventListener("click", startLive);
  ui.liveStop.addEventListener("click", () => stopLive());
  ui.liveOriginal.addEventListener("click", () => showOriginal(ui.liveOriginal.getAttribute("aria-pressed") !== "true"));
  ui.snapshot.addEventListener("click", snapshot);
  ui.cancel.addEventListener("click", cancelRun);
  ui.download.addEventListener("click", download);
  ui.share.addEventListener("click", share);
  ui.strength.addEventListener("input", onStrength);
  ui.slider.addEventListener("input", () => ui.compare.style.setProperty("--split", `${ui.slider.value}%`));
  const rerun = () => lastPhoto && !live && handlePhoto(lastPhoto.blob, lastPhoto.name);
  ui.maxSide.addEventListener("change", rerun);
  ui.direction.addEventListener("change", async () => {
    const wasLive = Boolean(live);
    stopLive();
    await prepareDirection(ui.direction.value);
    if (wasLive) startLive();
    else rerun();
  });
  ui.onServer.addEventListener("change", async () => { await prepareDirection(ui.direction.value); rerun(); });
}

async function main() {
  wire();
  try {
    card = await fetchCard();
  } catch (e) {
    setStatus(`Could not get the model description from the server (${errorText(e)}). Check the connection and reload.`, "error");
    return;
  }
  const query = new URLSearchParams(location.search); // ?threads=N&workers=N: for measuring
  engine = new Engine(MODEL_CACHE, { threads: Number(query.get("threads")) || 0, liveWorkers: Number(query.get("workers")) || 0 });
  applyCard();
  await prepareDirection(ui.direction.value);
  registerServiceWorker(); // after the model: it then finds the runtime and model cached, not downloading them again
}

main().catch((e) => setStatus(`The app failed to start: ${errorText(e)}`, "error"));
