import { fileURLToPath } from 'node:url';
import { Router } from 'express';

const DIR = fileURLToPath(new URL('../dashboard/', import.meta.url));
/** The page's files by name: a Map, so a name from the URL finds only these (an object also "has" constructor, __proto__…). */
const FILES = new Map([
  ['dashboard.js', 'text/javascript; charset=utf-8'],
  ['dashboard.css', 'text/css; charset=utf-8'],
]);

/**
 * GET /dashboard: the accountants' page. It holds no data and needs no token;
 * its script asks for one and sends it with each API call. Script and styles
 * are separate files, so helmet's default CSP (script-src 'self') holds.
 */
export function dashboardRouter(): Router {
  const router = Router();
  router.get('/dashboard', (_req, res) => {
    res.set('Cache-Control', 'no-cache');
    res.type('html').sendFile('dashboard.html', { root: DIR });
  });
  router.get('/dashboard/:file', (req, res, next) => {
    const type = FILES.get(String(req.params.file));
    if (!type) return next();
    res.set('Cache-Control', 'no-cache');
    res.type(type).sendFile(String(req.params.file), { root: DIR });
  });
  return router;
}
