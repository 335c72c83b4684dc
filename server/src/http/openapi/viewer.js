// Renders /api/openapi.json: operations by tag, their parameters, bodies and
// answers, and the live event types. Text only (textContent): nothing in the
// document is ever parsed as HTML.
'use strict';

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
}

function resolve(doc, schema) {
  if (schema && schema.$ref) {
    const name = schema.$ref.split('/').pop();
    return { name, schema: doc.components.schemas[name] };
  }
  return { name: null, schema };
}

function schemaBlock(doc, schema) {
  const { name, schema: resolved } = resolve(doc, schema);
  const text = JSON.stringify(resolved, null, 2);
  return el('div', {}, name ? el('p', {}, 'Schema ', el('code', {}, name)) : '', el('pre', {}, text));
}

function table(headers, rows) {
  return el('table', {}, el('tr', {}, ...headers.map((h) => el('th', {}, h))),
    ...rows.map((row) => el('tr', {}, ...row.map((cell) => el('td', {}, cell)))));
}

function operation(doc, path, method, op) {
  const body = el('div', { class: 'body' });
  if (op.description) body.append(el('p', {}, op.description));
  if (op.security) {
    const who = op.security.map((s) => Object.keys(s)[0] || 'anyone').join(' or ');
    body.append(el('p', {}, 'Credential: ', el('code', {}, who)));
  }
  if (op.parameters) {
    body.append(el('h4', {}, 'Parameters'), table(['name', 'in', 'required', 'schema'],
      op.parameters.map((p) => [p.name, p.in, p.required ? 'yes' : 'no', JSON.stringify(p.schema)])));
  }
  if (op.requestBody) {
    for (const [type, media] of Object.entries(op.requestBody.content)) {
      body.append(el('h4', {}, `Body (${type})`), schemaBlock(doc, media.schema));
    }
  }
  body.append(el('h4', {}, 'Answers'), table(['status', 'meaning'],
    Object.entries(op.responses).map(([status, answer]) => [status, answer.description])));
  return el('details', {},
    el('summary', {}, el('span', { class: `method ${method}` }, method), ' ', el('code', {}, path), ' — ', op.summary),
    body);
}

async function main() {
  const doc = await (await fetch('/api/openapi.json')).json();
  document.getElementById('title').textContent = `${doc.info.title} ${doc.info.version}`;
  document.getElementById('description').textContent = doc.info.description;
  const byTag = new Map();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const tag = (op.tags && op.tags[0]) || 'other';
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push(operation(doc, path, method, op));
    }
  }
  const api = document.getElementById('api');
  api.replaceChildren();
  for (const [tag, operations] of byTag) api.append(el('h2', {}, tag), ...operations);
  if (doc['x-events']) {
    api.append(el('h2', {}, 'live events'), table(['event', 'data', 'who gets it'],
      Object.entries(doc['x-events']).map(([name, e]) => [name, e.data, e.who])));
  }
}

main().catch((e) => { document.getElementById('api').textContent = `Could not load the API description: ${e}`; });
