// The Node.js runtime loop of the embedded executor: runs *inside* a function process (nodejs20.x, 22.x, 24.x).
//
// A client of AWS's Lambda Runtime API (AWS_LAMBDA_RUNTIME_API, served by embedded_localstack/service/runtime_api.py),
// with the semantics of AWS's Node.js runtime: the handler `_HANDLER` ("dir/file.export[.nested]") is loaded from
// LAMBDA_TASK_ROOT during init, trying file.js, file.mjs, file.cjs (a .js file is an ES module when the nearest
// package.json says "type": "module"), then the module name itself through NODE_PATH; async, promise-returning and
// (up to Node.js 22, as on AWS) callback handlers and context.done/succeed/fail; the context object; AWS's error shape
// ({errorType, errorMessage, trace}); init errors (Runtime.ImportModuleError, Runtime.HandlerNotFound,
// Runtime.MalformedHandlerName, Runtime.UserCodeSyntaxError, the thrown error's own type); console output in AWS's
// format, one line per call ("<ISO time>\t<request id>\t<LEVEL>\t<message>", newlines inside a message as \r).
// Node's standard library only: the function sees nothing of ours.
import module, { createRequire } from "node:module";
import { existsSync, readFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { format } from "node:util";
import { pathToFileURL } from "node:url";

const API = process.env.AWS_LAMBDA_RUNTIME_API;
const BASE = "/2018-06-01/runtime";
const TASK_ROOT = process.env.LAMBDA_TASK_ROOT || process.cwd();
const NODE_MAJOR = Number(process.versions.node.split(".")[0]);
const CALLBACK_HANDLERS_UNTIL = 22; // AWS removed callback-based handlers with the nodejs24.x runtime
const EXTENSIONS = [".js", ".mjs", ".cjs"];
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const [host, port] = (API || "").split(":");

let currentRequestId = undefined;

class InitError extends Error {
  constructor(errorType, message, cause) {
    super(message);
    this.errorType = errorType;
    this.stack = cause && cause.stack ? `${errorType}: ${message}\n${stackFrames(cause).join("\n")}` : this.stack;
  }
}

function stackFrames(error) {
  return String(error.stack || "").split("\n").slice(1);
}

// -- ES modules find packages through NODE_PATH too -----------------------------------------------------------
// Node resolves `import` without NODE_PATH; AWS's runtimes search the NODE_PATH folders for ES modules as well (so
// `import ... from "@aws-sdk/client-s3"` finds the runtime's SDK). A resolve hook retries a bare specifier that is
// not found from each folder: in-thread where Node has `registerHooks` (22.15+), a hooks thread otherwise (20).
const NODE_PATH_HOOK = `
import { pathToFileURL } from "node:url";
const folders = (process.env.NODE_PATH || "").split(":").filter(Boolean);
const bare = (specifier) => !/^(\\.|\\/|[a-z][a-z0-9+.-]*:)/i.test(specifier);
export function resolveSync(specifier, context, nextResolve) {
  try { return nextResolve(specifier, context); } catch (error) {
    if (error?.code !== "ERR_MODULE_NOT_FOUND" || !bare(specifier)) throw error;
    for (const folder of folders) {
      try { return nextResolve(specifier, { ...context, parentURL: pathToFileURL(folder + "/index.js").href }); } catch {}
    }
    throw error;
  }
}
export async function resolve(specifier, context, nextResolve) {
  try { return await nextResolve(specifier, context); } catch (error) {
    if (error?.code !== "ERR_MODULE_NOT_FOUND" || !bare(specifier)) throw error;
    for (const folder of folders) {
      try { return await nextResolve(specifier, { ...context, parentURL: pathToFileURL(folder + "/index.js").href }); } catch {}
    }
    throw error;
  }
}
`;

async function installNodePathResolution() {
  if (!process.env.NODE_PATH) return;
  const source = "data:text/javascript," + encodeURIComponent(NODE_PATH_HOOK);
  if (typeof module.registerHooks === "function") {
    const { resolveSync } = await import(source);
    module.registerHooks({ resolve: resolveSync });
  } else {
    module.register(source);
  }
}

// -- logging ----------------------------------------------------------------------------------------------------
function installLogging() {
  const write = (level) => (...args) => {
    const message = format(...args).replace(/\n/g, "\r");
    process.stdout.write(`${new Date().toISOString()}\t${currentRequestId}\t${level}\t${message}\n`);
  };
  console.log = write("INFO");
  console.info = write("INFO");
  console.warn = write("WARN");
  console.error = write("ERROR");
  console.debug = write("DEBUG");
  console.trace = write("TRACE");
  console.fatal = write("FATAL");
}

// -- AWS's error shape ------------------------------------------------------------------------------------------
function errorResponse(error) {
  if (error instanceof Error) {
    const errorType = error.errorType || error.name || "Error";
    return { errorType, errorMessage: error.message, trace: String(error.stack || "").split("\n") };
  }
  return { errorType: typeof error, errorMessage: String(error), trace: [] };
}

function logError(prefix, body) {
  const record = { errorType: body.errorType, errorMessage: body.errorMessage, stack: body.trace };
  console.error(`${prefix} \t${JSON.stringify(record)}`);
}

// -- the Runtime API --------------------------------------------------------------------------------------------
function call(method, route, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(body);
    const options = { host, port, method, path: BASE + route, agent, headers: { ...headers } };
    if (payload !== undefined) options.headers["Content-Length"] = payload.length;
    const request = http.request(options, (response) => {
      const chunks = [];
      response.on("data", (chunk) => chunks.push(chunk));
      response.on("end", () => resolve({ status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks) }));
      response.on("error", reject);
    });
    request.on("error", reject);
    request.end(payload);
  });
}

