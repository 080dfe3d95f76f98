// Starts fauxqs (an SQS/SNS emulator, npm) bound to 127.0.0.1 only, for tests.
// fauxqs listens on 0.0.0.0 by itself, so net.Server.prototype.listen is
// wrapped to force the loopback host before fauxqs is loaded.
//
// Usage: node scripts/fauxqs.mjs [--port N]   (N=0: a free port)
// Prints one JSON line {"address":"http://127.0.0.1:N","port":N} on stdout
// when ready, and stops on SIGTERM/SIGINT or when stdin closes.
import net from "node:net";
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL, fileURLToPath } from "node:url";

const LOOPBACK = "127.0.0.1";
const origListen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (args.length > 0 && args[0] !== null && typeof args[0] === "object" && !Array.isArray(args[0])) {
    if (args[0].path === undefined) args[0] = { ...args[0], host: LOOPBACK };
  } else if (typeof args[0] === "number" || (typeof args[0] === "string" && /^\d+$/.test(args[0]))) {
    if (typeof args[1] === "string") args[1] = LOOPBACK;
    else args.splice(1, 0, LOOPBACK);
  }
  return origListen.apply(this, args);
};

let port = 0;
const i = process.argv.indexOf("--port");
if (i > 0 && process.argv[i + 1] !== undefined) port = Number(process.argv[i + 1]);

// fauxqs lives in .tools/node_modules (scripts/install-test-deps.sh), or wherever
// FAUXQS_MODULE points (a path to its dist/app.js).
const here = path.dirname(fileURLToPath(import.meta.url));
const modPath =
  process.env.FAUXQS_MODULE ||
  path.join(process.env.ROOTWATCH_TOOLS_DIR || path.join(here, "..", ".tools"), "node_modules", "fauxqs", "dist", "app.js");
const { startFauxqs } = await import(pathToFileURL(modPath).href);

const server = await startFauxqs({ port, logger: false });
const url = new URL(server.address);
url.hostname = LOOPBACK;
process.stdout.write(JSON.stringify({ address: url.origin, port: server.port }) + "\n");

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  try {
    await server.stop();
  } finally {
    process.exit(0);
  }
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
process.stdin.on("end", stop);
process.stdin.resume();
