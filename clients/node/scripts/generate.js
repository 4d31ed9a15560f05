#!/usr/bin/env node
'use strict';

/**
 * Generates the client's method layer from the daemon's `rpc.discover` (OpenRPC) document:
 *
 *   lib/methods.js   the method table (names, params, schemas, error codes) and one method per RPC method
 *   index.d.ts       the region between the GENERATED markers: parameter types and method declarations
 *
 * Usage:
 *   node scripts/generate.js                  from the committed snapshot openrpc.json
 *   node scripts/generate.js --socket PATH    fetch rpc.discover from a running daemon, update openrpc.json, generate
 *   node scripts/generate.js --check          exit 1 if the generated files differ from what the snapshot gives
 */

const fs = require('node:fs');
const path = require('node:path');
const { Connection } = require('../lib/connection');

const root = path.resolve(__dirname, '..');
const SNAPSHOT = path.join(root, 'openrpc.json');
const METHODS_JS = path.join(root, 'lib', 'methods.js');
const INDEX_DTS = path.join(root, 'index.d.ts');
const BEGIN = '// BEGIN GENERATED METHODS (scripts/generate.js from openrpc.json; do not edit by hand)';
const END = '// END GENERATED METHODS';

/** Results typed by hand in index.d.ts rather than from their schema. */
const RESULT_TYPES = {
  /** The OpenRPC meta-schema (a `$ref` outside the document). */
  'rpc.discover': 'OpenRPCDocument',
  /** The client's subscribe returns its Subscription (events, resume), not the daemon's answer. */
  subscribe: 'Subscription',
};

const SCHEMA_REF = '#/components/schemas/';

/** Component names whose type name would clash with the client's own declarations. */
const RENAMED = { Event: 'EventParams' };

/** The TypeScript name of a component schema: `Event.producer.paymentSucceeded` -> `EventProducerPaymentSucceeded`. */
function componentTypeName(name) {
  if (RENAMED[name]) return RENAMED[name];
  return name
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((part) => part[0].toUpperCase() + part.slice(1))
    .join('');
}

/** Parameter types richer than their schema. */
const PARAM_TYPES = {
  'addService.service': 'ServiceDefinition',
  'subscribe.types': 'EventType[]',
};

/** `rpc.discover` -> `discover` (as the Swift client names it); other dots -> camelCase. */
function jsName(name) {
  return name.replace(/^rpc\./, '').replace(/\.(\w)/g, (_, c) => c.toUpperCase());
}

function typeName(name) {
  const js = jsName(name);
  return js[0].toUpperCase() + js.slice(1);
}

function schemaToTs(schema, indent = '') {
  if (!schema || typeof schema !== 'object') return 'unknown';
  if (typeof schema.$ref === 'string') {
    return schema.$ref.startsWith(SCHEMA_REF) ? componentTypeName(schema.$ref.slice(SCHEMA_REF.length)) : 'unknown';
  }
  if (Array.isArray(schema.oneOf)) {
    return schema.oneOf.map((option) => schemaToTs(option, indent)).join(' | ');
  }
  if (Array.isArray(schema.enum)) return schema.enum.map((v) => JSON.stringify(v)).join(' | ');
  if (Array.isArray(schema.type)) {
    return schema.type.map((type) => schemaToTs({ ...schema, type }, indent)).join(' | ');
  }
  switch (schema.type) {
    case 'integer':
    case 'number':
      return 'number';
    case 'string':
      return 'string';
    case 'boolean':
      return 'boolean';
    case 'null':
      return 'null';
    case 'array': {
      const item = schemaToTs(schema.items, indent);
      return /[|&]/.test(item) ? `Array<${item}>` : `${item}[]`;
    }
    case 'object': {
      const properties = schema.properties || {};
      const names = Object.keys(properties);
      if (!names.length) return 'Record<string, unknown>';
      const required = new Set(schema.required || []);
      const inner = indent + '  ';
      const lines = names.map((key) => `${inner}${key}${required.has(key) ? '' : '?'}: ${schemaToTs(properties[key], inner)};`);
      if (schema.additionalProperties !== false) lines.push(`${inner}[member: string]: unknown;`);
      return `{\n${lines.join('\n')}\n${indent}}`;
    }
    default:
      return 'unknown';
  }
}

