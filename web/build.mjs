// Builds the web app into pocketgan/app/static/, the folder `pocketgan serve` serves.
//
// No bundler: the app is plain ES modules, copied as they are. onnxruntime-web comes from
// node_modules (installed from the npm registry by `npm ci`, pinned by package-lock.json); only the
// runtime files the app loads are copied, into static/ort/. The service worker gets the build's
// version and file lists, so a new build replaces the offline copy on the phones. The build is
// written to a staging folder and moved into place at the end, with build.json (what the server
// checks for) inside: a failed build never leaves a half-built app being served.
//
// Every compressible file also gets precompressed copies, NAME.br (brotli, quality 11) and NAME.gz
// (gzip -9), which `pocketgan serve` sends to browsers that accept them: the 14 MB WebAssembly
// runtime goes over the wire as ~2.3 MB. Brotli at quality 11 takes ~25 s for that file, so
// compressed copies are kept in web/.build-cache/ (not in git) under the hash of what they compress: a rebuild
// that did not change onnxruntime-web compresses only the app's own small files.

import { createHash } from "node:crypto";
import { brotliCompressSync, constants as zlib, gzipSync } from "node:zlib";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { icons } from "./icons.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, "src");
const out = resolve(here, "..", "pocketgan", "app", "static");
const staging = join(here, ".build-staging");
const compressCache = join(here, ".build-cache");
const ortPackage = join(here, "node_modules", "onnxruntime-web");

// onnxruntime-web files by backend: the bundle the app imports and the wasm build it loads.
const ORT_FILES = {
  wasm: ["ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"],
  webgpu: ["ort.webgpu.min.mjs", "ort-wasm-simd-threaded.asyncify.mjs", "ort-wasm-simd-threaded.asyncify.wasm"],
};

function fail(message) {
  console.error(`build: error: ${message}`);
  process.exit(1);
}

function listFiles(folder) {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const path = join(folder, entry.name);
    return entry.isDirectory() ? listFiles(path) : [path];
  });
}

const urlPath = (path) => relative(staging, path).split(sep).join("/");

// Text and WebAssembly compress well; images are compressed already.
const COMPRESSIBLE = /\.(html|js|mjs|css|json|webmanifest|wasm|svg|txt)$/;
const ENCODINGS = {
  br: (data) => brotliCompressSync(data, { params: { [zlib.BROTLI_PARAM_QUALITY]: 11, [zlib.BROTLI_PARAM_LGWIN]: 24,
                                                     [zlib.BROTLI_PARAM_SIZE_HINT]: data.length } }),
  gz: (data) => gzipSync(data, { level: 9 }),
};

/** `data` compressed with `encoding`, from the cache when this exact content was compressed before. */
function compressed(data, encoding) {
  const key = createHash("sha256").update(data).digest("hex");
  const cached = join(compressCache, `${key}.${encoding}`);
  if (existsSync(cached)) return readFileSync(cached);
  const out = ENCODINGS[encoding](data);
  mkdirSync(compressCache, { recursive: true });
  writeFileSync(`${cached}.tmp`, out);
  renameSync(`${cached}.tmp`, cached); // never a half-written cache entry
  return out;
}

/** Write NAME.br and NAME.gz beside each compressible file (only where they are smaller); returns
 *  { path: { br: bytes, gzip: bytes } } for build.json. */
function precompress(paths) {
  const sizes = {};
  for (const path of paths.filter((p) => COMPRESSIBLE.test(p))) {
    const data = readFileSync(path);
    for (const [encoding, name] of [["br", "br"], ["gz", "gzip"]]) {
      const out = compressed(data, encoding);
      if (out.length >= data.length) continue; // tiny files: not worth a second copy
      writeFileSync(`${path}.${encoding}`, out);
      (sizes[urlPath(path)] ??= {})[name] = out.length;
    }
  }
  return sizes;
}

if (!existsSync(join(ortPackage, "package.json"))) fail("onnxruntime-web is not installed: run `npm ci` in web/ first");
const ortVersion = JSON.parse(readFileSync(join(ortPackage, "package.json"), "utf8")).version;

rmSync(staging, { recursive: true, force: true });
mkdirSync(join(staging, "ort"), { recursive: true });
mkdirSync(join(staging, "icons"), { recursive: true });

cpSync(src, staging, { recursive: true });
for (const name of [...ORT_FILES.wasm, ...ORT_FILES.webgpu]) {
  const from = join(ortPackage, "dist", name);
  if (!existsSync(from)) fail(`onnxruntime-web ${ortVersion} has no dist/${name}; update ORT_FILES in build.mjs`);
  cpSync(from, join(staging, "ort", name));
}
for (const [name, png] of Object.entries(icons())) writeFileSync(join(staging, "icons", name), png);

// version = hash of everything served (the service worker's own placeholder included)
const files = listFiles(staging).sort();
const hash = createHash("sha256");
for (const path of files) hash.update(urlPath(path)).update("\0").update(readFileSync(path));
const version = hash.digest("hex").slice(0, 16);

const isOrt = (p) => p.startsWith("ort/");
const shell = ["./", ...files.map(urlPath).filter((p) => !isOrt(p) && p !== "sw.js")];
const wasm = ORT_FILES.wasm.map((n) => `ort/${n}`);
const webgpu = ORT_FILES.webgpu.map((n) => `ort/${n}`);
const swPath = join(staging, "sw.js");
const sw = readFileSync(swPath, "utf8");
const placeholder = /\/\*BUILD\*\/[^;]*;/;
if (!placeholder.test(sw)) fail("src/sw.js lost its /*BUILD*/ placeholder");
writeFileSync(swPath, sw.replace(placeholder, `/*BUILD*/ ${JSON.stringify({ version, ort: ortVersion, shell, wasm })};`));

const served = listFiles(staging).sort();
const sizes = Object.fromEntries(served.map((p) => [urlPath(p), statSync(p).size]));
const encoded = precompress(served);
writeFileSync(join(staging, "build.json"), JSON.stringify({ version, onnxruntime_web: ortVersion, shell, wasm, webgpu, files: sizes,
                                                            compressed: encoded }, null, 2) + "\n");

rmSync(out, { recursive: true, force: true });
mkdirSync(dirname(out), { recursive: true });
renameSync(staging, out);
const total = Object.values(sizes).reduce((a, b) => a + b, 0);
const brotli = Object.entries(sizes).reduce((a, [p, n]) => a + (encoded[p]?.br ?? n), 0);
console.log(`built ${relative(process.cwd(), out) || out}: ${Object.keys(sizes).length + 1} files, ${(total / 1e6).toFixed(1)} MB ` +
            `(${(brotli / 1e6).toFixed(1)} MB brotli), version ${version}, onnxruntime-web ${ortVersion}`);
