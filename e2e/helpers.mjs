// Helpers for the SDK and browser tests: start the real parley binary on a
// free loopback port with its own data directory, and call its admin API.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

export const here = dirname(fileURLToPath(import.meta.url));
export const BIN = process.env.PARLEY_BIN || join(here, ".bin", "parley");
export const ADMIN_KEY = "e2e-admin-key";

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

/** Server is one running parley; restart() keeps its port and data. */
export class Server {
  constructor({ args = [], dataDir, port } = {}) {
    this.args = args;
    this.dataDir = dataDir || mkdtempSync(join(tmpdir(), "parley-e2e-"));
    this.port = port;
  }
  get url() { return `http://127.0.0.1:${this.port}`; }

  async start() {
    this.port ??= await freePort();
    this.proc = spawn(BIN, ["serve", "--listen", `127.0.0.1:${this.port}`, "--data", this.dataDir, "--ip-rate", "0", ...this.args], {
      env: { ...process.env, PARLEY_API_KEY: ADMIN_KEY },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.exited = new Promise((resolve) => this.proc.once("exit", resolve));
    let out = "";
    this.proc.stderr.on("data", (b) => { if (process.env.PARLEY_E2E_LOG) process.stderr.write(b); });
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("server did not start: " + out)), 15000);
      this.proc.stdout.on("data", (b) => {
        out += b;
        if (out.includes("listening on")) { clearTimeout(timer); resolve(); }
      });
      this.proc.once("exit", (code) => { clearTimeout(timer); reject(new Error(`server exited ${code}: ${out}`)); });
    });
    return this;
  }

  /** kill stops the server abruptly (SIGKILL): no shutdown, no flush. */
  async kill() {
    this.proc.kill("SIGKILL");
    await this.exited;
  }

  async stop() {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill("SIGTERM");
      await this.exited;
    }
  }

  async restart() {
    await this.kill();
    await this.start();
  }

  async cleanup() {
    await this.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  async admin(method, path, body) {
    const res = await fetch(this.url + path, {
      method,
      headers: { Authorization: `Bearer ${ADMIN_KEY}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await res.json();
    if (!json.success) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json.error)}`);
    return json.data;
  }

  /** meeting creates a meeting with participants: { meeting, alice: {id, token}, … }. */
  async meeting(names = ["Alice", "Bob", "Carol"], presets = {}) {
    const meeting = await this.admin("POST", "/v2/meetings", { title: "e2e" });
    const out = { meeting };
    for (const name of names) {
      out[name.toLowerCase()] = await this.admin("POST", `/v2/meetings/${meeting.id}/participants`, {
        name, preset_name: presets[name] || "participant", custom_participant_id: name.toLowerCase(),
      });
    }
    return out;
  }
}

/** until resolves when emitter emits name with data matching pred. */
export function until(emitter, name, pred = () => true, ms = 10000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { emitter.off(name, fn); reject(new Error(`timed out waiting for ${name}`)); }, ms);
    function fn(d) {
      if (!pred(d)) return;
      clearTimeout(timer);
      emitter.off(name, fn);
      resolve(d);
    }
    emitter.on(name, fn);
  });
}

// A 64×48 PNG, for image messages.
export const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAEAAAAAwCAIAAAAuKetIAAAAVklEQVR4nOzPUQnAMADFwPfR+bc1WZURCnfEQM72n+3lvj3NQM1AzUDNQM1AzUDNQM1AzUDNQM1AzUDNQM1AzUDNQM1AzUDNQM1AzUDNQM1A7QYAAP//ITADcIoHkvkAAAAASUVORK5CYII=",
  "base64",
);

/** waitFor polls a condition of client state (bounded), for state that may already hold. */
export async function waitFor(cond, ms = 15000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not reached: " + cond);
    await new Promise((r) => setTimeout(r, 10));
  }
}
