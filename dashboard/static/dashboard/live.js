"use strict";
// Live tables: the server renders the latest rows; the WebSocket adds new ones with the page's filters.
(function () {
  const MAX_ROWS = 200;
  // Raw amounts (uint256) do not fit a JS number: quote them before JSON.parse so they stay exact strings.
  const BIG_FIELDS = /"(reserve0|reserve1|amount_in|amount_out|profit_raw|start_amount|end_amount)":\s*(-?\d+)/g;
  function parseExact(text) { return JSON.parse(text.replace(BIG_FIELDS, '"$1":"$2"')); }
  function readJson(id) { return parseExact(document.getElementById(id).textContent); }

  const filters = readJson("stream-filters");
  const explorers = readJson("explorers");
  const fmt = (n, d = 2) => Number(n).toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
  const time = (iso) => iso.slice(11, 19);
  const short = (h) => h.slice(0, 10) + "…" + h.slice(-4);

  function cell(content, cls) {
    const td = document.createElement("td");
    if (content instanceof Node) td.appendChild(content); else td.textContent = content;
    if (cls) td.className = cls;
    return td;
  }
  function link(text, href, title) {
    const a = document.createElement("a");
    a.textContent = text; a.href = href; if (title) a.title = title;
    return a;
  }
  function add(tbodyId, cells, fresh, dataset) {
    const body = document.getElementById(tbodyId);
    const tr = document.createElement("tr");
    if (fresh) tr.className = "new";
    Object.assign(tr.dataset, dataset);
    cells.forEach((c) => tr.appendChild(c));
    body.insertBefore(tr, body.firstChild);
    while (body.children.length > MAX_ROWS) body.removeChild(body.lastChild);
  }
  function opportunity(o, fresh) {
    const pool = link(o.pool_name, "/pool/" + o.pool_address, "reserves " + o.reserve0 + " / " + o.reserve1);
    pool.className = "pool";
    pool.dataset.reserve0 = o.reserve0; pool.dataset.reserve1 = o.reserve1;
    add("opportunities", [cell(time(o.detected_at)), cell(o.chain_id), cell(o.block_number), cell(pool),
      cell(fmt(o.profit_usd), "num pos"), cell(o.imbalance_pct === null ? "–" : fmt(o.imbalance_pct, 3), "num"),
      cell(o.captured ? "yes" : "")], fresh, { id: o.id });
  }
  function transaction(t, fresh) {
    add("transactions", [cell(time(t.block_timestamp)), cell(t.chain_id), cell(t.block_number), cell(t.strategy),
      cell(link(short(t.tx_hash), "/tx/" + t.id, t.tx_hash)), cell(link(short(t.from_address), "/bot/" + t.from_address)),
      cell(fmt(t.profit_net_usd), "num " + (t.profit_net_usd >= 0 ? "pos" : "neg")),
      cell(fmt(t.gas_cost_usd, 4), "num")], fresh, { id: t.id, hash: t.tx_hash });
  }
  readJson("initial-opportunities").reverse().forEach((o) => opportunity(o, false));
  readJson("initial-transactions").reverse().forEach((t) => transaction(t, false));

  function subscription(channel) {
    const f = {};
    for (const key of ["chain_id", "min_profit", "max_profit"]) if (key in filters) f[key] = filters[key];
    if (channel === "transactions" && "min_swaps" in filters) f.min_swaps = filters.min_swaps;
    return { type: "subscribe", channel: channel, filters: f };
  }

  const status = document.getElementById("status");
  const streamPath = document.getElementById("live-script").dataset.stream;
  let retry = 1000;
  function connect() {
    const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + streamPath);
    ws.onopen = () => {
      retry = 1000;
      ws.send(JSON.stringify(subscription("opportunities")));
      ws.send(JSON.stringify(subscription("transactions")));
    };
    ws.onmessage = (event) => {
      const m = parseExact(event.data);
      if (m.type === "opportunity") opportunity(m.data, true);
      else if (m.type === "transaction") transaction(m.data, true);
      else if (m.type === "subscribed") {
        status.dataset.subscribed = (Number(status.dataset.subscribed || 0) + 1).toString();
        if (status.dataset.subscribed === "2") { status.textContent = "live"; status.className = "live"; }
      } else if (m.type === "error") console.warn("server:", m.message);
    };
    ws.onclose = (event) => {
      status.dataset.subscribed = "0";
      status.textContent = `disconnected (${event.code}${event.reason ? " " + event.reason : ""}), retrying`;
      status.className = "down";
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 30000);
    };
  }
  if (status) connect();
  window.arbmonitor = { explorers: explorers };
})();