function postError(route, body) {
  return call("POST", route, JSON.stringify(body), {
    "Content-Type": "application/json",
    "Lambda-Runtime-Function-Error-Type": body.errorType,
  });
}

// -- loading the handler ----------------------------------------------------------------------------------------
function isModulePackage(directory) {
  for (let dir = directory; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, "package.json");
    if (existsSync(manifest)) {
      try {
        return JSON.parse(readFileSync(manifest, "utf8")).type === "module";
      } catch {
        return false;
      }
    }
    if (dir === path.dirname(dir) || dir === path.dirname(TASK_ROOT)) return false;
  }
}

async function loadModule(modulePath) {
  const base = path.resolve(TASK_ROOT, modulePath);
  for (const extension of EXTENSIONS) {
    const file = base + extension;
    if (!existsSync(file)) continue;
    const esm = extension === ".mjs" || (extension === ".js" && isModulePackage(path.dirname(file)));
    return esm ? import(pathToFileURL(file).href) : createRequire(file)(file);
  }
  // Not a file of the task root: a package found through NODE_PATH (layers, the runtime's modules).
  return createRequire(path.join(TASK_ROOT, "index.js"))(modulePath);
}

async function loadHandler(name) {
  const slash = name.lastIndexOf("/");
  const [file, ...properties] = name.slice(slash + 1).split(".");
  if (!file || properties.length === 0 || properties.some((p) => !p)) {
    throw new InitError("Runtime.MalformedHandlerName", "Bad handler");
  }
  const modulePath = name.slice(0, slash + 1) + file;
  let loaded;
  try {
    loaded = await loadModule(modulePath);
  } catch (error) {
    if (error instanceof SyntaxError) throw new InitError("Runtime.UserCodeSyntaxError", `${error.name}: ${error.message}`, error);
    if (error && (error.code === "MODULE_NOT_FOUND" || error.code === "ERR_MODULE_NOT_FOUND") && String(error.message).includes(`'${modulePath}'`)) {
      throw new InitError("Runtime.ImportModuleError", `Error: Cannot find module '${modulePath}'\nRequire stack:\n- ${new URL(import.meta.url).pathname}`, error);
    }
    if (error && (error.code === "MODULE_NOT_FOUND" || error.code === "ERR_MODULE_NOT_FOUND")) {
      throw new InitError("Runtime.ImportModuleError", `Error: ${error.message}`, error);
    }
    throw error;
  }
  let handler = loaded;
  for (const property of properties) handler = handler == null ? undefined : handler[property];
  if (typeof handler !== "function") {
    throw new InitError("Runtime.HandlerNotFound", `${modulePath}.${properties.join(".")} is undefined or not exported`);
  }
  const isAsync = handler.constructor && handler.constructor.name === "AsyncFunction";
  if (NODE_MAJOR > CALLBACK_HANDLERS_UNTIL && !isAsync && handler.length >= 3) {
    throw new InitError(
      "Runtime.CallbackHandlerDeprecated",
      `Callback-based function handlers are not supported in Node.js ${NODE_MAJOR}: make ${modulePath}.${properties.join(".")} async or return a Promise`,
    );
  }
  return handler;
}

