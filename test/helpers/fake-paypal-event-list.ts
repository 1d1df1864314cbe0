import type { FakePaypal } from './fake-paypal.js';
import { paypalError } from './fake-paypal-orders.js';

/** PayPal's default page size of the listing; the fake refuses more than MAX_PAGE_SIZE as a bad parameter. */
const DEFAULT_PAGE_SIZE = 10;
const MAX_PAGE_SIZE = 300;

const invalidParameter = (field: string, issue: string) => paypalError(400, 'VALIDATION_ERROR', 'Invalid data provided', [{ field, issue }]);

/**
 * `GET /v1/notifications/webhooks-events` (Webhooks Management v1, "List event notifications"):
 * the event notifications recorded for the token's app (`fake.recordEvent`), newest first, filtered
 * by `start_time` / `end_time` (RFC 3339, both ends included, on create_time) and `event_type`, in
 * pages of `page_size` (default 10) with a `next` link (rel "next") while more remain. The link's
 * origin is `fake.eventLinkBase` (this fake's URL unless a test sets PayPal's host, or another).
 */
export function addEventListRoutes(fake: FakePaypal): void {
  fake.route('GET', /^\/v1\/notifications\/webhooks-events$/, (req) => {
    const query = new URL(`http://fake${req.url}`).searchParams;
    const pageSize = query.has('page_size') ? Number(query.get('page_size')) : DEFAULT_PAGE_SIZE;
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE) return invalidParameter('page_size', `page_size must be 1 to ${MAX_PAGE_SIZE}.`);
    const bound = (name: string) => {
      const value = query.get(name);
      return value === null ? null : Date.parse(value);
    };
    const [start, end] = [bound('start_time'), bound('end_time')];
    if (Number.isNaN(start)) return invalidParameter('start_time', 'Invalid date-time.');
    if (Number.isNaN(end)) return invalidParameter('end_time', 'Invalid date-time.');
    const type = query.get('event_type');
    const offset = query.has('next_page_token') ? Number(Buffer.from(query.get('next_page_token')!, 'base64url').toString('utf8')) : 0;
    if (!Number.isInteger(offset) || offset < 0) return invalidParameter('next_page_token', 'Invalid page token.');

    const matching = (fake.events.get(req.clientId ?? '') ?? [])
      .filter((event) => {
        const at = Date.parse(String(event.create_time));
        return (start === null || at >= start) && (end === null || at <= end) && (type === null || event.event_type === type);
      })
      .sort((a, b) => Date.parse(String(b.create_time)) - Date.parse(String(a.create_time)) || String(a.id).localeCompare(String(b.id)));
    const events = matching.slice(offset, offset + pageSize);
    const links = [];
    if (offset + pageSize < matching.length) {
      const next = new URLSearchParams(query);
      next.set('next_page_token', Buffer.from(String(offset + pageSize), 'utf8').toString('base64url'));
      links.push({ href: `${fake.eventLinkBase ?? fake.url}/v1/notifications/webhooks-events?${next}`, rel: 'next', method: 'GET' });
    }
    return { body: { events, count: events.length, links } };
  });
}
