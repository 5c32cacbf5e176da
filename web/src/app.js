// pocketgan web app: pick or shoot a photo, translate it on this device, compare, download.
//
// The model card comes from api/model (or the service worker's copy when offline); the ONNX file
// runs in the browser (runtime.js). If the model cannot run here, the page says so and offers the
// server's POST api/translate instead.

import { cropRgb, fitSize, isHeif, padRgb, rgbaToRgb, rgbToRgba, sizeText } from "./imaging.js";
import { loadTranslator } from "./runtime.js";

window.pocketganStarted = true;

const $ = (id) => document.getElementById(id);
const ui = {
  status: $("status"), take: $("take"), file: $("file"), camera: $("camera"), cameraPanel: $("camera-panel"), video: $("video"),
  shoot: $("shoot"), cameraStop: $("camera-stop"), direction: $("direction"), maxSide: $("max-side"),
  onServer: $("on-server"), result: $("result"), compare: $("compare"), before: $("before"), after: $("after"),
  slider: $("slider"), timing: $("timing"), download: $("download"), modelInfo: $("model-info"),
};
const LABELS = { AtoB: "A → B", BtoA: "B → A" };

let card = null; // api/model
const translators = new Map(); // direction -> Promise<Translator>
let current = { name: "photo", direction: "AtoB" }; // what is on screen
let generation = 0; // a newer photo makes older results stale
let lastPhoto = null; // { blob, name } to re-run on option changes
let stream = null;

function setStatus(message, state = "info") {
  ui.status.textContent = message;
  ui.status.className = `status ${state === "error" ? "error" : ""}`.trim();
  ui.status.dataset.state = state;
}

function errorText(e) {
  return (e && (e.message || String(e))) || "unknown error";
}

// ---------------------------------------------------------------- model

async function fetchCard() {
  const response = await fetch("api/model");
  if (!response.ok) throw new Error(`api/model: HTTP ${response.status}`);
  return response.json();
}

function translatorFor(direction) {
  if (!translators.has(direction)) {
    const promise = loadTranslator(card.models[direction].url);
    promise.catch(() => translators.delete(direction)); // allow a retry later
    translators.set(direction, promise);
  }
  return translators.get(direction);
}

async function prepareDirection(direction) {
  if (ui.onServer.checked) return true;
  setStatus(`Loading the ${LABELS[direction]} model…`, "loading");
  try {
    const t = await translatorFor(direction);
    setStatus(`Ready: runs on this device (${t.backend}). Take or choose a photo.`, "ready");
    return true;
  } catch (e) {
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
      return img;
    } finally {
      URL.revokeObjectURL(url);
    }
  }
}

function drawInput(source, width, height) {
  ui.before.width = width;
  ui.before.height = height;
  const ctx = ui.before.getContext("2d", { willReadFrequently: true });
  ctx.fillStyle = "#fff"; // transparency over white, like pocketgan's load_image
  ctx.fillRect(0, 0, width, height);
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(source, 0, 0, width, height);
  return rgbaToRgb(ctx.getImageData(0, 0, width, height).data, width, height);
}

function drawOutput(rgb, width, height) {
  ui.after.width = width;
  ui.after.height = height;
  ui.after.getContext("2d").putImageData(new ImageData(rgbToRgba(rgb, width, height), width, height), 0, 0);
}

async function translateOnDevice(rgb, width, height, direction) {
  const t = await translatorFor(direction);
  const padded = padRgb(rgb, width, height);
  const out = await t.run(padded.data, padded.width, padded.height);
  return { rgb: cropRgb(out.rgb, padded.width, width, height), ms: out.ms, where: `on this device (${t.backend})` };
}

async function translateOnServer(direction) {
  const png = await new Promise((resolve) => ui.before.toBlob(resolve, "image/png"));
  const form = new FormData();
  form.append("image", png, "photo.png");
  const start = performance.now();
  const response = await fetch(`api/translate?direction=${direction}`, { method: "POST", body: form });
  if (!response.ok) {
    let message = `HTTP ${response.status}`;
    try { message = (await response.json()).error || message; } catch { /* not JSON */ }
    throw new Error(`server: ${message}`);
  }
  const bitmap = await createImageBitmap(await response.blob(), { colorSpaceConversion: "none" });
  const ms = Number(response.headers.get("X-Inference-Ms")) || performance.now() - start;
  const scratch = new OffscreenCanvas(bitmap.width, bitmap.height).getContext("2d", { willReadFrequently: true });
  scratch.drawImage(bitmap, 0, 0);
  return { rgb: rgbaToRgb(scratch.getImageData(0, 0, bitmap.width, bitmap.height).data, bitmap.width, bitmap.height),
           ms, where: "on the server" };
}

