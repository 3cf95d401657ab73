// A tiny static server for web/ (127.0.0.1 only) with the page's security headers, plus an upload receiver
// (POST /upload, multipart/form-data) for the example form.  Used by the browser tests and by tools/serve.sh.
//
//   node tests/js/server.mjs [--root web] [--port 8080] [--host 127.0.0.1] [--mount /lib/gen.dfw=path]...
//   import { startServer } from './server.mjs';  const s = await startServer({ root, mounts, port: 0 });
//   s.url, s.requests (every request: {method, url}), s.uploads ([{fields, files: [{name, filename, type, data}]}]),
//   s.close()
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; style-src 'self'; " +
  "img-src 'self' blob: data:; connect-src 'self'; font-src 'none'; object-src 'none'; base-uri 'self'; " +
  "form-action 'self'; frame-ancestors 'self'";

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css',
  '.json': 'application/json', '.wasm': 'application/wasm', '.png': 'image/png', '.jpg': 'image/jpeg',
  '.svg': 'image/svg+xml', '.ico': 'image/x-icon', '.dfw': 'application/octet-stream', '.txt': 'text/plain',
};
const MAX_UPLOAD = 256 * 1024 * 1024;

// multipart/form-data body -> {fields: {name: value}, files: [{name, filename, type, data: Buffer}]}
export function parseMultipart(body, contentType) {
  const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType || '');
  if (!m) throw new Error('no multipart boundary');
  const delim = Buffer.from('--' + (m[1] || m[2]));
  const fields = {}, files = [];
  let pos = body.indexOf(delim);
  while (pos >= 0) {
    pos += delim.length;
    if (body.subarray(pos, pos + 2).toString() === '--') break;
    pos += 2; // CRLF
    const hEnd = body.indexOf('\r\n\r\n', pos);
    if (hEnd < 0) break;
    const headers = body.subarray(pos, hEnd).toString('utf8');
    const next = body.indexOf(delim, hEnd + 4);
    if (next < 0) break;
    const data = body.subarray(hEnd + 4, next - 2); // minus the CRLF before the delimiter
    const name = /name="([^"]*)"/i.exec(headers)?.[1];
    const filename = /filename="([^"]*)"/i.exec(headers)?.[1];
    const type = /content-type:\s*([^\r\n]+)/i.exec(headers)?.[1] || '';
    if (filename !== undefined) files.push({ name, filename, type, data: Buffer.from(data) });
    else fields[name] = data.toString('utf8');
    pos = next;
  }
  return { fields, files };
}

export function startServer({ root, mounts = {}, port = 0, host = '127.0.0.1', quiet = true } = {}) {
  const rootDir = path.resolve(root);
  const requests = [], uploads = [];
  const resolveFile = urlPath => {
    if (Object.hasOwn(mounts, urlPath) && !urlPath.endsWith('/')) return mounts[urlPath];
    for (const [prefix, target] of Object.entries(mounts))
      if (prefix.endsWith('/') && urlPath.startsWith(prefix)) return path.join(target, urlPath.slice(prefix.length));
    return path.join(rootDir, urlPath);
  };
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method, url: req.url, headers: req.headers });
    const headers = {
      'Content-Security-Policy': CSP, 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer',
      'Cross-Origin-Opener-Policy': 'same-origin', 'Cache-Control': 'no-cache',
    };
    const fail = (code, text) => { res.writeHead(code, { ...headers, 'Content-Type': 'text/plain' }); res.end(text); };
    let urlPath;
    try {
      urlPath = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    } catch {
      return fail(400, 'bad request');
    }
    if (urlPath.includes('\0') || urlPath.split('/').includes('..')) return fail(400, 'bad path');
    if (req.method === 'POST' && urlPath === '/upload') {
      const chunks = [];
      let size = 0;
      req.on('data', c => { size += c.length; if (size > MAX_UPLOAD) req.destroy(); else chunks.push(c); });
      req.on('end', () => {
        try {
          const up = parseMultipart(Buffer.concat(chunks), req.headers['content-type']);
          uploads.push(up);
          if (!quiet) console.log(`upload: ${up.files.map(f => `${f.filename} (${f.type}, ${f.data.length} bytes)`).join(', ')}`);
          res.writeHead(200, { ...headers, 'Content-Type': 'text/html; charset=utf-8' });
          const list = up.files.map(f => `<li>${f.filename.replace(/[<&"]/g, '')}: ${f.data.length} bytes</li>`).join('');
          res.end(`<!doctype html><meta charset="utf-8"><title>Received</title><h1>Received</h1><ul id="received">${list}</ul>`);
        } catch (e) {
          fail(400, `bad upload: ${e.message}`);
        }
      });
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return fail(405, 'method not allowed');
    let file = resolveFile(urlPath);
    fs.stat(file, (err, st) => {
      if (!err && st.isDirectory()) {
        if (!urlPath.endsWith('/')) { res.writeHead(301, { ...headers, Location: urlPath + '/' }); return res.end(); }
        file = path.join(file, 'index.html');
      }
      fs.readFile(file, (err2, data) => {
        if (err2) return fail(404, 'not found');
        res.writeHead(200, { ...headers, 'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream', 'Content-Length': data.length });
        res.end(req.method === 'HEAD' ? undefined : data);
      });
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const a = server.address();
      resolve({
        url: `http://${host}:${a.port}`, port: a.port, requests, uploads, server,
        close: () => new Promise(r => { server.closeAllConnections?.(); server.close(() => r()); }),
      });
    });
  });
}

// CLI (tools/serve.sh)
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2), opt = { root: 'web', port: 8080, host: '127.0.0.1', mounts: {}, quiet: false };
  for (let i = 0; i < args.length; i++) {
    const a = args[i], v = args[i + 1];
    if (a === '--root' && v) opt.root = v, i++;
    else if (a === '--port' && v) opt.port = Number(v), i++;
    else if (a === '--host' && v) opt.host = v, i++;
    else if (a === '--mount' && v && v.includes('=')) { const [k, p] = v.split('='); opt.mounts[k] = path.resolve(p); i++; }
    else { console.error(`usage: node server.mjs [--root DIR] [--port P] [--host H] [--mount /url=path]... (got '${a}')`); process.exit(2); }
  }
  const s = await startServer(opt);
  console.log(`serving ${path.resolve(opt.root)} at ${s.url}/  (Ctrl+C stops)`);
}
