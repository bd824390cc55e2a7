/* CounterWatch progressive enhancement (~htmx in spirit, vanilla JS, nothing fetched from elsewhere).
 * Every page works without this file; with it, lists update live over Server-Sent Events, forms marked
 * data-enhance swap in the server's HTML fragment instead of reloading, durations tick, review has
 * keyboard shortcuts and the zone editor draws on a canvas. All visible text comes from the server. */
(() => {
  "use strict";
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
  const msgs = JSON.parse(($("#i18n-js") || {}).textContent || "{}");
  const t = (key, params = {}) => (msgs[key] || "").replace(/\{(\w+)\}/g, (_, n) => String(params[n] ?? ""));

  // ---- durations: <span data-since="ISO-8601"> shows how long ago, updated every second ------------
  function formatDuration(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    if (h > 0) return t("js.duration_hm", { h, m });
    if (m > 0) return t("js.duration_ms", { m, s: sec });
    return t("js.duration_s", { s: sec });
  }
  function tick() {
    const now = Date.now();
    for (const el of $$("[data-since]")) {
      const since = Date.parse(el.dataset.since);
      if (!Number.isNaN(since)) el.textContent = formatDuration((now - since) / 1000);
    }
  }
  tick();
  setInterval(tick, 1000);

  // ---- sound: a short WebAudio beep, opt-in (browsers only allow audio after a user gesture) --------
  let audio = null;
  const soundToggle = $("#sound-toggle");
  if (soundToggle) {
    soundToggle.checked = localStorage.getItem("cw.sound") === "1";
    soundToggle.addEventListener("change", () => {
      localStorage.setItem("cw.sound", soundToggle.checked ? "1" : "0");
      if (soundToggle.checked) beep();
    });
  }
  function beep() {
    if (!soundToggle || !soundToggle.checked) return;
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      const osc = audio.createOscillator(), gain = audio.createGain();
      osc.type = "sine";
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.0001, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.3, audio.currentTime + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.4);
      osc.connect(gain).connect(audio.destination);
      osc.start();
      osc.stop(audio.currentTime + 0.45);
    } catch (_) { /* no audio device: the visual alert is enough */ }
  }

  // ---- fragments -------------------------------------------------------------------------------------
  function fragment(html) {
    const tpl = document.createElement("template");
    tpl.innerHTML = html.trim();
    return tpl.content.firstElementChild;
  }
  function swapIn(node, target) {
    if (!node) return;
    if (target) {
      target.replaceWith(node);
    }
    tick();
  }

  // ---- live updates over SSE: <div data-live="/live/alerts?..." data-live-target="#alert-rows"> -------
  for (const host of $$("[data-live]")) {
    const region = host.closest("main") && host.closest("section, main");
    const indicator = region ? $(".live", region) : null;  // the menu badges' stream has no indicator
    const list = (host.dataset.liveTarget && $(host.dataset.liveTarget)) || host;
    const source = new EventSource(host.dataset.live, { withCredentials: true });
    source.addEventListener("open", () => indicator && indicator.classList.add("on"));
    source.addEventListener("error", () => indicator && indicator.classList.remove("on"));
    // "row": one item, replaced in place when present, otherwise new (prepended, announced, beeped).
    source.addEventListener("row", (ev) => {
      const data = JSON.parse(ev.data);
      const node = fragment(data.html);
      if (!node) return;
      const existing = document.getElementById(node.id);
      if (existing) {
        swapIn(node, existing);
      } else {
        node.classList.add("is-new");
        list.prepend(node);
        const empty = $("[data-empty]", host);
        if (empty) empty.remove();
        if (data.alert) {
          beep();
          const live = $("#announce");
          if (live) live.textContent = data.announce || "";
        }
      }
      tick();
    });
    // "replace": the whole region (the hall board), rendered by the server.
    source.addEventListener("replace", (ev) => {
      const data = JSON.parse(ev.data);
      const node = fragment(data.html);
      if (node) swapIn(node, document.getElementById(node.id));
    });
    // "count": a badge somewhere on the page (e.g. unacknowledged alerts in the navigation).
    source.addEventListener("count", (ev) => {
      const data = JSON.parse(ev.data);
      for (const el of $$(`[data-count="${data.name}"]`)) {
        el.textContent = data.value ? String(data.value) : "";
        el.hidden = !data.value;
      }
    });
  }

  // ---- enhanced forms: POST with fetch, swap the returned fragment into data-swap --------------------
  document.addEventListener("submit", async (ev) => {
    const form = ev.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-enhance")) return;
    ev.preventDefault();
    const buttons = $$("button", form);
    buttons.forEach((b) => (b.disabled = true));
    try {
      const body = new FormData(form);
      if (ev.submitter && ev.submitter.name) body.append(ev.submitter.name, ev.submitter.value);
      const resp = await fetch(form.action, {
        method: "POST", body, credentials: "same-origin", headers: { "X-Requested-With": "fetch" },
      });
      if (resp.redirected) { window.location.href = resp.url; return; }
      const html = await resp.text();
      const target = form.dataset.swap ? $(form.dataset.swap) : form;
      if (resp.ok) {
        swapIn(fragment(html), target);
        if (form.dataset.next) { const next = $(form.dataset.next); if (next) window.location.href = next.href; }
      } else {
        const err = form.querySelector("[data-error]") || form.appendChild(document.createElement("p"));
        err.setAttribute("data-error", "");
        err.className = "flash error";
        err.setAttribute("role", "alert");
        err.textContent = (fragment(html) || {}).textContent || String(resp.status);
        buttons.forEach((b) => (b.disabled = false));
      }
    } catch (_) {
      buttons.forEach((b) => (b.disabled = false));
    }
  });

  // ---- keyboard shortcuts: elements with data-key="c" are clicked (links followed) on that key --------
  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const tag = (ev.target && ev.target.tagName) || "";
    if (["INPUT", "TEXTAREA", "SELECT"].includes(tag) || (ev.target && ev.target.isContentEditable)) return;
    const el = $(`[data-key="${CSS.escape(ev.key)}"]`);
    if (!el) return;
    ev.preventDefault();
    if (el.tagName === "SELECT" || el.tagName === "INPUT") el.focus();
    else el.click();
  });

  // ---- zone editor: click points on a canvas over the latest snapshot; coords saved normalised 0..1 ---
  for (const editor of $$("[data-zone-editor]")) {
    const img = $("img", editor), canvas = $("canvas", editor);
    const output = $(editor.dataset.zoneEditor);
    let zones = JSON.parse(output.value || "[]");
    let current = [];
    const ctx = canvas.getContext("2d");
    const kindSelect = $("#zone-kind"), nameInput = $("#zone-name");
    const colours = { staff: "#2563eb", counter: "#17a34a", floor: "#c026d3", customer: "#d97706" };
    function draw() {
      canvas.width = img.clientWidth; canvas.height = img.clientHeight;
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      const poly = (pts, colour, closed) => {
        if (!pts.length) return;
        ctx.beginPath();
        pts.forEach(([x, y], i) => (i ? ctx.lineTo : ctx.moveTo).call(ctx, x * canvas.width, y * canvas.height));
        if (closed) ctx.closePath();
        ctx.strokeStyle = colour; ctx.lineWidth = 3; ctx.stroke();
        if (closed) { ctx.fillStyle = colour + "33"; ctx.fill(); }
        pts.forEach(([x, y]) => { ctx.fillStyle = colour; ctx.fillRect(x * canvas.width - 3, y * canvas.height - 3, 6, 6); });
      };
      zones.forEach((z) => {
        poly(z.points, colours[z.kind] || "#111", true);
        const [x, y] = z.points[0];
        ctx.fillStyle = "#000"; ctx.font = "14px sans-serif";
        ctx.fillText(z.name, x * canvas.width + 4, y * canvas.height - 4);
      });
      poly(current, "#ef4444", false);
      output.value = JSON.stringify(zones);
      const list = $("#zone-list");
      if (list) {
        list.replaceChildren(...zones.map((z, i) => {
          const li = document.createElement("li");
          const option = kindSelect && Array.from(kindSelect.options).find((o) => o.value === z.kind);
          li.textContent = `${z.name} (${option ? option.textContent : z.kind}, ${t("js.zone_points", { n: z.points.length })}) `;
          const rm = document.createElement("button");
          rm.type = "button"; rm.className = "secondary"; rm.textContent = t("js.zone_remove");
          rm.addEventListener("click", () => { zones.splice(i, 1); draw(); });
          li.append(rm);
          return li;
        }));
      }
    }
    canvas.addEventListener("click", (ev) => {
      const r = canvas.getBoundingClientRect();
      const x = Math.min(1, Math.max(0, (ev.clientX - r.left) / r.width));
      const y = Math.min(1, Math.max(0, (ev.clientY - r.top) / r.height));
      current.push([Math.round(x * 10000) / 10000, Math.round(y * 10000) / 10000]);
      draw();
    });
    const close = $("#zone-close");
    if (close) close.addEventListener("click", () => {
      if (current.length < 3) return;
      zones.push({ name: (nameInput && nameInput.value) || `zone${zones.length + 1}`,
        kind: (kindSelect && kindSelect.value) || "counter", points: current });
      current = [];
      draw();
    });
    const undo = $("#zone-undo");
    if (undo) undo.addEventListener("click", () => { current.pop(); draw(); });
    if (img.complete) draw(); else img.addEventListener("load", draw);
    window.addEventListener("resize", draw);
  }
})();
