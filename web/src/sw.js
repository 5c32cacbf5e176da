// Service worker: makes the app installable and usable offline after the first visit.
//
// Install caches the app shell, the onnxruntime-web scripts and the model files named by
// api/model. The WebAssembly binaries are not downloaded here: the page's inference worker fetches
// the one it runs once and puts it in the runtime cache (runtime.js), where this worker finds it, so
// a first visit downloads it once. The page registers this worker after its model is loaded, so the
// model is found in the model cache too. Everything else the app fetches later is cached on first
// use. Model files have content-addressed URLs and static files change only with a new build, whose
// different BUILD.version replaces this worker and its caches.

// `npm run build` replaces the object below with the build's version, onnxruntime-web version and file lists.
const BUILD = /*BUILD*/ { version: "dev", ort: "dev", shell: ["./", "index.html"], wasm: [] };

const APP_CACHE = `pocketgan-app-${BUILD.version}`;
const RUNTIME_CACHE = `pocketgan-ort-${BUILD.ort}`; // filled by the page (runtime.js names it the same way)
const MODEL_CACHE = "pocketgan-models";
const API_CACHE = "pocketgan-api";
const OURS = [APP_CACHE, RUNTIME_CACHE, MODEL_CACHE, API_CACHE];

async function cacheModels() {
  const response = await fetch("api/model", { cache: "no-cache" });
  if (!response.ok) return;
  const card = await response.clone().json();
  await (await caches.open(API_CACHE)).put("api/model", response);
  const urls = Object.values(card.models || {}).map((m) => m.url);
  const cache = await caches.open(MODEL_CACHE);
  await Promise.all(urls.map(async (url) => { if (!(await cache.match(url))) await cache.add(url); }));
  // drop model files the server no longer serves
  const keep = new Set(urls.map((u) => new URL(u, self.registration.scope).href));
  for (const request of await cache.keys()) if (!keep.has(request.url)) await cache.delete(request);
}

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(APP_CACHE);
    await cache.addAll([...BUILD.shell, ...BUILD.wasm.filter((path) => !path.endsWith(".wasm"))]);
    try {
      await cacheModels();
    } catch {
      // the server may be unreachable right now; models are cached when the page fetches them
    }
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    const names = await caches.keys();
    await Promise.all(names.filter((n) => n.startsWith("pocketgan-") && !OURS.includes(n)).map((n) => caches.delete(n)));
    await self.clients.claim();
  })());
});

async function cacheFirst(request, cacheName) {
  const hit = await caches.match(request, { ignoreSearch: true }); // any of our caches (the runtime's too)
  if (hit) return hit;
  const response = await fetch(request);
  if (response.ok) await (await caches.open(cacheName)).put(request, response.clone());
  return response;
}

async function networkFirst(request, cacheName) {
  const cache = await caches.open(cacheName);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(request, response.clone());
    return response;
  } catch (e) {
    const hit = await cache.match(request);
    if (hit) return hit;
    throw e;
  }
}

async function page(request) {
  try {
    return await cacheFirst(request, APP_CACHE);
  } catch (e) {
    const shell = await (await caches.open(APP_CACHE)).match("index.html");
    if (shell) return shell;
    throw e;
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return; // api/translate goes straight out
  const path = url.pathname.slice(new URL(self.registration.scope).pathname.length);
  if (path.startsWith("api/")) {
    if (path === "api/model") event.respondWith(networkFirst(request, API_CACHE));
    return;
  }
  if (path.startsWith("models/")) {
    event.respondWith(cacheFirst(request, MODEL_CACHE));
    return;
  }
  event.respondWith(request.mode === "navigate" ? page(request) : cacheFirst(request, APP_CACHE));
});
