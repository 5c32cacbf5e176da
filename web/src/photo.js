// The photo path: decode a photo, translate it on this device (the inference worker) or on the
// server, compose the result at the strength slider's value (at the photo's own size when it is
// larger than the working size), and save or share it. A newer photo, a cancel or the live camera
// make a photo's results stale (state.generation): a stale result never reaches the screen.
//
// A photo larger than the working size ("max side") comes back at its own size: a residual model's
// change is upsampled (bilinear) and added to the full-size photo, any other result is upscaled
// (imaging.js composeFull, in the worker); the strength slider then re-composes there.

import { Cancelled } from "./engine.js";
import { blendRgba, fitSize, isHeif, sizeText } from "./imaging.js";
import { predictsChange } from "./model.js";
import { isCurrent, nextGeneration, state } from "./state.js";
import { errorText, setStatus, strength, ui } from "./ui.js";

/** Decode `blob` as pocketgan's Python side reads it: EXIF orientation applied, no colour management. */
async function decode(blob) {
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

/** Show a full-size result from the worker (no copy: the ImageData wraps the buffer). */
function showFull(out, s) {
  if (ui.after.width !== out.width || ui.after.height !== out.height) {
    ui.after.width = out.width;
    ui.after.height = out.height;
  }
  ui.after.getContext("2d").putImageData(new ImageData(out.rgba, out.width, out.height), 0, 0);
  ui.after.dataset.strength = String(s);
}


/** The full-size result at the slider's strength, computed in the worker; moves of the slider
 *  while it runs are coalesced into one more run with the latest value. */
async function recompose() {
  if (state.composing) {
    state.composeAgain = true;
    return;
  }
  state.composing = true;
  const mine = state.generation;
  try {
    do {
      state.composeAgain = false;
      const s = strength();
      const out = await state.engine.compose(s);
      if (!isCurrent(mine) || !state.shown) return;
      showFull(out, s);
    } while (state.composeAgain);
  } catch (e) {
    if (isCurrent(mine) && !(e instanceof Cancelled)) setStatus(`Could not apply the strength: ${errorText(e)}`, "error");
  } finally {
    state.composing = false;
  }
}

/** Draw the photo on screen at the chosen strength (the model's result is kept at strength 1). */
function drawOutput() {
  if (state.shown.full) {
    recompose();
    return;
  }
  const { width, height } = ui.before;
  if (ui.after.width !== width || ui.after.height !== height) {
    ui.after.width = width;
    ui.after.height = height;
  }
  const image = new ImageData(width, height);
  blendRgba(state.shown.before, state.shown.after, strength(), image.data);
  ui.after.getContext("2d").putImageData(image, 0, 0);
  ui.after.dataset.strength = String(strength());
}

export function clearResult() {
  const hadFull = Boolean(state.shown?.full);
  state.shown = null;
  state.working = null;
  ui.result.hidden = true;
  ui.download.disabled = true;
  ui.share.disabled = true;
  ui.after.width = 0; // a stale translation must never be saved or compared
  ui.before.width = 0; // nor a full-size photo kept in memory
  ui.timing.textContent = "";
  if (hadFull) state.engine?.forget();
}

async function translateOnDevice(rgba, width, height, direction) {
  await state.engine.load(direction, state.card.models[direction].url);
  const out = await state.engine.run(direction, rgba.slice().buffer, width, height);
  state.msPerPixel = out.ms / (width * height);
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


/** The working state: a progress bar (an estimate from the last run's speed) and Cancel. */
function showProgress(what, pixels) {
  stopProgress();
  const start = performance.now();
  const estimate = state.msPerPixel * pixels;
  ui.progress.hidden = false;
  ui.progressBar.removeAttribute("value"); // indeterminate until there is an estimate
  const tick = () => {
    const elapsed = performance.now() - start;
    if (estimate > 0) ui.progressBar.value = Math.min(0.95, elapsed / estimate);
    setStatus(`${what}… ${(elapsed / 1000).toFixed(0)} s`, "working");
  };
  tick();
  state.progressTimer = setInterval(tick, 500);
}

export function stopProgress() {
  clearInterval(state.progressTimer);
  state.progressTimer = null;
  ui.progress.hidden = true;
}


export function cancelRun() {
  nextGeneration(); // whatever answers now is stale
  state.abortServer?.abort();
  state.engine.cancel();
  clearResult();
  stopProgress();
  setStatus("Cancelled. Take or choose a photo.", "cancelled");
}

export async function handlePhoto(blob, name) {
  const mine = nextGeneration();
  state.lastPhoto = { blob, name };
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
    if (isCurrent(mine)) setStatus(why, "error");
    return;
  }
  const original = { width: source.width, height: source.height }; // EXIF orientation applied
  if (!isCurrent(mine)) {
    source.close();
    return;
  }
  const budget = state.card.max_pixels || 0;
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
  const residual = predictsChange(direction);
  showProgress(`Translating ${sizeText(size.width, size.height)}`, size.width * size.height);
  try {
    let out;
    if (ui.onServer.checked) {
      state.abortServer = new AbortController();
      out = await translateOnServer(direction, state.abortServer.signal, working);
    } else {
      out = await translateOnDevice(before, size.width, size.height, direction);
    }
    if (!isCurrent(mine)) return;
    let how = "";
    if (size.scaled) {
      setStatus(`Making the ${sizeText(original.width, original.height)} picture…`, "working");
      paint(ui.before, source, original.width, original.height);
      const s = strength();
      const full = await state.engine.fullres(source, before, out.rgba, size.width, size.height, residual, s);
      if (!isCurrent(mine)) return;
      state.shown = { before, after: out.rgba, full: { width: full.width, height: full.height } };
      showFull(full, s);
      if (strength() !== s) recompose(); // the slider moved while it was made
      how = residual
        ? `, its change applied to the full ${sizeText(original.width, original.height)} photo (bilinear)`
        : `, result upscaled to ${sizeText(original.width, original.height)} (this model does not predict a change)`;
    } else {
      state.shown = { before, after: out.rgba, full: null };
      drawOutput();
    }
    state.working = { width: size.width, height: size.height, before, after: out.rgba };
    state.current = { name: name.replace(/\.[^.]*$/, "") || "photo", direction, jpeg: isJpeg(blob, name) };
    ui.result.hidden = false;
    ui.download.disabled = false;
    ui.share.disabled = false;
    ui.timing.textContent = `Inference ${out.ms.toFixed(0)} ms ${out.where} · processed ${sizeText(size.width, size.height)}` +
      `${how} (original ${sizeText(original.width, original.height)})`;
    setStatus(`Done: ${state.labels[direction]} in ${(out.ms / 1000).toFixed(1)} s.`, "done");
  } catch (e) {
    if (!isCurrent(mine) || e instanceof Cancelled || e?.name === "AbortError") return;
    clearResult();
    setStatus(`Translation failed: ${errorText(e)}`, "error");
  } finally {
    source.close(); // harmless when it went to the worker
    if (isCurrent(mine)) stopProgress();
  }
}

function isJpeg(blob, name) {
  return /^image\/jpe?g$/i.test(blob.type || "") || /\.jpe?g$/i.test(name || "");
}

// ---------------------------------------------------------------- save and share

/** The picture on screen as a file: JPEG (quality 0.92) for a JPEG photo, PNG otherwise. */
async function resultFile() {
  const [type, ext] = state.current.jpeg ? ["image/jpeg", "jpg"] : ["image/png", "png"];
  const blob = await canvasBlob(ui.after, type, state.current.jpeg ? 0.92 : undefined);
  return new File([blob], `${state.current.name}-${state.current.direction}.${ext}`, { type });
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

export async function download() {
  try {
    saveFile(await resultFile());
  } catch (e) {
    setStatus(`Could not save the picture: ${errorText(e)}`, "error");
  }
}

/** Share the picture (the phone's share sheet) where the browser can share files, else save it. */
export async function share() {
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

// ---------------------------------------------------------------- strength

/** The strength slider moved: say its value, and redraw the photo on screen at it (once per frame). */
export function onStrength() {
  ui.strengthValue.textContent = `${Math.round(strength() * 100)}%`;
  if (!state.shown || state.blendQueued) return; // live frames pick the value up themselves
  state.blendQueued = true;
  requestAnimationFrame(() => {
    state.blendQueued = false;
    if (state.shown) drawOutput();
  });
}
