'use strict';

/**
 * Argument checks made before a request is sent. The client checks *types* (a wrong type is a TypeError,
 * as a rejected promise); ranges, enums and rules between parameters (e.g. exactly one of serverId/url)
 * are the daemon's to check and come back as InvalidParamsError (-32602) naming the field.
 */

function describe(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  return `a ${typeof value}`;
}

function isPlainObject(value) {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Why `value` does not have the JSON type of `schema`, or null when it does. */
function typeProblem(value, schema, where) {
  const type = schema && schema.type;
  switch (type) {
    case 'integer':
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
        return `${where} must be an integer (a safe integer number), not ${typeof value === 'number' ? value : describe(value)}`;
      }
      return null;
    case 'number':
      return typeof value === 'number' && Number.isFinite(value) ? null : `${where} must be a finite number, not ${describe(value)}`;
    case 'string':
      return typeof value === 'string' ? null : `${where} must be a string, not ${describe(value)}`;
    case 'boolean':
      return typeof value === 'boolean' ? null : `${where} must be a boolean, not ${describe(value)}`;
    case 'array': {
      if (!Array.isArray(value)) return `${where} must be an array, not ${describe(value)}`;
      for (let i = 0; i < value.length; i++) {
        const problem = typeProblem(value[i], schema.items, `${where}[${i}]`);
        if (problem) return problem;
      }
      return null;
    }
    case 'object':
      return isPlainObject(value) ? null : `${where} must be an object, not ${describe(value)}`;
    default:
      return null; // no type in the schema: anything JSON goes
  }
}

/**
 * Checks `params` against a method's parameter list and returns what to send (undefined members dropped;
 * undefined when there is nothing to send). Throws TypeError.
 * @param {{name: string, params: Array<{name: string, required: boolean, schema: object}>}} method
 */
function checkParams(method, params) {
  if (params === undefined || params === null) params = {};
  if (!isPlainObject(params)) {
    throw new TypeError(`${method.name}: params must be an object of named parameters, not ${describe(params)}`);
  }
  const known = new Map(method.params.map((param) => [param.name, param]));
  const out = {};
  for (const [key, value] of Object.entries(params)) {
    const param = known.get(key);
    if (!param) {
      const names = method.params.map((p) => p.name);
      throw new TypeError(`${method.name}: unknown parameter ${key} (${names.length ? `expected ${names.join(', ')}` : 'it takes none'})`);
    }
    if (value === undefined) continue;
    const problem = typeProblem(value, param.schema, `${method.name}: ${key}`);
    if (problem) throw new TypeError(problem);
    out[key] = value;
  }
  for (const param of method.params) {
    if (param.required && !(param.name in out)) throw new TypeError(`${method.name}: missing required parameter ${param.name}`);
  }
  return Object.keys(out).length ? out : undefined;
}

/** Checks the per-call options `{timeoutMs, signal}`. Throws TypeError. */
function checkCallOptions(methodName, options) {
  if (options === undefined || options === null) return {};
  if (!isPlainObject(options)) throw new TypeError(`${methodName}: options must be an object, not ${describe(options)}`);
  for (const key of Object.keys(options)) {
    if (key !== 'timeoutMs' && key !== 'signal') throw new TypeError(`${methodName}: unknown option ${key} (expected timeoutMs, signal)`);
  }
  const { timeoutMs, signal } = options;
  if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !(timeoutMs >= 0) || !Number.isFinite(timeoutMs))) {
    throw new TypeError(`${methodName}: options.timeoutMs must be a finite number ≥ 0, not ${describe(timeoutMs)}`);
  }
  if (signal !== undefined && (signal === null || typeof signal.aborted !== 'boolean' || typeof signal.addEventListener !== 'function')) {
    throw new TypeError(`${methodName}: options.signal must be an AbortSignal`);
  }
  return { timeoutMs, signal };
}

module.exports = { checkParams, checkCallOptions, typeProblem, isPlainObject };
