'use strict';

// Test harness: real wpw-sandbox-gateway and wpwithind processes on loopback, in temp dirs.
// Binaries come from $WPW_BIN (default <repo>/.build/debug). Network rule: HTE on 127.0.0.1 port 0,
// sandbox on --port 0, discovery broadcasts to 127.255.255.255 from 127.0.0.1 on a free UDP port.

const { spawn } = require('node:child_process');
const dgram = require('node:dgram');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const readline = require('node:readline');
const { setTimeout: sleep } = require('node:timers/promises');

const REPO = path.resolve(__dirname, '..', '..', '..');
const BIN = path.resolve(REPO, process.env.WPW_BIN || path.join('.build', 'debug'));

// The sandbox gateway's test merchant (config/merchant.example.json) and a test card.
const MERCHANT = { clientKey: 'T_C_97e8cbaa-14e0-4b1c-b2af-469daf8f1356', serviceKey: 'T_S_3bdadc9c-54e0-4587-8d91-29813060fecd' };
const CARD = { firstName: 'Joe', lastName: 'Bloggs', expMonth: 12, expYear: 2099, cardNumber: '4444333322221111', type: 'Card', cvc: '123' };

const live = new Set();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});
// Stopped from outside (a runner's timeout, Ctrl-C): no daemon outlives the test process.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    for (const child of live) child.kill('SIGKILL');
    process.exit(128 + require('node:os').constants.signals[signal]);
  });
}

function binary(name) {
  const file = path.join(BIN, name);
  if (!fs.existsSync(file)) {
    throw new Error(`${file} not found: build the Swift products (swift build) or set WPW_BIN to a folder holding ${name}`);
  }
  return file;
}

/** A short temp dir (Unix socket paths hold at most 107 bytes). */
function tempDir() {
  return fs.mkdtempSync('/tmp/wpwn-');
}

/** A file readable by its owner only (credential files must be 0600). */
function writeSecret(file, value) {
  fs.writeFileSync(file, JSON.stringify(value), { mode: 0o600 });
  fs.chmodSync(file, 0o600);
  return file;
}

function freeUdpPort() {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}

/** One raw JSON-RPC round trip on a fresh connection (no client library involved). */
function rawCall(socketPath, method, params, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection({ path: socketPath });
    let buffer = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`${method}: no answer in ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('data', (chunk) => {
      buffer += chunk;
      const newline = buffer.indexOf('\n');
      if (newline === -1) return;
      clearTimeout(timer);
      socket.destroy();
      resolve(JSON.parse(buffer.slice(0, newline)));
    });
    socket.on('connect', () => socket.write(JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }) + '\n'));
  });
}

function waitForExit(child, timeoutMs = 15000) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode ?? 128);
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(code ?? 128 + (signal ? require('node:os').constants.signals[signal] : 0));
    });
  });
}

function track(child) {
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** The sandbox payment gateway on 127.0.0.1, an ephemeral port. */
async function startSandbox(dir) {
  const log = fs.openSync(path.join(dir, 'sandbox.log'), 'a');
  const child = track(spawn(binary('wpw-sandbox-gateway'), ['--host', '127.0.0.1', '--port', '0'], { stdio: ['ignore', 'pipe', log] }));
  fs.closeSync(log);
  const lines = readline.createInterface({ input: child.stdout });
  const first = await Promise.race([
    new Promise((resolve) => lines.once('line', resolve)),
    waitForExit(child).then((code) => Promise.reject(new Error(`sandbox gateway exited with ${code}`))),
  ]);
  const listening = JSON.parse(first);
  if (listening.event !== 'listening' || !Number.isInteger(listening.port)) throw new Error(`sandbox gateway said ${first}`);
  return {
    child,
    port: listening.port,
    endpoint: `http://127.0.0.1:${listening.port}`,
    stop: async () => {
      lines.close();
      child.kill('SIGTERM');
      return waitForExit(child);
    },
  };
}

/** Loopback discovery for a test daemon (never 255.255.255.255, never a LAN address). */
function loopbackEnv(discoveryPort, roles) {
  return {
    WPWITHIND_ROLES: roles,
    WPWITHIND_BROADCAST_ADDRESS: '127.255.255.255',
    WPWITHIND_BROADCAST_SOURCE: '127.0.0.1',
    WPWITHIND_DISCOVERY_PORT: String(discoveryPort),
    WPWITHIND_SCAN_BIND_ADDRESS: '127.255.255.255',
    WPWITHIND_ADVERTISED_HOST: '127.0.0.1',
    WPWITHIND_HTE_HOST: '127.0.0.1',
    WPWITHIND_HTE_PORT: '0',
  };
}

/** A wpwithind process with its own socket and state dir; `start()` again after `stop()` restarts it on the same state. */
class Daemon {
  constructor(dir, { name = 'daemon', env = {}, args = [] } = {}) {
    this.dir = path.join(dir, name);
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.name = name;
    this.socketPath = path.join(this.dir, 'rpc.sock');
    this.stateDir = path.join(this.dir, 'state');
    this.logPath = path.join(this.dir, 'daemon.log');
    this.env = env;
    this.args = args;
    this.child = null;
  }

