// Loopback receiver for the exporter tests, on Buf's Connect server stack
// (@connectrpc/connect-node: Connect, gRPC-Web and gRPC in one handler) with the upstream
// schemas loaded at run time from a protoc descriptor set (no code generation):
//
//   POST /push.v1.PusherService/Push                              Pyroscope (Connect unary)
//   POST /parca.profilestore.v1alpha1.ProfileStoreService/WriteRaw Parca (gRPC-Web here)
//   POST /ingest?name=&from=&until=&format=pprof                  Pyroscope legacy
//
// Each request is checked the way the real servers check it (Pyroscope's
// pkg/validation/validate.go and distributor: __name__ present and a valid metric name,
// label names valid and unique, profile parses, time_nanos within [now-1h, now+10m], sample
// types without '-'; Parca's normalizer: __name__ present, ids sequential), then every
// accepted profile is written to OUT/NNNNNN.pb.gz and described by a line of
// OUT/received.jsonl. Refusals are recorded in OUT/refused.jsonl.
//
// Faults for the retry tests: --fail N answers the first N profile requests with
// --fail-status (and Retry-After: --retry-after when given); --delay-ms holds every answer.
//
// Usage: node connect-receiver.mjs --desc protos.desc --out DIR --port-file F [--port P]
import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { ConnectError, Code } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";

const args = {};
for (let i = 2; i < process.argv.length; i += 2)
  args[process.argv[i].replace(/^--/, "")] = process.argv[i + 1];
const out = args.out;
fs.mkdirSync(out, { recursive: true });
const reg = createFileRegistry(fromBinary(FileDescriptorSetSchema, fs.readFileSync(args.desc)));
const Profile = reg.getMessage("perftools.profiles.Profile");
const failN = Number(args.fail || 0);
const failStatus = Number(args["fail-status"] || 500);
const retryAfter = args["retry-after"];
const delayMs = Number(args["delay-ms"] || 0);
let requests = 0;
let received = 0;

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

function record(file, obj) {
  fs.appendFileSync(path.join(out, file), JSON.stringify(obj) + "\n");
}

// Parses and checks one pprof (gzip optional). Throws a ConnectError when it is refused.
function checkProfile(raw, sequential) {
  let bytes = Buffer.from(raw);
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = zlib.gunzipSync(bytes);
  if (bytes.length > 4 << 20)
    throw new ConnectError("uncompressed profile larger than 4 MiB", Code.InvalidArgument);
  let p;
  try {
    p = fromBinary(Profile, bytes);
  } catch (e) {
    throw new ConnectError("failed to parse profile: " + e.message, Code.InvalidArgument);
  }
  if (p.stringTable.length === 0 || p.stringTable[0] !== "")
    throw new ConnectError("string_table[0] must be empty", Code.InvalidArgument);
  for (const st of p.sampleType) {
    const t = p.stringTable[Number(st.type)];
    if (t === undefined || t.includes("-"))
      throw new ConnectError(`sample type contains -: ${t}`, Code.InvalidArgument);
  }
  const now = BigInt(Date.now()) * 1000000n;
  const t = p.timeNanos;
  if (t !== 0n && (t < now - 3600n * 1000000000n || t > now + 600n * 1000000000n))
    throw new ConnectError(`profile time ${t} out of range`, Code.InvalidArgument);
  for (const [what, list] of [["mapping", p.mapping], ["location", p.location], ["function", p.function]])
    list.forEach((x, i) => {
      if (x.id === 0n) throw new ConnectError(`${what} id 0`, Code.InvalidArgument);
      if (sequential && x.id !== BigInt(i + 1))
        throw new ConnectError(`${what} id is not sequential`, Code.InvalidArgument);
    });
  for (const s of p.sample) {
    if (s.value.length !== p.sampleType.length)
      throw new ConnectError("sample value count differs from sample types", Code.InvalidArgument);
    for (const id of s.locationId)
      if (id === 0n || id > BigInt(p.location.length))
        throw new ConnectError("sample has nil location", Code.InvalidArgument);
  }
  return { timeNanos: String(p.timeNanos), samples: p.sample.length };
}

function checkLabels(labels) {
  const seen = new Set();
  for (const { name, value } of labels) {
    if (!LABEL_NAME.test(name))
      throw new ConnectError(`invalid label name: ${name}`, Code.InvalidArgument);
    if (seen.has(name)) throw new ConnectError(`duplicate label name: ${name}`, Code.InvalidArgument);
    if (name.length > 1024 || value.length > 2048)
      throw new ConnectError("label too long", Code.InvalidArgument);
    seen.add(name);
  }
  const n = labels.find((l) => l.name === "__name__");
  if (!n) throw new ConnectError("missing __name__ label", Code.InvalidArgument);
  if (!METRIC_NAME.test(n.value))
    throw new ConnectError(`invalid metric name: ${n.value}`, Code.InvalidArgument);
}

