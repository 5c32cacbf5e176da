// pocketgan web app: pick or shoot a photo, or point the live camera, translate on this device,
// compare, save.
//
// This module wires the page's events to the modules that do the work, around one state object
// (state.js):
//   model.js   the model card, the engine choice (choose.js: measured, remembered or ?engine=),
//              loading a direction's model; the server's api/translate when it cannot run here
//   photo.js   a photo: decode, translate (on this device or the server), strength, save, share
//   live.js    the live camera loop
// The model runs in workers (engine.js, worker.js, runtime.js), so the page never freezes and a
// long run can be cancelled.

import { showOriginal, snapshot, startLive, stopLive } from "./live.js";
import { chooseBackend, describe, fetchCard, prepareDirection, startEngine } from "./model.js";
import { cancelRun, download, handlePhoto, onStrength, share } from "./photo.js";
import { state } from "./state.js";
import { errorText, setStatus, ui } from "./ui.js";

window.pocketganStarted = true; // index.html's error handler: the app module did load
window.pocketgan = state; // for tests (tests/test_app_browser.py reads pocketgan.working)

function registerServiceWorker() {
  if (!("serviceWorker" in navigator) || !window.isSecureContext) return;
  navigator.serviceWorker.register("sw.js").catch(() => { /* the page works without it, just not offline */ });
}

/** Fill the choices from the model card: directions and their names, max side, strength. */
function applyCard() {
  const { card } = state;
  state.labels = { ...state.labels, ...(card.direction_names || {}) };
  ui.direction.replaceChildren(...card.directions.map((d) => new Option(state.labels[d] || d, d)));
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
  const rerun = () => state.lastPhoto && !state.live && handlePhoto(state.lastPhoto.blob, state.lastPhoto.name);
  ui.maxSide.addEventListener("change", rerun);
  ui.direction.addEventListener("change", async () => {
    const wasLive = Boolean(state.live);
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
    state.card = await fetchCard();
  } catch (e) {
    setStatus(`Could not get the model description from the server (${errorText(e)}). Check the connection and reload.`, "error");
    return;
  }
  const query = new URLSearchParams(location.search); // ?threads=N&workers=N&engine=webgpu|wasm: for measuring
  startEngine(query);
  applyCard();
  await chooseBackend(query);
  await prepareDirection(ui.direction.value);
  registerServiceWorker(); // after the model: it then finds the runtime and model cached, not downloading them again
}

main().catch((e) => setStatus(`The app failed to start: ${errorText(e)}`, "error"));