async function handlePhoto(blob, name) {
  const mine = ++generation;
  lastPhoto = { blob, name };
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
    setStatus(why, "error");
    return;
  }
  const original = { width: source.naturalWidth || source.width, height: source.naturalHeight || source.height };
  const size = fitSize(original.width, original.height, maxSide);
  const rgb = drawInput(source, size.width, size.height);
  source.close?.();
  setStatus(`Translating ${sizeText(size.width, size.height)}…`, "working");
  try {
    const out = ui.onServer.checked ? await translateOnServer(direction)
                                    : await translateOnDevice(rgb, size.width, size.height, direction);
    if (mine !== generation) return;
    drawOutput(out.rgb, size.width, size.height);
    current = { name: name.replace(/\.[^.]*$/, "") || "photo", direction };
    ui.result.hidden = false;
    ui.download.disabled = false;
    const scaled = size.scaled ? `, downscaled from ${sizeText(original.width, original.height)}` : "";
    ui.timing.textContent = `Inference ${out.ms.toFixed(0)} ms ${out.where} · processed ${sizeText(size.width, size.height)}` +
      ` (original ${sizeText(original.width, original.height)}${scaled})`;
    setStatus(`Done: ${LABELS[direction]}.`, "done");
  } catch (e) {
    if (mine !== generation) return;
    setStatus(`Translation failed: ${errorText(e)}`, "error");
  }
}

// ---------------------------------------------------------------- camera

async function startCamera() {
  if (!navigator.mediaDevices?.getUserMedia) {
    setStatus("A live camera needs a secure (HTTPS) page in this browser; use “Take a photo” or “Choose a photo” instead.", "error");
    return;
  }
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
  } catch (e) {
    const denied = e && (e.name === "NotAllowedError" || e.name === "SecurityError");
    setStatus(denied ? "Camera permission was denied; use “Take a photo” or “Choose a photo” instead."
                     : `No camera available (${errorText(e)}); use “Take a photo” or “Choose a photo” instead.`, "error");
    return;
  }
  ui.video.srcObject = stream;
  ui.cameraPanel.hidden = false;
  await ui.video.play().catch(() => {});
}

function stopCamera() {
  stream?.getTracks().forEach((t) => t.stop());
  stream = null;
  ui.video.srcObject = null;
  ui.cameraPanel.hidden = true;
}

async function capture() {
  const { videoWidth: w, videoHeight: h } = ui.video;
  if (!w || !h) return;
  const canvas = new OffscreenCanvas(w, h);
  canvas.getContext("2d").drawImage(ui.video, 0, 0);
  const blob = await canvas.convertToBlob({ type: "image/png" });
  stopCamera();
  handlePhoto(blob, "camera.png");
}

// ---------------------------------------------------------------- wiring

function download() {
  ui.after.toBlob((blob) => {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = `${current.name}-${current.direction}.png`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  }, "image/png");
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

async function main() {
  registerServiceWorker();
  for (const input of [ui.take, ui.file]) {
    input.addEventListener("change", () => {
      const file = input.files[0];
      if (file) handlePhoto(file, file.name || "photo");
      input.value = ""; // choosing the same file again still fires "change"
    });
  }
  ui.camera.addEventListener("click", startCamera);
  ui.cameraStop.addEventListener("click", stopCamera);
  ui.shoot.addEventListener("click", capture);
  ui.download.addEventListener("click", download);
  ui.slider.addEventListener("input", () => ui.compare.style.setProperty("--split", `${ui.slider.value}%`));
  const rerun = () => lastPhoto && handlePhoto(lastPhoto.blob, lastPhoto.name);
  ui.maxSide.addEventListener("change", rerun);
  ui.direction.addEventListener("change", async () => { await prepareDirection(ui.direction.value); rerun(); });
  ui.onServer.addEventListener("change", async () => { await prepareDirection(ui.direction.value); rerun(); });

  try {
    card = await fetchCard();
  } catch (e) {
    setStatus(`Could not get the model description from the server (${errorText(e)}). Check the connection and reload.`, "error");
    return;
  }
  ui.direction.replaceChildren(...card.directions.map((d) => new Option(LABELS[d] || d, d)));
  ui.direction.disabled = card.directions.length < 2;
  const preset = String(card.max_side ?? 1024);
  if (![...ui.maxSide.options].some((o) => o.value === preset)) {
    ui.maxSide.add(new Option(preset === "0" ? "full size" : `${preset} px`, preset), 0);
  }
  ui.maxSide.value = preset;
  ui.modelInfo.textContent = describe(card);
  await prepareDirection(ui.direction.value);
}

main().catch((e) => setStatus(`The app failed to start: ${errorText(e)}`, "error"));
