// The dashboard: one server-sent event stream, rendered as it comes.
"use strict";

const $ = (id) => document.getElementById(id);

function text(el, value) {
  el.textContent = value;
}

function cell(row, value) {
  const td = document.createElement("td");
  td.textContent = value;
  row.appendChild(td);
  return td;
}

function render(u) {
  text($("node"), u.node);
  text($("mode"), u.mode);
  text($("coordinator"), u.coordinator || "none known");
  text($("epoch"), String(u.epoch));
  text($("rate"), u.rate.toFixed(1));
  text($("latency"), u.rate > 0 ? u.latency_ms.toFixed(1) + " ms" : "–");
  text($("elections"), String(u.elections));

  const body = $("members").tBodies[0];
  const rows = [];
  for (const m of u.members) {
    const tr = document.createElement("tr");
    tr.dataset.name = m.name;
    tr.className = "status-" + m.status + (m.name === u.coordinator ? " coordinator" : "");
    cell(tr, m.name);
    cell(tr, m.status);
    cell(tr, m.role);
    cell(tr, m.state);
    cell(tr, m.load.toFixed(2));
    cell(tr, String(m.epoch));
    cell(tr, m.api);
    cell(tr, m.raft ? m.raft.state + (m.raft.voter ? ", voter" : "") + ", commit " + m.raft.commit_index : "–");
    rows.push(tr);
  }
  body.replaceChildren(...rows);

  const sel = $("fail-node");
  const chosen = sel.value;
  sel.replaceChildren(...u.members.map((m) => {
    const o = document.createElement("option");
    o.value = m.name;
    o.textContent = m.name + (m.name === u.coordinator ? " (coordinator)" : "");
    return o;
  }));
  if (chosen) sel.value = chosen;

  $("events").replaceChildren(...u.events.slice().reverse().map((e) => {
    const li = document.createElement("li");
    li.className = "event-" + e.kind;
    const time = document.createElement("time");
    time.dateTime = e.at;
    time.textContent = new Date(e.at).toLocaleTimeString();
    li.append(time, " ", e.text);
    return li;
  }));
}

function connect() {
  const es = new EventSource("/v1/events");
  es.onopen = () => text($("conn"), "Live");
  es.onmessage = (ev) => render(JSON.parse(ev.data));
  es.onerror = () => text($("conn"), "Connection lost; retrying…");
}

$("fail").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const node = $("fail-node").value;
  const secs = $("fail-for").value;
  const out = $("fail-result");
  text(out, "Sending…");
  try {
    const resp = await fetch("/v1/admin/fail?node=" + encodeURIComponent(node) + "&for=" + encodeURIComponent(secs + "s"), {
      method: "POST",
      headers: { Authorization: "Bearer " + $("fail-token").value },
    });
    const body = await resp.json().catch(() => ({}));
    text(out, resp.ok ? node + " is failing for " + secs + " s" : "Refused: " + ((body.error && body.error.message) || resp.status));
  } catch (e) {
    text(out, "Could not reach this node: " + e);
  }
});

connect();
