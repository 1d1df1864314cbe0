/* global document, sessionStorage, fetch, FormData, URL, URLSearchParams, Node, setTimeout */
// Accountants' dashboard over /api/reconciliation/invoices and /api/payouts.
// The bearer token lives in sessionStorage (this tab only) and goes out as an
// Authorization header; every value is written with textContent, never as HTML.
'use strict';

const TOKEN_KEY = 'billed.token';
const $ = (selector) => document.querySelector(selector);
let digits = {};

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function showMessage(text) {
  const box = $('#message');
  box.textContent = text || '';
  box.hidden = !text;
}

function showSignIn(reason) {
  sessionStorage.removeItem(TOKEN_KEY);
  $('#app').hidden = true;
  $('#scope').hidden = true;
  $('#sign-out').hidden = true;
  $('#sign-in').hidden = false;
  showMessage(reason);
}

async function api(path, accept) {
  const res = await fetch(path, { headers: { Authorization: `Bearer ${token()}`, Accept: accept || 'application/json' } });
  if (res.status === 401 || res.status === 403) {
    const body = await res.json().catch(() => ({}));
    showSignIn(body.error ? body.error.message : 'Sign in again.');
    throw new Error('unauthorised');
  }
  if (!res.ok) {
    const body = await res.json().catch(() => ({}));
    throw new Error(body.error ? `${body.error.code}: ${body.error.message}` : `HTTP ${res.status}`);
  }
  return res;
}