// -- one invocation ---------------------------------------------------------------------------------------------
function makeContext(headers, settle) {
  const deadline = Number(headers["lambda-runtime-deadline-ms"]);
  const parse = (value) => (value ? JSON.parse(value) : undefined);
  const context = {
    callbackWaitsForEmptyEventLoop: true,
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: headers["lambda-runtime-invoked-function-arn"],
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: headers["lambda-runtime-aws-request-id"],
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    identity: parse(headers["lambda-runtime-cognito-identity"]),
    clientContext: parse(headers["lambda-runtime-client-context"]),
    getRemainingTimeInMillis: () => Math.max(deadline - Date.now(), 0),
  };
  if (NODE_MAJOR <= CALLBACK_HANDLERS_UNTIL) {
    context.done = (error, result) => settle(error, result);
    context.succeed = (result) => settle(null, result);
    context.fail = (error) => settle(error ?? "handled");
  }
  return context;
}

function runHandler(handler, event, headers) {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (error, result) => {
      if (settled) return;
      settled = true;
      resolve(error !== null && error !== undefined ? { error } : { result });
    };
    const context = makeContext(headers, settle);
    try {
      const returned = handler(event, context, settle);
      if (returned && typeof returned.then === "function") {
        returned.then((result) => settle(null, result), (error) => settle(error ?? new Error("rejected")));
      } else if (handler.length < 3) {
        settle(null, undefined); // AWS's runtime ignores what a synchronous handler returns: the result is null
      }
    } catch (error) {
      settle(error);
    }
  });
}

async function invoke(handler, response) {
  const requestId = response.headers["lambda-runtime-aws-request-id"];
  currentRequestId = requestId;
  process.env._X_AMZN_TRACE_ID = response.headers["lambda-runtime-trace-id"] || "";
  let event;
  try {
    event = JSON.parse(response.body.length ? response.body.toString("utf8") : "null");
  } catch (error) {
    const body = { errorType: "Runtime.UnmarshalError", errorMessage: `Unable to unmarshal input: ${error.message}`, trace: [] };
    logError("Invoke Error", body);
    return postError(`/invocation/${requestId}/error`, body);
  }
  const outcome = await runHandler(handler, event, response.headers);
  if ("error" in outcome) {
    const body = errorResponse(outcome.error);
    logError("Invoke Error", body);
    return postError(`/invocation/${requestId}/error`, body);
  }
  let serialized;
  try {
    serialized = JSON.stringify(outcome.result === undefined ? null : outcome.result);
  } catch (error) {
    const body = { errorType: "Runtime.MarshalError", errorMessage: `Unable to stringify response body: ${error.message}`, trace: [] };
    logError("Invoke Error", body);
    return postError(`/invocation/${requestId}/error`, body);
  }
  return call("POST", `/invocation/${requestId}/response`, serialized, { "Content-Type": "application/json" });
}

async function main() {
  if (!API) {
    process.stderr.write("AWS_LAMBDA_RUNTIME_API is not set\n");
    process.exit(2);
  }
  installLogging();
  await installNodePathResolution();
  let handler;
  try {
    handler = await loadHandler(process.env._HANDLER || "");
  } catch (error) {
    const body = errorResponse(error);
    logError("Uncaught Exception", body);
    await postError("/init/error", body);
    process.exit(129);
  }
  for (;;) {
    const next = await call("GET", "/invocation/next");
    if (next.status !== 200) {
      process.stderr.write(`runtime API answered ${next.status} to next: ${next.body}\n`);
      process.exit(1);
    }
    await invoke(handler, next);
  }
}

main().catch((error) => {
  process.stderr.write(`runtime failed: ${error && error.stack ? error.stack : error}\n`);
  process.exit(1);
});
