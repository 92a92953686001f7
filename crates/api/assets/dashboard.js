// signalcraft dashboard: one tenant's series, forecasts, anomalies, alerts, rules and news, read
// from the tenant API (/api/v1) with the caller's bearer token and kept live by its event
// stream. Plain script, no build step; uPlot (vendored) draws the charts. Every text that comes
// from the API is set with textContent, never parsed as HTML.
'use strict';

(() => {
  const API = '/api/v1';
  const TOKEN_KEY = 'signalcraft.token';
  const DAY = 86400;
  /** How far back the chart reads raw points before falling back to hourly means. */
  const CHART_WINDOW_DAYS = 35;
  const RAW_POINTS_LIMIT = 5000;
  const TILE_COUNT = 8;
  /** Forecast shown past the last value; the rest of the horizon is in the summary. */
  const FORECAST_SHOWN_DAYS = 7;
  const ALERTS_LISTED = 50;
  const SENTIMENT_DAYS = 60;

  const $ = (id) => document.getElementById(id);
  const darkScheme = matchMedia('(prefers-color-scheme: dark)');
  const session = { token: null, tenant: null, role: null, exp: 0 };
  const view = {
    catalogue: [],
    selected: null,
    chart: null,
    sentimentChart: null,
    events: null,
    eventsRetry: null,
    wasDown: false,
    pending: new Map(),
    liveUpdates: 0,
  };

  // ---- helpers ------------------------------------------------------------------------------

  const el = (tag, attributes = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (name === 'class') node.className = value;
      else if (name === 'text') node.textContent = value;
      else node.setAttribute(name, value);
    }
    for (const child of children) node.append(child);
    return node;
  };
  const seconds = (iso) => Date.parse(iso) / 1000;
  const utc = (iso) => new Date(iso).toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
  const number = (value) =>
    value === null || value === undefined ? '—' : Number(value).toLocaleString('en', { maximumFractionDigits: 3 });
  const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  const tenantPath = () => `${API}/tenants/${encodeURIComponent(session.tenant)}`;
  const seriesPath = (id) => `${tenantPath()}/series/${encodeURIComponent(id)}`;
  const canEdit = () => session.role === 'editor' || session.role === 'admin';

  /** Debounces `task` under `key`: bursts of live events cause one reload. */
  const soon = (key, task, ms = 250) => {
    clearTimeout(view.pending.get(key));
    view.pending.set(key, setTimeout(() => { view.pending.delete(key); task(); }, ms));
  };

  class ApiError extends Error {
    constructor(status, detail) { super(detail); this.status = status; }
  }

  async function api(path, options = {}) {
    const headers = { accept: 'application/json', ...(options.headers || {}) };
    if (session.token) headers.authorization = `Bearer ${session.token}`;
    const response = await fetch(path, { ...options, headers });
    if (response.status === 401 && session.token) {
      signOut('Your session has ended (the token expired or was refused): sign in again.');
      throw new ApiError(401, 'signed out');
    }
    if (response.status === 204) return null;
    const body = await response.json().catch(() => null);
    if (!response.ok) throw new ApiError(response.status, (body && (body.detail || body.title)) || response.statusText);
    return body;
  }

  // ---- signing in ---------------------------------------------------------------------------

  /** The claims of a JWT, read (not verified: the API checks every request). */
  function claims(token) {
    const parts = token.split('.');
    if (parts.length !== 3) return null;
    try {
      const json = atob(parts[1].replace(/-/g, '+').replace(/_/g, '/'));
      const value = JSON.parse(json);
      return typeof value.tenant === 'string' && typeof value.role === 'string' ? value : null;
    } catch {
      return null;
    }
  }

  function useToken(token) {
    const found = claims(token);
    if (!found) return 'That is neither an API key (sck_…) nor a signalcraft token.';
    if (found.exp && found.exp * 1000 < Date.now()) return 'That token has expired.';
    Object.assign(session, { token, tenant: found.tenant, role: found.role, exp: found.exp || 0 });
    sessionStorage.setItem(TOKEN_KEY, token);
    return null;
  }

  /** A token handed over in the address's fragment (never sent to the server), then removed. */
  function tokenFromFragment() {
    const fragment = new URLSearchParams(location.hash.slice(1));
    const token = fragment.get('token');
    if (token !== null) history.replaceState(null, '', location.pathname + location.search);
    return token;
  }

  async function signIn(event) {
    event.preventDefault();
    const credential = $('credential').value.trim();
    $('sign-in-error').textContent = '';
    let token = credential;
    if (credential.startsWith('sck_')) {
      try {
        const answer = await api(`${API}/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ api_key: credential }),
        });
        token = answer.access_token;
      } catch (error) {
        $('sign-in-error').textContent = `Sign-in refused: ${error.message}`;
        return;
      }
    }
    const refused = useToken(token);
    if (refused) {
      $('sign-in-error').textContent = refused;
      return;
    }
    $('credential').value = '';
    await start();
  }

  function signOut(reason) {
    sessionStorage.removeItem(TOKEN_KEY);
    Object.assign(session, { token: null, tenant: null, role: null, exp: 0 });
    stopEvents();
    setStream('off', 'Live updates: off');
    $('board').hidden = true;
    $('who').hidden = true;
    $('sign-out').hidden = true;
    $('sign-in').hidden = false;
    $('sign-in-error').textContent = reason || '';
    $('credential').focus();
  }

  // ---- the board ----------------------------------------------------------------------------

  async function start() {
    $('sign-in').hidden = true;
    $('board').hidden = false;
    $('sign-out').hidden = false;
    $('who').hidden = false;
    $('who').textContent = `Tenant ${session.tenant} · ${session.role}`;
    $('rule-new').hidden = !canEdit();
    startEvents();
    await loadAll();
  }

  async function loadAll() {
    const board = $('board');
    board.dataset.state = 'loading';
    await loadCatalogue();
    await Promise.all([
      loadChart(),
      loadTiles(),
      loadAlerts(),
      loadRules(),
      loadNews(),
    ]).then(() => { board.dataset.state = 'ready'; }, (error) => { board.dataset.state = 'error'; report(error); });
  }

  function report(error) {
    if (error instanceof ApiError && error.status === 401) return;
    console.error(error);
  }

  async function loadCatalogue() {
    const answer = await api(`${tenantPath()}/series`);
    view.catalogue = answer.series;
    if (!view.selected || !view.catalogue.some((s) => s.series_id === view.selected)) {
      const own = view.catalogue.find((s) => s.series_id.startsWith('custom:'));
      view.selected = (own || view.catalogue[0] || {}).series_id || null;
    }
    fillPicker();
  }

  function fillPicker() {
    const query = $('series-search').value.trim().toLowerCase();
    const select = $('series-select');
    const matching = view.catalogue.filter(
      (s) => !query || s.series_id.toLowerCase().includes(query) || s.metric.toLowerCase().includes(query));
    select.replaceChildren(...matching.map((s) => {
      const option = el('option', { value: s.series_id, text: s.unit ? `${s.series_id} (${s.unit})` : s.series_id });
      option.selected = s.series_id === view.selected;
      return option;
    }));
    $('series-count').textContent = String(matching.length);
  }

  function pick(seriesId) {
    if (!seriesId || seriesId === view.selected) return;
    view.selected = seriesId;
    fillPicker();
    loadChart().catch(report);
  }

  // ---- the chart ----------------------------------------------------------------------------

  async function readPoints(entry) {
    const from = new Date((seconds(entry.latest_ts) - CHART_WINDOW_DAYS * DAY) * 1000).toISOString();
    const base = `${seriesPath(entry.series_id)}/points?from=${encodeURIComponent(from)}`;
    const raw = await api(`${base}&resolution=raw&limit=${RAW_POINTS_LIMIT}`);
    if (!raw.next_from) return raw;
    return api(`${base}&resolution=hour&limit=10000`);
  }

  async function readForecast(seriesId) {
    try {
      return await api(`${seriesPath(seriesId)}/forecast`);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) return null;
      throw error;
    }
  }

  async function loadChart() {
    const figure = $('chart');
    const entry = view.catalogue.find((s) => s.series_id === view.selected);
    if (!entry) {
      figure.dataset.state = 'empty';
      $('chart-summary').textContent = 'This tenant has no series yet.';
      return;
    }
    figure.dataset.state = 'loading';
    const [page, forecast, alerts] = await Promise.all([
      readPoints(entry),
      readForecast(entry.series_id),
      api(`${tenantPath()}/alerts?limit=500`),
    ]);
    if (entry.series_id !== view.selected) return; // another series was picked meanwhile
    drawChart(entry, page, forecast, alerts.alerts.filter((a) => a.series_id === entry.series_id));
  }

  function drawChart(entry, page, forecast, alerts) {
    const points = page.points;
    const allSteps = forecast ? forecast.points : [];
    const lastValueAt = points.length ? seconds(points[points.length - 1].ts) : -Infinity;
    const steps = allSteps.filter((step) => seconds(step.ts) <= lastValueAt + FORECAST_SHOWN_DAYS * DAY);
    // One x axis for values and forecast steps.
    const times = [...new Set([...points.map((p) => seconds(p.ts)), ...steps.map((s) => seconds(s.ts))])]
      .sort((a, b) => a - b);
    const at = new Map(times.map((t, i) => [t, i]));
    const column = () => new Array(times.length).fill(null);
    const [values, mean, low95, high95, low80, high80, anomalies] =
      [column(), column(), column(), column(), column(), column(), column()];
    const marks = [];
    for (const point of points) {
      const i = at.get(seconds(point.ts));
      values[i] = point.value;
      if (point.is_anomaly) {
        anomalies[i] = point.value;
        marks.push({ ts: point.ts, kind: 'Anomaly', value: point.value,
          detail: `score ${number(point.anomaly_score)}` });
      }
    }
    for (const step of steps) {
      const i = at.get(seconds(step.ts));
      mean[i] = step.mean;
      low95[i] = step.lower_95; high95[i] = step.upper_95;
      low80[i] = step.lower_80; high80[i] = step.upper_80;
    }
    // The forecast line starts from the last value, so the two lines meet.
    if (steps.length && points.length) {
      const last = at.get(seconds(points[points.length - 1].ts));
      mean[last] = low95[last] = high95[last] = low80[last] = high80[last] = values[last];
    }
    const alertLines = [];
    for (const alert of alerts) {
      if (alert.opened_at) {
        alertLines.push({ x: seconds(alert.opened_at), kind: 'opened' });
        marks.push({ ts: alert.opened_at, kind: 'Alert opened', value: alert.value,
          detail: `${alert.severity}: ${alert.message || alert.alert_id}` });
      }
      if (alert.resolved_at) {
        alertLines.push({ x: seconds(alert.resolved_at), kind: 'resolved' });
        marks.push({ ts: alert.resolved_at, kind: 'Alert resolved', value: null,
          detail: `${alert.severity}: ${alert.alert_id}` });
      }
    }
    marks.sort((a, b) => seconds(a.ts) - seconds(b.ts));

    const plot = $('chart-plot');
    const data = [times, values, mean, low95, high95, low80, high80, anomalies];
    const options = chartOptions(plot, entry, alertLines);
    if (view.chart) view.chart.destroy();
    plot.replaceChildren();
    view.chart = new uPlot(options, data, plot);

    const figure = $('chart');
    const bands = steps.length ? '80,95' : '';
    Object.assign(figure.dataset, {
      series: entry.series_id,
      points: String(points.length),
      forecastSteps: String(allSteps.length),
      forecastShown: String(steps.length),
      bands,
      anomalies: String(anomalies.filter((v) => v !== null).length),
      alertMarks: String(alertLines.length),
      lastTs: points.length ? points[points.length - 1].ts : '',
      lastValue: points.length ? String(points[points.length - 1].value) : '',
      liveUpdates: String(view.liveUpdates),
      scheme: darkScheme.matches ? 'dark' : 'light',
      state: 'ready',
    });
    $('chart-title').textContent = entry.series_id;
    const resolution = page.resolution === 'raw' ? 'points' : 'hourly means';
    const parts = [`${points.length} ${resolution} (${entry.unit || 'no unit'})`];
    const horizon = allSteps.length
      ? ` of ${number((seconds(allSteps[allSteps.length - 1].ts) - lastValueAt) / DAY)} days` : '';
    parts.push(allSteps.length
      ? `forecast${horizon} (${allSteps.length} steps, the first ${FORECAST_SHOWN_DAYS} days drawn) with 80 % and 95 % intervals, issued ${utc(forecast.issued_at)} by ${forecast.model}`
      : 'no forecast yet');
    parts.push(`${figure.dataset.anomalies} anomalies`, `${alertLines.length} alert marks`);
    if (points.length) {
      const last = points[points.length - 1];
      parts.push(`latest ${number(last.value)} at ${utc(last.ts)}`);
    }
    $('chart-summary').textContent = parts.join(' · ') + '.';
    $('marks').replaceChildren(...marks.map((mark) => el('tr', {},
      el('td', { text: utc(mark.ts) }), el('td', { text: mark.kind }),
      el('td', { text: number(mark.value) }), el('td', { text: mark.detail }))));
  }

  function chartOptions(plot, entry, alertLines) {
    const colour = {
      actual: css('--actual'), forecast: css('--forecast'), band95: css('--band95'), band80: css('--band80'),
      anomaly: css('--anomaly'), opened: css('--opened'), resolved: css('--resolved'), grid: css('--grid'),
      fg: css('--fg'),
    };
    const axis = { stroke: colour.fg, grid: { stroke: colour.grid }, ticks: { stroke: colour.grid } };
    const band = (label) => ({ label, stroke: 'transparent', width: 0, points: { show: false } });
    return {
      width: Math.max(plot.clientWidth, 300),
      height: 320,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
      cursor: { drag: { x: true, y: false } },
      legend: { show: false },
      scales: { x: { time: true } },
      axes: [axis, { ...axis, label: entry.unit || undefined, size: 70 }],
      series: [
        { label: 'time (UTC)' },
        { label: 'value', stroke: colour.actual, width: 1.5, points: { show: false } },
        { label: 'forecast', stroke: colour.forecast, width: 2, dash: [6, 4], points: { show: false } },
        band('95 % low'), band('95 % high'), band('80 % low'), band('80 % high'),
        { label: 'anomaly', stroke: colour.anomaly, paths: () => null, points: { show: false } },
      ],
      bands: [
        { series: [4, 3], fill: colour.band95 },
        { series: [6, 5], fill: colour.band80 },
      ],
      hooks: {
        draw: [(u) => drawMarks(u, colour, alertLines)],
      },
    };
  }

  /** Anomalies as triangles (shape, not only colour) and alerts as vertical lines: solid when
   * opened, dotted when resolved. */
  function drawMarks(u, colour, alertLines) {
    const ctx = u.ctx;
    const ratio = uPlot.pxRatio;
    const [xs, , , , , , , anomalies] = u.data;
    ctx.save();
    ctx.beginPath();
    ctx.rect(u.bbox.left, u.bbox.top, u.bbox.width, u.bbox.height);
    ctx.clip();
    const size = 6 * ratio;
    ctx.fillStyle = colour.anomaly;
    ctx.strokeStyle = colour.fg;
    ctx.lineWidth = ratio;
    for (let i = 0; i < xs.length; i++) {
      if (anomalies[i] === null) continue;
      const x = u.valToPos(xs[i], 'x', true);
      const y = u.valToPos(anomalies[i], 'y', true);
      ctx.beginPath();
      ctx.moveTo(x, y - size);
      ctx.lineTo(x + size, y + size * 0.8);
      ctx.lineTo(x - size, y + size * 0.8);
      ctx.closePath();
      ctx.fill();
      ctx.stroke();
    }
    ctx.lineWidth = 2 * ratio;
    for (const line of alertLines) {
      const x = u.valToPos(line.x, 'x', true);
      ctx.strokeStyle = line.kind === 'opened' ? colour.opened : colour.resolved;
      ctx.setLineDash(line.kind === 'opened' ? [] : [2 * ratio, 3 * ratio]);
      ctx.beginPath();
      ctx.moveTo(x, u.bbox.top);
      ctx.lineTo(x, u.bbox.top + u.bbox.height);
      ctx.stroke();
    }
    ctx.restore();
  }

  // ---- tiles --------------------------------------------------------------------------------

  function tileSeries() {
    const rank = (s) => (s.series_id.startsWith('custom:') ? 0 : s.series_id.startsWith('sentiment:') ? 1 : 2);
    return [...view.catalogue].sort((a, b) => rank(a) - rank(b)).slice(0, TILE_COUNT);
  }

  async function loadTiles() {
    const chosen = tileSeries();
    const tiles = await Promise.all(chosen.map(async (entry) => {
      const from = new Date((seconds(entry.latest_ts) - 2 * DAY) * 1000).toISOString();
      const page = await api(`${seriesPath(entry.series_id)}/points?resolution=hour&from=${encodeURIComponent(from)}`);
      return tile(entry, page.points);
    }));
    $('tiles').replaceChildren(...tiles);
  }

  function tile(entry, hours) {
    // The latest hour's mean against the same hour's a day before, when both are there.
    const last = hours[hours.length - 1];
    const dayBefore = last && hours.find((h) => seconds(h.ts) === seconds(last.ts) - DAY);
    let change = 'no value a day before';
    let direction = '';
    if (last && dayBefore) {
      const delta = last.value - dayBefore.value;
      direction = delta > 0 ? 'up' : delta < 0 ? 'down' : '';
      const arrow = delta > 0 ? '▲' : delta < 0 ? '▼' : '=';
      const share = (100 * delta) / Math.abs(dayBefore.value);
      const percent = dayBefore.value !== 0
        ? ` (${share.toLocaleString('en', { maximumFractionDigits: 1, signDisplay: 'exceptZero' })} %)`
        : '';
      change = `${arrow} ${delta > 0 ? '+' : ''}${number(delta)}${percent} vs the day before`;
    }
    const button = el('button', { type: 'button', 'aria-label': `${entry.series_id}: ${number(entry.latest_value)} ${entry.unit}, ${change}. Show on the chart.` },
      el('div', { class: 'name', text: entry.series_id }),
      el('div', { class: 'value', text: `${number(entry.latest_value)} ${entry.unit}` }),
      sparkline(hours.map((h) => h.value)),
      el('div', { class: `change ${direction}`, text: change }));
    button.addEventListener('click', () => pick(entry.series_id));
    return el('li', { class: 'tile', 'data-series': entry.series_id, 'data-value': String(entry.latest_value) }, button);
  }

  function sparkline(values) {
    const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    svg.setAttribute('viewBox', '0 0 100 32');
    svg.setAttribute('preserveAspectRatio', 'none');
    svg.setAttribute('aria-hidden', 'true');
    if (values.length > 1) {
      const low = Math.min(...values);
      const span = Math.max(...values) - low || 1;
      const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
      line.setAttribute('points', values.map((v, i) =>
        `${((100 * i) / (values.length - 1)).toFixed(2)},${(30 - (28 * (v - low)) / span).toFixed(2)}`).join(' '));
      line.setAttribute('vector-effect', 'non-scaling-stroke');
      svg.append(line);
    }
    return svg;
  }

  // ---- alerts and rules ---------------------------------------------------------------------

  /** Open alerts first, then the latest resolved ones. */
  async function loadAlerts() {
    const answer = await api(`${tenantPath()}/alerts?limit=${ALERTS_LISTED}`);
    const open = answer.alerts.filter((alert) => alert.state === 'OPEN');
    const resolved = answer.alerts.filter((alert) => alert.state !== 'OPEN');
    const items = [...open, ...resolved].map((alert) => {
      const when = alert.state === 'OPEN'
        ? `open since ${alert.opened_at ? utc(alert.opened_at) : '?'}`
        : `resolved ${alert.resolved_at ? utc(alert.resolved_at) : '?'} (opened ${alert.opened_at ? utc(alert.opened_at) : '?'})`;
      const item = el('li', { 'data-alert': alert.alert_id, 'data-state': alert.state, class: alert.state === 'OPEN' ? 'open' : 'resolved' },
        el('span', { class: 'severity', text: `${alert.state === 'OPEN' ? '● ' : '○ '}${alert.severity} ` }),
        el('span', { text: `${alert.message || alert.series_id} ` }),
        el('span', { class: 'muted', text: when }));
      return item;
    });
    if (!items.length) items.push(el('li', { class: 'muted empty', text: 'No alerts.' }));
    $('alerts').replaceChildren(...items);
    $('alerts-summary').textContent = `${open.length} open, ${resolved.length} resolved shown.`;
  }

  async function loadRules() {
    const answer = await api(`${tenantPath()}/alert-rules`);
    const rows = answer.rules.map((rule) => {
      const actions = el('td');
      if (canEdit()) {
        const edit = el('button', { type: 'button', text: 'Edit', 'aria-label': `Edit rule ${rule.name}` });
        edit.addEventListener('click', () => openRuleForm(rule));
        const remove = el('button', { type: 'button', text: 'Delete', 'aria-label': `Delete rule ${rule.name}` });
        remove.addEventListener('click', () => deleteRule(rule));
        actions.append(edit, ' ', remove);
      }
      const duration = rule.duration_secs ? ` for ${rule.duration_secs} s` : '';
      return el('tr', { 'data-rule': String(rule.id) },
        el('td', { text: rule.name }), el('td', { text: rule.series_pattern }),
        el('td', { text: `${rule.comparison} ${number(rule.threshold)}${duration}` }),
        el('td', { text: rule.severity }), el('td', { text: rule.enabled ? 'yes' : 'no' }), actions);
    });
    if (!rows.length) rows.push(el('tr', {}, el('td', { colspan: '6', class: 'muted', text: 'No rules.' })));
    $('rules').replaceChildren(...rows);
  }

  function openRuleForm(rule) {
    $('rule-form').hidden = false;
    $('rule-new').hidden = true;
    $('rule-error').textContent = '';
    $('rule-form-title').textContent = rule ? `Edit rule ${rule.name}` : 'New rule';
    $('rule-id').value = rule ? String(rule.id) : '';
    $('rule-name').value = rule ? rule.name : '';
    $('rule-pattern').value = rule ? rule.series_pattern : (view.selected || '');
    $('rule-comparison').value = rule ? rule.comparison : '>';
    $('rule-threshold').value = rule ? String(rule.threshold) : '';
    $('rule-duration').value = rule ? String(rule.duration_secs) : '0';
    $('rule-severity').value = rule ? rule.severity : 'WARNING';
    $('rule-enabled').checked = rule ? rule.enabled : true;
    $('rule-name').focus();
  }

  function closeRuleForm() {
    $('rule-form').hidden = true;
    $('rule-new').hidden = !canEdit();
    $('rule-new').focus();
  }

  async function saveRule(event) {
    event.preventDefault();
    const id = $('rule-id').value;
    const body = {
      name: $('rule-name').value,
      series_pattern: $('rule-pattern').value,
      comparison: $('rule-comparison').value,
      threshold: Number($('rule-threshold').value),
      duration_secs: Number($('rule-duration').value || 0),
      severity: $('rule-severity').value,
      enabled: $('rule-enabled').checked,
    };
    try {
      await api(id ? `${tenantPath()}/alert-rules/${id}` : `${tenantPath()}/alert-rules`, {
        method: id ? 'PUT' : 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    } catch (error) {
      $('rule-error').textContent = `Not saved: ${error.message}`;
      return;
    }
    closeRuleForm();
    await loadRules().catch(report);
  }

  async function deleteRule(rule) {
    if (!confirm(`Delete the rule ${rule.name}? Alerts it has open close at their series' next point.`)) return;
    try {
      await api(`${tenantPath()}/alert-rules/${rule.id}`, { method: 'DELETE' });
    } catch (error) {
      alert(`Not deleted: ${error.message}`);
    }
    await loadRules().catch(report);
  }

  // ---- news and sentiment -------------------------------------------------------------------

  async function loadNews() {
    const answer = await api(`${tenantPath()}/news?limit=20`);
    const items = answer.articles.map((article) => {
      const tone = article.compound >= 0.05 ? 'positive' : article.compound <= -0.05 ? 'negative' : 'neutral';
      const sign = tone === 'positive' ? '+' : tone === 'negative' ? '−' : '±';
      const title = /^https?:\/\//i.test(article.url)
        ? el('a', { href: article.url, rel: 'noopener noreferrer', text: article.title })
        : el('span', { text: article.title });
      return el('li', { 'data-compound': String(article.compound) },
        title, el('br'),
        el('span', { class: `sentiment ${tone}`, text: `${sign} ${tone} (${number(article.compound)}) ` }),
        el('span', { class: 'muted', text: `${article.domain || ''} · ${utc(article.seen_at)}` }));
    });
    if (!items.length) items.push(el('li', { class: 'muted empty', text: 'No articles yet.' }));
    $('news').replaceChildren(...items);
    await loadSentiment();
  }

  async function loadSentiment() {
    const entry = view.catalogue.find((s) => s.series_id.startsWith('sentiment:') && s.metric.includes('compound'));
    const target = $('sentiment-chart');
    if (view.sentimentChart) { view.sentimentChart.destroy(); view.sentimentChart = null; }
    target.replaceChildren();
    if (!entry) {
      $('sentiment-summary').textContent = 'No hourly sentiment yet.';
      return;
    }
    const from = new Date((seconds(entry.latest_ts) - SENTIMENT_DAYS * DAY) * 1000).toISOString();
    const page = await api(`${seriesPath(entry.series_id)}/points?resolution=hour&from=${encodeURIComponent(from)}`);
    const xs = page.points.map((p) => seconds(p.ts));
    const ys = page.points.map((p) => p.value);
    const fg = css('--fg');
    const axis = { stroke: fg, grid: { stroke: css('--grid') } };
    view.sentimentChart = new uPlot({
      width: Math.max(target.clientWidth, 240), height: 160,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
      legend: { show: false },
      scales: { y: { range: [-1, 1] } },
      axes: [axis, axis],
      series: [{}, { label: 'mean compound', stroke: css('--actual'), width: 1.5, points: { show: true, size: 5 } }],
    }, [xs, ys], target);
    target.dataset.points = String(xs.length);
    $('sentiment-summary').textContent =
      `Hourly mean sentiment (${entry.series_id}), last ${SENTIMENT_DAYS} days: ${xs.length} hours, latest ${number(entry.latest_value)}.`;
  }

  // ---- live updates -------------------------------------------------------------------------

  function setStream(state, text) {
    const status = $('stream');
    if (status.dataset.state === state && status.textContent === text) return;
    status.dataset.state = state;
    status.textContent = text;
  }

  function startEvents() {
    stopEvents();
    // EventSource cannot send headers: the API takes the token as `access_token` for this route.
    const url = `${tenantPath()}/events?access_token=${encodeURIComponent(session.token)}`;
    const events = new EventSource(url);
    view.events = events;
    setStream('connecting', 'Live updates: connecting…');
    events.onopen = () => {
      setStream('live', 'Live updates: on');
      if (view.wasDown) {
        view.wasDown = false;
        loadAll().catch(report); // whatever happened while the stream was down
      }
    };
    events.onerror = () => {
      view.wasDown = true;
      setStream('down', 'Live updates: stream down, reconnecting…');
      // The browser retries a dropped connection itself; a refused one (CLOSED) is ours to retry.
      if (events.readyState === EventSource.CLOSED && view.events === events) {
        clearTimeout(view.eventsRetry);
        view.eventsRetry = setTimeout(() => { if (session.token && view.events === events) startEvents(); }, 5000);
      }
    };
    events.addEventListener('points', (event) => onPoints(JSON.parse(event.data)));
    events.addEventListener('anomaly', (event) => onSeriesChange(JSON.parse(event.data)));
    events.addEventListener('alert_opened', (event) => onAlert(JSON.parse(event.data)));
    events.addEventListener('alert_resolved', (event) => onAlert(JSON.parse(event.data)));
  }

  function stopEvents() {
    clearTimeout(view.eventsRetry);
    if (view.events) view.events.close();
    view.events = null;
  }

  function live(task) {
    return () => task().then(() => {
      view.liveUpdates += 1;
      $('chart').dataset.liveUpdates = String(view.liveUpdates);
    }).catch(report);
  }

  function onPoints(event) {
    const entry = view.catalogue.find((s) => s.series_id === event.series_id);
    if (!entry) {
      soon('catalogue', live(async () => { await loadCatalogue(); await loadTiles(); }));
    } else if (event.data && typeof event.data.value === 'number' && seconds(event.data.ts) >= seconds(entry.latest_ts)) {
      entry.latest_value = event.data.value;
      entry.latest_ts = event.data.ts;
      soon('tiles', live(loadTiles), 500);
    }
    if (event.series_id.startsWith('sentiment:')) soon('news', live(loadNews), 500);
    onSeriesChange(event);
  }

  function onSeriesChange(event) {
    if (event.series_id === view.selected) soon('chart', live(loadChart));
  }

  function onAlert(event) {
    soon('alerts', live(loadAlerts));
    onSeriesChange(event);
  }

  // ---- wiring -------------------------------------------------------------------------------

  function init() {
    $('sign-in-form').addEventListener('submit', signIn);
    $('sign-out').addEventListener('click', () => signOut('Signed out.'));
    $('series-search').addEventListener('input', fillPicker);
    $('series-select').addEventListener('change', (event) => pick(event.target.value));
    $('rule-new').addEventListener('click', () => openRuleForm(null));
    $('rule-cancel').addEventListener('click', closeRuleForm);
    $('rule-form').addEventListener('submit', saveRule);
    let resize = null;
    window.addEventListener('resize', () => {
      clearTimeout(resize);
      resize = setTimeout(() => {
        if (view.chart) view.chart.setSize({ width: Math.max($('chart-plot').clientWidth, 300), height: 320 });
      }, 150);
    });
    // Canvas colours are read when drawn: draw again when the system's scheme changes.
    darkScheme.addEventListener('change', () => {
      if (session.token) Promise.all([loadChart(), loadSentiment()]).catch(report);
    });
    const handed = tokenFromFragment();
    const token = handed || sessionStorage.getItem(TOKEN_KEY);
    const refused = token ? useToken(token) : null;
    if (token && !refused) {
      start().catch(report);
    } else {
      signOut(refused || '');
    }
  }

  init();
})();