/** Minor units → decimal text, exactly (no floating point), with the currency's own number of digits. */
function money(amount, currency) {
  if (amount === null || amount === undefined) return '—';
  // Own entries only: a currency code from the data must not find Object.prototype's properties.
  const d = Object.hasOwn(digits, currency) ? digits[currency] : 2;
  const sign = amount < 0 ? '-' : '';
  const abs = String(Math.abs(amount)).padStart(d + 1, '0');
  const whole = d ? abs.slice(0, -d) : abs;
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${sign}${grouped}${d ? `.${abs.slice(-d)}` : ''} ${currency ? currency.toUpperCase() : ''}`.trim();
}

function cell(row, text, className) {
  const td = document.createElement('td');
  if (text instanceof Node) td.append(text);
  else td.textContent = text === null || text === undefined ? '' : String(text);
  if (className) td.className = className;
  row.append(td);
  return td;
}

function badge(state, label) {
  const span = document.createElement('span');
  span.className = `badge ${state}`;
  span.textContent = label || state.replace(/_/g, ' ');
  return span;
}

function filterParams() {
  const form = new FormData($('#filters'));
  const params = new URLSearchParams();
  for (const [key, value] of form) {
    const text = String(value).trim();
    if (text) params.set(key, key === 'currency' ? text.toLowerCase() : text);
  }
  return params;
}

function renderTotals(totals) {
  const body = $('#totals tbody');
  body.replaceChildren();
  for (const t of totals) {
    const row = document.createElement('tr');
    row.dataset.currency = t.currency;
    cell(row, t.currency.toUpperCase());
    cell(row, t.invoices, 'num');
    for (const amount of [t.amountDue, t.amountPaid, t.amountRefunded, t.fees, t.net]) cell(row, money(amount, t.currency), 'num');
    for (const state of ['discrepancy', 'awaiting_payout', 'unpaid', 'reconciled']) cell(row, t.reconciliation[state], 'num');
    body.append(row);
  }
  if (totals.length === 0) cell(body.appendChild(document.createElement('tr')), 'No invoices match these filters.').colSpan = 11;
}

const GATEWAY_NAMES = { stripe: 'Stripe', paypal: 'PayPal' };
const gatewayName = (gateway) => (Object.hasOwn(GATEWAY_NAMES, gateway) ? GATEWAY_NAMES[gateway] : String(gateway));
const SETTLED_IN = { stripe_payout: 'Stripe payouts', in_paypal_balance: 'PayPal balance' };

/** Stripe's and PayPal's money side by side, per currency. */
function renderGatewayTotals(totals) {
  const body = $('#gateway-totals tbody');
  body.replaceChildren();
  for (const t of totals || []) {
    const row = document.createElement('tr');
    row.dataset.gateway = t.gateway;
    row.dataset.currency = t.currency;
    cell(row, gatewayName(t.gateway), 'gateway');
    cell(row, t.currency.toUpperCase());
    cell(row, Object.hasOwn(SETTLED_IN, t.settlement) ? SETTLED_IN[t.settlement] : t.settlement, 'settlement');
    cell(row, t.invoices, 'num');
    cell(row, money(t.gross, t.currency), 'num gross');
    cell(row, money(t.fees, t.currency), 'num fees');
    cell(row, money(t.net, t.currency), 'num net');
    body.append(row);
  }
  if (!totals || totals.length === 0) cell(body.appendChild(document.createElement('tr')), 'No money received for these invoices.').colSpan = 7;
}

/** PayPal's part of an invoice: what it left in the PayPal balance, or what is still awaited. */
function paypalText(paypal) {
  if (!paypal) return '';
  const figures = `${money(paypal.gross, paypal.currency)} / ${money(paypal.fees, paypal.currency)} / ${money(paypal.net, paypal.currency)}`;
  return paypal.awaiting ? `${figures} (awaiting: ${paypal.awaiting})` : figures;
}

/** `failed: account_closed, The bank account has been closed.`: Stripe's own words for a failed payout. */
function failureText(p) {
  if (p.status !== 'failed' && p.status !== 'canceled') return '';
  return [p.failureCode, p.failureMessage].filter(Boolean).join(', ');
}

function payoutList(payouts) {
  const span = document.createElement('span');
  span.textContent = payouts
    .map((p) => {
      const failure = failureText(p);
      const again = p.repaidBy ? `, paid again in ${p.repaidBy}` : '';
      return `${p.id} (${p.status}${failure ? `: ${failure}` : ''}, ${p.arrivalDate}${again})`;
    })
    .join(', ');
  return span;
}

/** The account an invoice or payout belongs to (null: the default account of STRIPE_SECRET_KEY). */
const accountOf = (accountId) => accountId || 'default';

/** The account column shows only when the rows come from several accounts. */
function showAccounts(table, rows) {
  const several = new Set(rows.map((r) => accountOf(r.accountId))).size > 1;
  table.classList.toggle('several-accounts', several);
}

function renderInvoices(report) {
  const body = $('#invoices tbody');
  body.replaceChildren();
  $('#invoice-count').textContent = report.truncated
    ? `(${report.invoices.length} of ${report.invoiceCount}: narrow the filters, or download the CSV for all)`
    : `(${report.invoiceCount})`;
  for (const inv of report.invoices) {
    const row = document.createElement('tr');
    row.className = inv.reconciliation;
    row.dataset.invoiceId = inv.id;
    row.dataset.number = inv.number;
    row.dataset.reconciliation = inv.reconciliation;
    cell(row, badge(inv.reconciliation)).className = 'reconciliation';
    cell(row, inv.number, 'number');
    cell(row, inv.customerName);
    cell(row, accountOf(inv.accountId), 'account');
    cell(row, inv.createdAt.slice(0, 10));
    cell(row, inv.status, 'status');
    cell(row, money(inv.amountDue, inv.currency), 'num due');
    cell(row, money(inv.amountPaid, inv.currency), 'num paid');
    cell(row, money(inv.amountRefunded, inv.currency), 'num refunded');
    const settled = inv.settlementCurrency || inv.currency;
    cell(row, money(inv.fees, settled), 'num fees');
    cell(row, money(inv.net, settled), 'num net');
    cell(row, (inv.gateways || []).map(gatewayName).join(' + '), 'gateways');
    cell(row, paypalText(inv.paypal), 'paypal');
    cell(row, payoutList(inv.payouts), 'payouts');
    const why = cell(row, inv.discrepancy ? inv.discrepancy.message : '', 'why');
    if (inv.discrepancy) why.dataset.reason = inv.discrepancy.reason;
    body.append(row);
  }
  showAccounts($('#invoices'), report.invoices);
}

function renderUnmatched(report) {
  const body = $('#unmatched tbody');
  body.replaceChildren();
  $('#unmatched-count').textContent = `(${report.unmatchedPaymentCount})`;
  for (const p of report.unmatchedPayments) {
    const row = document.createElement('tr');
    row.dataset.paymentId = p.id;
    cell(row, p.id);
    cell(row, gatewayName(p.gateway), 'gateway');
    cell(row, p.unmatchedReason);
    cell(row, p.createdAt.slice(0, 10));
    cell(row, money(p.amountReceived, p.currency), 'num');
    cell(row, money(p.fees, p.settlementCurrency || p.currency), 'num');
    cell(row, money(p.net, p.settlementCurrency || p.currency), 'num');
    cell(row, payoutList(p.payouts));
    body.append(row);
  }
}

async function showPayout(id) {
  const payout = await (await api(`/api/payouts/${encodeURIComponent(id)}`)).json();
  digits[payout.currency] = payout.minorUnitDigits;
  const fetched = payout.itemsNet !== null ? `${payout.items.length} transactions` : 'transactions not fetched';
  const failure = failureText(payout);
  const status = failure ? `${payout.status} (${failure})` : payout.status;
  const again = payout.repaidBy ? `, its money paid again in ${payout.repaidBy}` : '';
  $('#payout-detail-id').textContent = `${payout.id}: ${money(payout.amount, payout.currency)}, ${status}${again}, ${fetched}`;
  const body = $('#payout-items tbody');
  body.replaceChildren();
  for (const item of payout.items) {
    const row = document.createElement('tr');
    cell(row, item.id);
    cell(row, item.type);
    cell(row, item.reportingCategory);
    // A failed payout's money coming back (payout_failure / payout_cancel): its invoices are the failed payout's.
    const returned = (item.type === 'payout_failure' || item.type === 'payout_cancel') && item.sourceId ? `money of failed payout ${item.sourceId}` : '';
    cell(row, item.invoiceNumber || (item.paymentId ? `${item.paymentId} (no invoice)` : returned), 'invoice');
    for (const amount of [item.amount, item.fee, item.net]) cell(row, money(amount, item.currency), 'num');
    body.append(row);
  }
  $('#payout-detail').hidden = false;
}

function renderPayouts(list) {
  const body = $('#payouts tbody');
  body.replaceChildren();
  for (const p of list.data) {
    digits[p.currency] = p.minorUnitDigits;
    const row = document.createElement('tr');
    row.dataset.payoutId = p.id;
    row.dataset.tieOut = p.tieOut;
    const open = document.createElement('button');
    open.type = 'button';
    open.className = 'link';
    open.textContent = p.id;
    open.addEventListener('click', () => showPayout(p.id).catch((e) => showMessage(e.message)));
    cell(row, open);
    cell(row, accountOf(p.accountId), 'account');
    cell(row, p.arrivalDate);
    const failure = failureText(p);
    const status = cell(row, failure ? `${p.status}: ${failure}` : p.status, 'status');
    if (p.repaidBy) status.append(` (paid again in ${p.repaidBy})`);
    cell(row, money(p.amount, p.currency), 'num');
    cell(row, money(p.itemsNet, p.currency), 'num');
    cell(row, money(p.difference, p.currency), 'num difference');
    // A failed payout's money never reached the bank: its tie-out is not what needs looking at.
    const failed = p.status === 'failed' || p.status === 'canceled';
    cell(row, failed ? badge('payout_failed', p.status) : badge(p.tieOut), 'tie-out');
    body.append(row);
  }
  showAccounts($('#payouts'), list.data);
}

async function load() {
  showMessage('');
  const params = filterParams();
  const payoutParams = new URLSearchParams();
  // Payouts: the same currency and dates (as arrival dates).
  for (const key of ['currency', 'from', 'to']) if (params.has(key)) payoutParams.set(key, params.get(key));
  try {
    const [report, payouts] = await Promise.all([
      api(`/api/reconciliation/invoices?${params}`).then((r) => r.json()),
      api(`/api/payouts?${payoutParams}`).then((r) => r.json()),
    ]);
    digits = { ...digits, ...report.currencyDigits };
    renderTotals(report.totals);
    renderGatewayTotals(report.totalsByGateway);
    renderInvoices(report);
    renderUnmatched(report);
    renderPayouts(payouts);
    document.body.dataset.loaded = String(Date.now());
  } catch (error) {
    if (error.message !== 'unauthorised') showMessage(error.message);
  }
}

async function downloadCsv() {
  const params = filterParams();
  params.set('format', 'csv');
  try {
    const res = await api(`/api/reconciliation/invoices?${params}`, 'text/csv');
    const url = URL.createObjectURL(await res.blob());
    const link = document.createElement('a');
    link.href = url;
    link.download = `reconciliation-${new Date().toISOString().slice(0, 10)}.csv`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (error) {
    if (error.message !== 'unauthorised') showMessage(error.message);
  }
}

function start() {
  $('#sign-in').addEventListener('submit', (event) => {
    event.preventDefault();
    const value = new FormData(event.target).get('token');
    sessionStorage.setItem(TOKEN_KEY, String(value).trim());
    event.target.reset();
    open();
  });
  $('#sign-out').addEventListener('click', () => showSignIn(''));
  $('#filters').addEventListener('submit', (event) => {
    event.preventDefault();
    load();
  });
  $('#download-csv').addEventListener('click', downloadCsv);
  if (token()) open();
  else showSignIn('');
}

/** Labels the page with the merchant account the token is confined to (GET /api/me), or every account. */
async function showScope() {
  const label = $('#scope');
  label.hidden = true;
  try {
    const me = await (await api('/api/me')).json();
    label.textContent = me.account ? `Merchant: ${me.account.name} (${me.account.id})` : 'All merchant accounts';
    label.dataset.accountId = me.accountId || '';
    label.hidden = false;
  } catch (error) {
    if (error.message !== 'unauthorised') showMessage(error.message);
  }
}

function open() {
  $('#sign-in').hidden = true;
  $('#sign-out').hidden = false;
  $('#app').hidden = false;
  showScope();
  load();
}

start();