function normalise(document) {
  if (!document || !Array.isArray(document.methods)) throw new Error('not an OpenRPC document: no methods array');
  const seen = new Map();
  return document.methods.map((method) => {
    const js = jsName(method.name);
    if (seen.has(js)) throw new Error(`${method.name} and ${seen.get(js)} both map to ${js}`);
    seen.set(js, method.name);
    return {
      name: method.name,
      jsName: js,
      summary: method.summary || '',
      params: (method.params || []).map((param) => ({
        name: param.name,
        required: Boolean(param.required),
        schema: param.schema || {},
        summary: param.summary || '',
      })),
      errors: (method.errors || []).map((error) => error.code),
      errorText: (method.errors || []).map((error) => `${error.code} ${error.message}`).join(', '),
      result: method.result || { name: 'result', schema: {} },
    };
  });
}

function comment(text, indent) {
  const clean = String(text).replace(/\*\//g, '*\\/').trim();
  return clean ? `${indent}/** ${clean} */\n` : '';
}

function generateMethodsJs(methods, document) {
  const table = methods.map(({ name, jsName: js, params, errors }) => ({
    name,
    jsName: js,
    params: params.map(({ name: n, required, schema }) => ({ name: n, required, schema })),
    errors,
  }));
  let out = `'use strict';

// GENERATED by scripts/generate.js from openrpc.json (${document.info && document.info.title} ${document.info && document.info.version}).
// Do not edit by hand: run \`node scripts/generate.js --socket PATH\` against a daemon, or \`node scripts/generate.js\`.

/** Every method of the daemon's rpc.discover: name, JavaScript name, params (name, required, schema), error codes. */
const METHODS = deepFreeze(${JSON.stringify(table, null, 2)});

/** One method per RPC method; each checks its arguments (TypeError) and calls \`this._invoke\`. */
class GeneratedMethods {
`;
  methods.forEach((method, index) => {
    const doc = [method.summary];
    if (method.errors.length) doc.push(`Errors: ${method.errorText}.`);
    out += comment(doc.filter(Boolean).join(' '), '  ');
    out += `  ${method.jsName}(params, options) {\n    return this._invoke(METHODS[${index}], params, options);\n  }\n`;
    if (index < methods.length - 1) out += '\n';
  });
  out += `}

function deepFreeze(value) {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

module.exports = { METHODS, GeneratedMethods };
`;
  return out;
}

/** One declaration per component schema: an interface for an object, a type alias otherwise. */
function componentDeclarations(document) {
  const schemas = (document.components && document.components.schemas) || {};
  let out = '';
  for (const name of Object.keys(schemas).sort()) {
    const schema = schemas[name];
    const typeName = componentTypeName(name);
    out += `/** \`components/schemas/${name}\`. */\n`;
    if (schema.type === 'object' && schema.properties && Object.keys(schema.properties).length) {
      out += `export interface ${typeName} ${schemaToTs(schema, '')}\n\n`;
    } else if (Array.isArray(schema.oneOf) && schema.oneOf.length > 3) {
      out += `export type ${typeName} =${schema.oneOf.map((option) => `\n  | ${schemaToTs(option, '  ')}`).join('')};\n\n`;
    } else {
      out += `export type ${typeName} = ${schemaToTs(schema, '')};\n\n`;
    }
  }
  const events = Object.keys(schemas).filter((name) => name.startsWith('Event.')).sort();
  if (events.length) {
    out += `/** Each event type's notification params. */\nexport interface EventParamsByType {\n`;
    for (const name of events) out += `  ${JSON.stringify(name.slice('Event.'.length))}: ${componentTypeName(name)};\n`;
    out += '}\n\n';
  }
  const errors = Object.keys(schemas).filter((name) => name.startsWith('ErrorData.')).sort();
  if (errors.length) {
    out += `/** Each error's \`data\`, by the error's name. */\nexport interface ErrorDataByName {\n`;
    for (const name of errors) out += `  ${name.slice('ErrorData.'.length)}: ${componentTypeName(name)};\n`;
    out += '}\n\n';
  }
  return out;
}

function generateDts(methods, document) {
  let out = `${BEGIN}\n\n`;
  out += componentDeclarations(document);
  const eventTypes = methods.find((m) => m.name === 'subscribe')?.params.find((p) => p.name === 'types')?.schema?.items?.enum;
  out += `/** Every event type the daemon publishes (from subscribe's \`types\` enum). */\n`;
  out += `export type EventType =${eventTypes ? eventTypes.map((t) => `\n  | ${JSON.stringify(t)}`).join('') : 'string'};\n\n`;
  out += `/** Every RPC method name, as the daemon's rpc.discover lists them. */\nexport type MethodName =${methods
    .map((m) => `\n  | ${JSON.stringify(m.name)}`)
    .join('')};\n\n`;
  for (const method of methods) {
    if (!method.params.length) continue;
    out += `export interface ${typeName(method.name)}Params {\n`;
    for (const param of method.params) {
      const override = PARAM_TYPES[`${method.name}.${param.name}`];
      out += comment(param.summary, '  ');
      out += `  ${param.name}${param.required ? '' : '?'}: ${override || schemaToTs(param.schema, '  ')};\n`;
    }
    out += '}\n\n';
  }
  out += `/** The promise-based methods, one per RPC method. */\nexport interface WPWithinMethods {\n`;
  for (const method of methods) {
    const result = RESULT_TYPES[method.name] || schemaToTs(method.result.schema, '  ');
    const anyRequired = method.params.some((p) => p.required);
    const paramsType = method.params.length ? `${typeName(method.name)}Params` : 'Record<string, never>';
    const doc = [method.summary];
    if (method.errors.length) doc.push(`Errors: ${method.errorText}.`);
    out += comment(doc.filter(Boolean).join(' '), '  ');
    out += `  ${method.jsName}(params${anyRequired ? '' : '?'}: ${paramsType}, options?: CallOptions): Promise<${result}>;\n`;
  }
  out += `}\n\n${END}`;
  return out;
}

function spliceDts(current, region) {
  const begin = current.indexOf(BEGIN);
  const end = current.indexOf(END);
  if (begin === -1 || end === -1 || end < begin) throw new Error(`${INDEX_DTS}: the GENERATED markers are missing`);
  return current.slice(0, begin) + region + current.slice(end + END.length);
}

async function fetchDocument(socketPath) {
  const connection = await Connection.open(socketPath, {
    maxLineLength: 64 * 1024 * 1024,
    onNotification() {},
    onClose() {},
  });
  try {
    return await connection.call('rpc.discover', undefined, { timeoutMs: 10000 });
  } finally {
    connection.close();
  }
}

/** What the generator writes for `document`: {path: contents}. */
function render(document) {
  const methods = normalise(document);
  return {
    [METHODS_JS]: generateMethodsJs(methods, document),
    [INDEX_DTS]: spliceDts(fs.readFileSync(INDEX_DTS, 'utf8'), generateDts(methods, document)),
  };
}

async function main(argv) {
  const check = argv.includes('--check');
  const socketIndex = argv.indexOf('--socket');
  let document;
  if (socketIndex !== -1) {
    const socketPath = argv[socketIndex + 1];
    if (!socketPath) throw new Error('--socket needs a path');
    document = await fetchDocument(socketPath);
    if (!check) fs.writeFileSync(SNAPSHOT, JSON.stringify(document, null, 2) + '\n');
  } else {
    document = JSON.parse(fs.readFileSync(SNAPSHOT, 'utf8'));
  }
  const outputs = render(document);
  let stale = [];
  for (const [file, contents] of Object.entries(outputs)) {
    const current = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    if (current === contents) continue;
    if (check) stale.push(path.relative(root, file));
    else fs.writeFileSync(file, contents);
  }
  if (stale.length) {
    console.error(`out of date: ${stale.join(', ')}; run: node scripts/generate.js${socketIndex !== -1 ? ' --socket PATH' : ''}`);
    process.exitCode = 1;
  }
}

module.exports = { jsName, normalise, render, RESULT_TYPES, componentTypeName };

if (require.main === module) {
  main(process.argv.slice(2)).catch((error) => {
    console.error(`generate: ${error.message}`);
    process.exit(1);
  });
}
