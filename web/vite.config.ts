import { createReadStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defaultClientConditions, defineConfig, type Plugin } from 'vite';

// ONNX Runtime Web's two builds, loaded from ./ort/: WebGPU with wasm (jsep, 28 MB), and wasm
// alone (14 MB); the worker picks one by backend
const ORT_DIST = fileURLToPath(new URL('node_modules/onnxruntime-web/dist/', import.meta.url));
const ORT_FILES = [
  'ort-wasm-simd-threaded.jsep.mjs',
  'ort-wasm-simd-threaded.jsep.wasm',
  'ort-wasm-simd-threaded.mjs',
  'ort-wasm-simd-threaded.wasm',
];

// Threads need SharedArrayBuffer, which browsers give only to cross-origin isolated pages
const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

/** Serve ONNX Runtime's wasm files from the app itself (dev) and ship them in dist/ort (build). */
function onnxRuntimeFiles(): Plugin {
  return {
    name: 'onnxruntime-files',
    configureServer(server) {
      server.middlewares.use('/ort/', (request, response, next) => {
        const name = (request.url ?? '').split('?')[0].replace(/^\//, '');
        if (!ORT_FILES.includes(name)) return next();
        response.setHeader('Content-Type', name.endsWith('.wasm') ? 'application/wasm' : 'text/javascript');
        for (const [header, value] of Object.entries(ISOLATION_HEADERS)) response.setHeader(header, value);
        createReadStream(join(ORT_DIST, name)).pipe(response);
      });
    },
    generateBundle() {
      for (const name of ORT_FILES) {
        this.emitFile({ type: 'asset', fileName: `ort/${name}`, source: readFileSync(join(ORT_DIST, name)) });
      }
    },
  };
}

export default defineConfig({
  base: './', // relative URLs: the built site works from any folder of any host
  plugins: [react(), onnxRuntimeFiles()],
  // The package's "extern wasm" entry loads its glue from env.wasm.wasmPaths instead of inlining it
  resolve: { conditions: ['onnxruntime-web-use-extern-wasm', ...defaultClientConditions] },
  optimizeDeps: { exclude: ['onnxruntime-web'] },
  worker: { format: 'es' },
  server: { headers: ISOLATION_HEADERS },
  preview: { headers: ISOLATION_HEADERS },
  build: { target: 'es2022', chunkSizeWarningLimit: 1024 },
});
