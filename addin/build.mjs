// Build the add-in into dist/: the task pane bundle, the small on-send handler bundle, their HTML
// pages, the icons and the unified manifest. Build settings (environment, all optional):
//   ADDIN_ORIGIN    where dist/ is served, e.g. https://sendsecure.example (manifest URLs);
//                   default https://localhost:7071 (the development host behind a local TLS proxy)
//   ADDIN_PATH      the path dist/ is served under (default /addin)
//   API_BASE        the API the bundles call (default /api/v1: the same origin as the add-in)
//   ADDIN_APP_ID    the manifest id (a GUID; default the development one below)
//   ENTRA_CLIENT_ID, ENTRA_API_SCOPE  nested app authentication (A2), for tenants with login_method entra
//   ADDIN_VERSION   default package.json's version
import { build } from "esbuild";
import { mkdir, readFile, rm, writeFile, copyFile, readdir } from "node:fs/promises";
import { deflateSync } from "node:zlib";
import { gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(root, "dist");
const pkg = JSON.parse(await readFile(path.join(root, "package.json"), "utf8"));
const env = process.env;
export const settings = {
  origin: (env.ADDIN_ORIGIN || "https://localhost:7071").replace(/\/$/, ""),
  path: "/" + (env.ADDIN_PATH || "/addin").replace(/^\/+|\/+$/g, ""),
  apiBase: (env.API_BASE || "/api/v1").replace(/\/$/, ""),
  appId: env.ADDIN_APP_ID || "5f0c2b1e-6a3d-4c8e-9b7a-2d4e6f8a0c13",
  entraClientId: env.ENTRA_CLIENT_ID || "",
  entraScope: env.ENTRA_API_SCOPE || "",
  version: env.ADDIN_VERSION || pkg.version,
};
const base = settings.origin + settings.path;

await rm(dist, { recursive: true, force: true });
await mkdir(path.join(dist, "assets"), { recursive: true });

const define = {
  "process.env.NODE_ENV": '"production"',
  __API_BASE__: JSON.stringify(settings.apiBase),
  __ADDIN_VERSION__: JSON.stringify(settings.version),
  __ENTRA_CLIENT_ID__: JSON.stringify(settings.entraClientId),
  __ENTRA_SCOPE__: JSON.stringify(settings.entraScope),
};
const common = { bundle: true, minify: true, sourcemap: false, target: ["es2020"], define, legalComments: "none",
                 logLevel: "warning", metafile: true };
// The task pane: ES modules with splitting, so MSAL (Entra tenants only) is a chunk loaded on demand.
const pane = await build({ ...common, entryPoints: { taskpane: "src/taskpane/index.tsx" }, outdir: dist,
                           format: "esm", splitting: true, chunkNames: "chunks/[name]-[hash]", jsx: "automatic" });
// The on-send handler: one small classic script (Outlook's event runtime loads it by URL).
const handler = await build({ ...common, entryPoints: { commands: "src/commands.ts" }, outdir: dist, format: "iife" });

const officeJs = "https://appsforoffice.microsoft.com/lib/1/hosted/office.js";
const page = (title, body) => `<!doctype html>
<html lang="nl"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>html,body{margin:0;padding:0}</style>
<script src="${officeJs}"></script>
${body}</head><body><div id="root"></div></body></html>
`;
await writeFile(path.join(dist, "taskpane.html"), page("Send Secure", '<script type="module" src="taskpane.js"></script>\n'));
await writeFile(path.join(dist, "commands.html"), page("Send Secure", '<script src="commands.js"></script>\n'));

// Icons: a plain shield colour square (PNG written here, no image tooling needed).
function png(size, rgb) {
  const crcTable = Array.from({ length: 256 }, (_, n) => { let c = n; for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; return c >>> 0; });
  const crc = (buf) => { let c = 0xffffffff; for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8); return (c ^ 0xffffffff) >>> 0; };
  const chunk = (type, data) => { const len = Buffer.alloc(4); len.writeUInt32BE(data.length); const td = Buffer.concat([Buffer.from(type), data]); const c = Buffer.alloc(4); c.writeUInt32BE(crc(td)); return Buffer.concat([len, td, c]); };
  const ihdr = Buffer.alloc(13); ihdr.writeUInt32BE(size, 0); ihdr.writeUInt32BE(size, 4); ihdr[8] = 8; ihdr[9] = 6;
  const row = Buffer.alloc(1 + size * 4); for (let x = 0; x < size; x++) { row[1 + x * 4] = rgb[0]; row[2 + x * 4] = rgb[1]; row[3 + x * 4] = rgb[2]; row[4 + x * 4] = rgb[3] ?? 255; }
  const raw = Buffer.concat(Array.from({ length: size }, () => row));
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk("IHDR", ihdr), chunk("IDAT", deflateSync(raw)), chunk("IEND", Buffer.alloc(0))]);
}
for (const size of [16, 32, 64, 80, 128]) await writeFile(path.join(dist, "assets", `icon-${size}.png`), png(size, [0, 90, 158]));
await writeFile(path.join(dist, "assets", "color.png"), png(192, [0, 90, 158]));
await writeFile(path.join(dist, "assets", "outline.png"), png(32, [255, 255, 255, 255]));

// The unified manifest, from the template with this build's origin.
const template = await readFile(path.join(root, "manifest.template.json"), "utf8");
const manifest = template.replaceAll("{{BASE}}", base).replaceAll("{{HOST}}", new URL(settings.origin).host)
  .replaceAll("{{APP_ID}}", settings.appId).replaceAll("{{VERSION}}", settings.version);
await writeFile(path.join(dist, "manifest.json"), manifest);

// Sizes (gzip) of what each entry loads at start.
const sizes = {};
for (const [name, result, entry] of [["taskpane", pane, "taskpane.js"], ["commands", handler, "commands.js"]]) {
  const files = Object.keys(result.metafile.outputs).filter((f) => f.endsWith(".js"));
  const outputs = result.metafile.outputs;
  const start = files.find((f) => f.endsWith(entry));
  const initial = new Set([start]);
  for (const imp of outputs[start].imports) if (imp.kind === "import-statement") initial.add(imp.path);
  let gz = 0, raw = 0;
  for (const f of initial) { const data = await readFile(path.join(root, f)); raw += data.length; gz += gzipSync(data, { level: 9 }).length; }
  sizes[name] = { raw_bytes: raw, gzip_bytes: gz };
}
await writeFile(path.join(dist, "sizes.json"), JSON.stringify(sizes, null, 2) + "\n");
console.log(`add-in built for ${base} (API ${settings.apiBase}): task pane ${(sizes.taskpane.gzip_bytes / 1024).toFixed(1)} KB gzip, ` +
            `on-send handler ${(sizes.commands.gzip_bytes / 1024).toFixed(1)} KB gzip`);
