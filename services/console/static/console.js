// The console's only script (a static file: the Content-Security-Policy forbids inline script).
// It takes data from data attributes only and writes it with textContent, never as HTML.
(function () {
  "use strict";

  function cell(text, cls) {
    const td = document.createElement("td");
    if (cls) td.className = cls;
    td.textContent = text == null ? "" : String(text);
    return td;
  }

  function pill(text, cls) {
    const s = document.createElement("span");
    s.className = "pill " + cls;
    s.textContent = text;
    return s;
  }

  function liveLog(tbody) {
    const status = document.getElementById("live-status");
    const seen = new Set(Array.from(tbody.querySelectorAll("tr")).map((tr) => tr.dataset.seq));
    const source = new EventSource(tbody.dataset.streamUrl);
    source.onopen = () => { status.textContent = "live / กำลังแสดงสด"; status.dataset.state = "live"; };
    source.onerror = () => { status.textContent = "reconnecting… / กำลังเชื่อมต่อใหม่…"; status.dataset.state = "retry"; };
    source.addEventListener("entry", (ev) => {
      const r = JSON.parse(ev.data);
      if (seen.has(String(r.seq))) return;
      seen.add(String(r.seq));
      const tr = document.createElement("tr");
      tr.className = "new kind-" + String(r.kind).replace(/[^a-z]/g, "");
      tr.dataset.seq = r.seq;
      tr.appendChild(cell(r.seq, "mono"));
      tr.appendChild(cell((r.occurred_at || r.recorded_at || "").slice(0, 19), "mono"));
      const type = cell(r.event_name ? r.event_name.th + " / " + r.event_name.en + " " : (r.event_type || ""));
      if (r.event_name) { const code = document.createElement("small"); code.className = "mono"; code.textContent = r.event_type; type.appendChild(code); }
      if (r.kind !== "event") { type.appendChild(document.createTextNode(" ")); type.appendChild(pill(r.kind, "")); }
      tr.appendChild(type);
      const stage = cell("");
      if (r.stage) stage.appendChild(pill(r.stage_name ? r.stage_name.th + " / " + r.stage_name.en : r.stage, "stage-" + String(r.stage).replace(/[^a-z_]/g, "")));
      tr.appendChild(stage);
      const prop = cell("");
      if (r.proposal_id) {
        const a = document.createElement("a");
        a.href = "/proposals/" + encodeURIComponent(r.proposal_id);
        a.textContent = r.proposal_id;
        prop.appendChild(a);
      }
      tr.appendChild(prop);
      tr.appendChild(cell(r.producer));
      const prov = cell(r.province); prov.lang = "th"; tr.appendChild(prov);
      tr.appendChild(cell(r.summary));
      tbody.insertBefore(tr, tbody.firstChild);
    });
  }

  function confirmReplays() {
    document.querySelectorAll("form.replay").forEach((form) => {
      form.addEventListener("submit", (ev) => {
        const topic = form.dataset.topic || "";
        if (!window.confirm("ส่งข้อความนี้ซ้ำไปยัง " + topic + "? / Replay this message to " + topic + "?")) {
          ev.preventDefault();
        }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const tbody = document.getElementById("event-rows");
    if (tbody && tbody.dataset.streamUrl) liveLog(tbody);
    confirmReplays();
  });
})();