function headersOf(h) {
  const keep = {};
  for (const k of ["authorization", "x-scope-orgid", "x-test", "content-type", "user-agent",
    "connect-protocol-version", "te", "dd-api-key"])
    if (h.get(k) !== null) keep[k] = h.get(k);
  return keep;
}

function save(api, labels, id, raw, info, headers, protocol) {
  received++;
  const file = String(received).padStart(6, "0") + ".pb.gz";
  fs.writeFileSync(path.join(out, file), raw);
  record("received.jsonl", { n: received, at: Date.now(), api, protocol, file, id,
    labels: Object.fromEntries(labels.map((l) => [l.name, l.value])),
    time_nanos: info.timeNanos, samples: info.samples, headers });
}

function refuse(api, e) {
  record("refused.jsonl", { api, error: String(e.message || e) });
  throw e;
}

const routes = (router) => {
  router.service(reg.getService("push.v1.PusherService"), {
    push(req, ctx) {
      try {
        if (req.series.length === 0) throw new ConnectError("no series", Code.InvalidArgument);
        for (const s of req.series) {
          checkLabels(s.labels);
          if (!s.labels.find((l) => l.name === "service_name"))
            throw new ConnectError("service name is not provided", Code.InvalidArgument);
          for (const smp of s.samples) {
            const info = checkProfile(smp.rawProfile, false);
            save("push", s.labels, smp.ID ?? smp.iD, smp.rawProfile, info,
              headersOf(ctx.requestHeader), ctx.protocolName);
          }
        }
      } catch (e) {
        refuse("push", e);
      }
      return {};
    },
  });
  router.service(reg.getService("parca.profilestore.v1alpha1.ProfileStoreService"), {
    writeRaw(req, ctx) {
      try {
        if (req.series.length === 0) throw new ConnectError("no series", Code.InvalidArgument);
        for (const s of req.series) {
          const labels = s.labels ? s.labels.labels : [];
          checkLabels(labels);
          for (const smp of s.samples) {
            const info = checkProfile(smp.rawProfile, true);
            save("parca", labels, "", smp.rawProfile, info, headersOf(ctx.requestHeader),
              ctx.protocolName);
          }
        }
      } catch (e) {
        refuse("parca", e);
      }
      return {};
    },
  });
};

// Legacy /ingest: the raw pprof body with format=pprof.
function ingest(req, res) {
  const u = new URL(req.url, "http://x");
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    try {
      const name = u.searchParams.get("name");
      if (!name || !/^[A-Za-z0-9_.\-/]+(\{.*\})?$/.test(name)) throw new Error("name is invalid");
      if (u.searchParams.get("format") !== "pprof") throw new Error("format is not pprof");
      for (const k of ["from", "until"])
        if (!/^[0-9]+$/.test(u.searchParams.get(k) || "")) throw new Error(`${k} is invalid`);
      const raw = Buffer.concat(chunks);
      const info = checkProfile(raw, false);
      const service = name.replace(/\{.*$/, "");
      const h = new Headers();
      for (const [k, v] of Object.entries(req.headers)) h.set(k, String(v));
      save("ingest", [{ name: "__name__", value: "process_cpu" }, { name: "service_name", value: service }],
        "", raw, info, headersOf(h), "http");
      res.writeHead(200).end();
    } catch (e) {
      record("refused.jsonl", { api: "ingest", error: String(e.message || e) });
      res.writeHead(400, { "content-type": "text/plain" }).end(String(e.message || e));
    }
  });
}

const adapter = connectNodeAdapter({ routes, fallback: ingest });
const server = http.createServer((req, res) => {
  requests++;
  const n = requests;
  const go = () => {
    if (n <= failN) {
      const h = { "content-type": "application/json" };
      if (retryAfter) h["retry-after"] = retryAfter;
      record("faults.jsonl", { n, status: failStatus, at: Date.now() });
      req.resume();
      res.writeHead(failStatus, h).end(JSON.stringify({ code: "unavailable", message: "injected fault" }));
      return;
    }
    adapter(req, res);
  };
  if (delayMs) setTimeout(go, delayMs);
  else go();
});
server.listen(Number(args.port || 0), "127.0.0.1", () => {
  fs.writeFileSync(args["port-file"], String(server.address().port));
});
for (const s of ["SIGTERM", "SIGINT"]) process.on(s, () => process.exit(0));