  async start() {
    const env = {};
    for (const [key, value] of Object.entries(process.env)) {
      if (key.startsWith('WPWITHIND_') || key === 'WPWITHIN_SOCKET' || key === 'CREDENTIALS_DIRECTORY' || key === 'NOTIFY_SOCKET') continue;
      if (key.startsWith('LISTEN_') || key.startsWith('WATCHDOG_')) continue;
      env[key] = value;
    }
    Object.assign(env, { WPWITHIND_HTE_HOST: '127.0.0.1', WPWITHIND_HTE_PORT: '0' }, this.env);
    const log = fs.openSync(this.logPath, 'a');
    const args = ['--socket', this.socketPath, '--state-dir', this.stateDir, '--log-level', 'debug', ...this.args];
    this.child = track(spawn(binary('wpwithind'), args, { env, stdio: ['ignore', 'ignore', log] }));
    fs.closeSync(log);
    await this.waitUntilReady();
    return this;
  }

  /** Ready means one real round trip answered ready: true. */
  async waitUntilReady(timeoutMs = 20000) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`${this.name} exited with ${this.child.exitCode ?? this.child.signalCode}:\n${this.log()}`);
      }
      try {
        const answer = await rawCall(this.socketPath, 'getStatus', undefined, 2000);
        if (answer.result && answer.result.ready === true) return;
      } catch {
        // not listening yet
      }
      await sleep(20);
    }
    throw new Error(`${this.name} did not become ready on ${this.socketPath}:\n${this.log()}`);
  }

  get running() {
    return Boolean(this.child && this.child.exitCode === null && this.child.signalCode === null);
  }

  /** Sends `signal` (default SIGTERM) and returns the exit status (128 + n when killed by signal n). */
  async stop(signal = 'SIGTERM') {
    if (!this.running) return this.child ? this.child.exitCode : null;
    this.child.kill(signal);
    return waitForExit(this.child);
  }

  log() {
    try {
      return fs.readFileSync(this.logPath, 'utf8');
    } catch {
      return '';
    }
  }
}

/**
 * A sandbox gateway, a producer and a consumer daemon on loopback, sharing a free discovery port.
 * `options.producerConfig` is written as the producer's --config file. Call `stop()` when done.
 */
async function startThings({ producerConfig, producer: startProducer = true, consumer: startConsumer = true } = {}) {
  const dir = tempDir();
  const things = { dir, daemons: [], sandbox: null };
  things.stop = async () => {
    await Promise.all(things.daemons.map((daemon) => daemon.stop().catch(() => {})));
    if (things.sandbox) await things.sandbox.stop().catch(() => {});
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    things.sandbox = await startSandbox(dir);
    const discoveryPort = await freeUdpPort();
    things.discoveryPort = discoveryPort;
    const starting = [];
    if (startProducer) {
      const env = { ...loopbackEnv(discoveryPort, 'producer'), WPWITHIND_GATEWAY_ENDPOINT: things.sandbox.endpoint };
      env.WPWITHIND_MERCHANT_FILE = writeSecret(path.join(dir, 'merchant.json'), MERCHANT);
      const args = [];
      if (producerConfig) {
        const file = path.join(dir, 'producer.json');
        fs.writeFileSync(file, JSON.stringify(producerConfig));
        args.push('--config', file);
      }
      things.producer = new Daemon(dir, { name: 'producer', env, args });
      things.daemons.push(things.producer);
      starting.push(things.producer.start());
    }
    if (startConsumer) {
      const env = { ...loopbackEnv(discoveryPort, 'consumer'), WPWITHIND_GATEWAY_ENDPOINT: things.sandbox.endpoint };
      env.WPWITHIND_CARD_FILE = writeSecret(path.join(dir, 'card.json'), CARD);
      things.consumer = new Daemon(dir, { name: 'consumer', env });
      things.daemons.push(things.consumer);
      starting.push(things.consumer.start());
    }
    await Promise.all(starting);
    return things;
  } catch (error) {
    await things.stop();
    throw error;
  }
}

/** A single daemon (both roles, loopback discovery, no gateway), for tests that need no payments. */
async function startDaemon({ name = 'daemon', env = {}, config } = {}) {
  const dir = tempDir();
  const args = [];
  if (config) {
    const file = path.join(dir, 'config.json');
    fs.writeFileSync(file, JSON.stringify(config));
    args.push('--config', file);
  }
  const daemon = new Daemon(dir, { name, env: { ...loopbackEnv(await freeUdpPort(), 'producer,consumer'), ...env }, args });
  daemon.remove = async () => {
    await daemon.stop().catch(() => {});
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await daemon.start();
  } catch (error) {
    await daemon.remove();
    throw error;
  }
  return daemon;
}

/** Resolves with the first `count` arguments `emitter` emits as `event` (rejects after timeoutMs). */
function collect(emitter, event, count, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    const seen = [];
    const timer = setTimeout(() => {
      emitter.removeListener(event, listener);
      reject(new Error(`only ${seen.length} of ${count} '${event}' in ${timeoutMs} ms`));
    }, timeoutMs);
    const listener = (value) => {
      seen.push(value);
      if (seen.length >= count) {
        clearTimeout(timer);
        emitter.removeListener(event, listener);
        resolve(seen);
      }
    };
    emitter.on(event, listener);
  });
}

/** The car-wash service the tests and examples sell. */
const CAR_WASH = {
  id: 1,
  name: 'RoboWash',
  description: 'Car washed by robot',
  serviceType: 'carwash',
  prices: [{ id: 1, description: 'Car wash', amount: 500, currencyCode: 'GBP', unitId: 1, unitDescription: 'Single wash', stock: null }],
};

module.exports = {
  REPO,
  BIN,
  CARD,
  MERCHANT,
  CAR_WASH,
  binary,
  tempDir,
  writeSecret,
  freeUdpPort,
  rawCall,
  waitForExit,
  track,
  startSandbox,
  startThings,
  startDaemon,
  loopbackEnv,
  Daemon,
  collect,
};
