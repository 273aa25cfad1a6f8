// The html report's inline style and script. Constant text: nothing from a
// record is ever written into them, so the data stays in escaped HTML and the
// script only reads attributes and sets textContent.
#include "output/report_html_parts.hpp"

namespace why502::report_page {

const char kStyle[] = R"css(
body{font:14px/1.45 system-ui,sans-serif;margin:1.5em 2em;color:#222;max-width:1150px}
h1{font-size:1.45em;margin:0 0 .4em}
h2{font-size:1.15em;margin:1.6em 0 .5em;padding-bottom:.15em;border-bottom:1px solid #ddd}
.lead{font-size:1.2em;margin:.3em 0 .6em}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.25em 1.2em;margin:.5em 0}
dl.facts dt{font-weight:600;color:#555}
dl.facts dd{margin:0}
.local,.note,.recording,.footer,.key{color:#666}
.note{font-style:italic}
.warn{background:#fff4e0;border-left:4px solid #e69500;padding:.4em .8em}
.page-error{background:#fee;color:#900;padding:.5em;border:1px solid #c00}
table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f3f3f3}
td.num{text-align:right;white-space:nowrap}
.sw{display:inline-block;width:10px;height:10px;margin-right:5px}
.cause,time{white-space:nowrap}
#records td:first-child{white-space:nowrap}
#records td:last-child{word-break:break-word}
#records summary{cursor:pointer}
#records details p,#records details ul,#records details ol{margin:.25em 0 .25em 1.2em;padding:0}
.type{font-size:.85em;background:#eee;border-radius:3px;padding:0 4px}
.meta{color:#777;font-size:.9em}
#timeline{display:block;margin:.3em 0}
#timeline text{font:11px sans-serif;fill:#333}
#timeline text.local{fill:#777}
#timeline g.marker,#timeline g.period,#timeline g.lane{cursor:default}
.legend button{font:inherit;background:#fff;border:1px solid #ccc;border-radius:3px;margin:2px 4px 2px 0;
  padding:2px 8px;cursor:pointer}
.legend button .sw{width:12px;height:12px;vertical-align:-1px}
.legend button[aria-pressed=false]{opacity:.35;text-decoration:line-through}
.key span{margin-right:1.5em}
.k-death{color:#000}.k-queue{color:#7f7f7f}.k-nolive{color:#e377c2}
.controls{margin:.5em 0}
.controls label{margin-right:1em}
.controls select,.controls input{font:inherit;max-width:22em}
@media print{.controls,.legend button[aria-pressed=false]{display:none}}
)css";

// Runs once, at the end of the body. Everything it writes goes through
// textContent or attributes; the URL fragment (#cause=refused&upstream=…
// &status=502&q=…&off=reset,closed_early) sets the filters, so a link can
// point at one slice of the incident.
const char kScript[] = R"js(
(function () {
  'use strict';
  var errorBox = document.getElementById('page-error');
  window.onerror = function (message) {
    errorBox.hidden = false;
    errorBox.textContent = 'This page hit a script error: ' + message;
  };
  function each(list, f) { Array.prototype.forEach.call(list, f); }
  function pad(n) { return (n < 10 ? '0' : '') + n; }
  function zone(d) {
    var m = -d.getTimezoneOffset(), sign = m < 0 ? '-' : '+';
    m = Math.abs(m);
    return 'UTC' + sign + pad(Math.floor(m / 60)) + ':' + pad(m % 60);
  }
  function local(ms, format) {
    var d = new Date(ms), hm = pad(d.getHours()) + ':' + pad(d.getMinutes());
    if (format === 'm') return hm;
    if (format === 's') return hm + ':' + pad(d.getSeconds());
    var day = pad(d.getMonth() + 1) + '-' + pad(d.getDate());
    if (format === 'd') return day + ' ' + hm;
    return d.getFullYear() + '-' + day + ' ' + hm + ':' + pad(d.getSeconds()) + ' ' + zone(d);
  }

  // Local times, from the UTC instants in data-t (ms since the epoch).
  var zoneName = '';
  try { zoneName = Intl.DateTimeFormat().resolvedOptions().timeZone || ''; } catch (e) { zoneName = ''; }
  var caption = document.getElementById('local-caption');
  if (caption) caption.textContent = 'local';
  each(document.querySelectorAll('.local[data-t]'), function (el) {
    var ms = Number(el.getAttribute('data-t')), format = el.getAttribute('data-fmt');
    el.textContent = format === 'full' ? '(local ' + local(ms, format) + (zoneName ? ', ' + zoneName : '') + ')'
                                       : local(ms, format);
  });
  each(document.querySelectorAll('time[data-t]'), function (el) {
    el.title = 'local: ' + local(Number(el.getAttribute('data-t')), 'full');
  });

  // The legend: a cause toggled off leaves the timeline, the rest re-stack.
  var hidden = {};
  function restack() {
    each(document.querySelectorAll('#timeline g.bucket'), function (g) {
      var y = Number(g.getAttribute('data-base'));
      each(g.querySelectorAll('rect'), function (bar) {
        var off = hidden[bar.getAttribute('data-cause')] === true;
        bar.style.display = off ? 'none' : '';
        if (off) return;
        y -= Number(bar.getAttribute('height'));
        bar.setAttribute('y', y.toFixed(1));
      });
    });
    each(document.querySelectorAll('#timeline g.marker'), function (m) {
      m.style.display = hidden[m.getAttribute('data-cause')] === true ? 'none' : '';
    });
    each(document.querySelectorAll('#legend button[data-cause]'), function (b) {
      b.setAttribute('aria-pressed', hidden[b.getAttribute('data-cause')] === true ? 'false' : 'true');
    });
  }

  // The records table: rows hidden unless they match every filter.
  var filters = {cause: document.getElementById('f-cause'), upstream: document.getElementById('f-upstream'),
                 status: document.getElementById('f-status'), q: document.getElementById('f-text')};
  var rows = document.querySelectorAll('#records tbody tr.rec');
  var shown = document.getElementById('shown');
  function apply() {
    if (!filters.cause) return;
    var cause = filters.cause.value, upstream = filters.upstream.value, status = filters.status.value;
    var q = filters.q.value.toLowerCase(), n = 0;
    each(rows, function (row) {
      var match = (!cause || row.getAttribute('data-cause') === cause) &&
                  (!upstream || row.getAttribute('data-upstream') === upstream) &&
                  (!status || row.getAttribute('data-status') === status) &&
                  (!q || row.textContent.toLowerCase().indexOf(q) !== -1);
      row.hidden = !match;
      if (match) n += 1;
    });
    shown.textContent = String(n);
  }

  function choose(select, value) {
    each(select.options, function (o, i) { if (o.value === value) select.selectedIndex = i; });
  }
  function readFragment() {
    var state = {};
    location.hash.replace(/^#/, '').split('&').forEach(function (pair) {
      var at = pair.indexOf('=');
      if (!pair || at < 1) return;
      try { state[decodeURIComponent(pair.slice(0, at))] = decodeURIComponent(pair.slice(at + 1)); } catch (e) { }
    });
    return state;
  }
  function writeFragment() {
    var parts = [];
    ['cause', 'upstream', 'status', 'q'].forEach(function (k) {
      if (filters[k] && filters[k].value) parts.push(k + '=' + encodeURIComponent(filters[k].value));
    });
    var off = Object.keys(hidden).filter(function (c) { return hidden[c]; });
    if (off.length) parts.push('off=' + off.map(encodeURIComponent).join(','));
    try { history.replaceState(null, "", parts.length ? "#" + parts.join("&") : location.pathname + location.search); } catch (e) { }
  }

  var state = readFragment();
  if (filters.cause) {
    ['cause', 'upstream', 'status'].forEach(function (k) { if (state[k] !== undefined) choose(filters[k], state[k]); });
    if (state.q !== undefined) filters.q.value = state.q;
    ['cause', 'upstream', 'status'].forEach(function (k) {
      filters[k].addEventListener('change', function () { apply(); writeFragment(); });
    });
    filters.q.addEventListener('input', function () { apply(); writeFragment(); });
  }
  (state.off || '').split(',').forEach(function (c) { if (c) hidden[c] = true; });
  each(document.querySelectorAll('#legend button[data-cause]'), function (b) {
    b.addEventListener('click', function () {
      var c = b.getAttribute('data-cause');
      hidden[c] = !hidden[c];
      restack();
      writeFragment();
    });
  });
  restack();
  apply();
  document.body.setAttribute('data-script', 'ran');
})();
)js";

}  // namespace why502::report_page
