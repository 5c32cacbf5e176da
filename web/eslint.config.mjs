// ESLint flat config (`npm run lint`): @eslint/js's recommended rules, with each file's globals
// those of where it runs: the page's modules in a window, the inference worker's in a dedicated
// worker, sw.js in a service worker, the build scripts and the tests in Node. imaging.js is loaded by
// the page, the worker and the Node tests, so it gets no environment's globals at all: it stays
// plain ECMAScript (its header promises it is free of DOM state).

import js from "@eslint/js";
import globals from "globals";

// the modules only the inference worker (worker.js) imports
const WORKER = ["src/worker.js", "src/runtime.js", "src/measure.js"];

export default [
  { ignores: ["node_modules/", ".build-staging/", ".build-cache/"] },
  js.configs.recommended,
  { languageOptions: { ecmaVersion: "latest", sourceType: "module" } },
  {
    files: ["src/**/*.js"],
    ignores: [...WORKER, "src/sw.js", "src/imaging.js"],
    languageOptions: { globals: globals.browser },
  },
  { files: WORKER, languageOptions: { globals: globals.worker } },
  { files: ["src/sw.js"], languageOptions: { globals: globals.serviceworker } },
  { files: ["*.mjs", "test/**/*.mjs"], languageOptions: { globals: globals.node } },
];
