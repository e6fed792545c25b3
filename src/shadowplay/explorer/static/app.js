// shadowplay explorer: sliders → server-side decoding. No framework, no build step, no external resources.
"use strict";

const $ = (id) => document.getElementById(id);
const PAGE = 24;  // thumbnails per gallery page
const state = {info: null, z: [], sliders: [], page: 0, a: null, b: null, gen: 0, latest: {}};

// Every action that sets the code (a slider, a button, a click on an input, the t slider, an upload) takes a new
// ticket. An answer that comes back after a newer action must not set the code: a slow interpolation or upload would
// otherwise drag the sliders back from where the person has since moved them. ``latest[what]`` is the newest ticket
// of each kind of request, so an older answer for the same slot (A, B, the upload) is dropped as well.
function ticket(what) {
  state.gen += 1;
  if (what) state.latest[what] = state.gen;
  return state.gen;
}
const newest = (t) => t === state.gen;
const newestOf = (what, t) => state.latest[what] === t;

function el(tag, props = {}, children = []) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") e.className = v; else if (k === "text") e.textContent = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

async function getJSON(url, options) {
  const r = await fetch(url, options);
  if (!r.ok) throw new Error((await r.text()).trim() || r.statusText);
  return r.json();
}

// A request channel that keeps at most one request in flight: while one runs, newer requests replace each other and
// only the newest is sent when it returns. Dragging a slider fires dozens of input events a second; the server sees
// one decode at a time and the picture always ends on the newest code.
// ``busy(true)`` when a request is waiting or running, ``busy(false)`` once the newest one has been answered.
function coalesced(send, busy = () => {}) {
  let inflight = false, queued = null;
  const pump = async () => {
    if (inflight) return;
    if (queued === null) { busy(false); return; }
    const args = queued; queued = null; inflight = true;
    try { await send(...args); } catch (e) { showError(e); } finally { inflight = false; pump(); }
  };
  return (...args) => { queued = args; busy(true); pump(); };
}

function showError(e) {
  const box = $("warnings");
  box.replaceChildren(el("li", {class: "error", text: String(e.message || e)}));
}

let lastURL = null;
const requestDecode = coalesced(async (code) => {
  const r = await fetch("/api/decode?z=" + code.map((v) => v.toFixed(4)).join(","));
  if (!r.ok) throw new Error((await r.text()).trim());
  const url = URL.createObjectURL(await r.blob());
  const img = $("decoded");
  img.src = url;
  img.dataset.code = code.map((v) => v.toFixed(4)).join(",");
  if (lastURL) URL.revokeObjectURL(lastURL);
  lastURL = url;
}, (on) => {  // the picture lags the sliders while a decode runs: say so rather than show a stale picture silently
  $("decoded").classList.toggle("busy", on);
  $("decode-status").textContent = on ? "decoding…" : "";
});

function setCode(code) {
  state.z = code.map(Number);
  for (const s of state.sliders) {
    s.input.value = String(state.z[s.dim]);
    s.out.textContent = state.z[s.dim].toFixed(2);
  }
  requestDecode(state.z.slice());
}

function buildSliders(info) {
  const box = $("sliders");
  const kl = info.kl || info.activity;
  // bars are drawn to the largest value but never to less than 1 (a nat of KL, or the prior's variance): with every
  // latent collapsed (KL 0.0003) a bar scaled to the largest would fill its box and read as an informative latent
  const top = Math.max(...kl, 1);
  for (const d of info.order) {
    const input = el("input", {type: "range", min: info.low[d], max: info.high[d], step: "0.01", value: "0",
                               "aria-label": `latent z${d}`, "data-dim": String(d)});
    const out = el("output", {text: "0.00"});
    const bar = el("span", {class: "bar"});
    bar.style.width = `${Math.round(100 * kl[d] / top)}%`;
    const what = info.kl ? `KL ${kl[d].toFixed(2)}` : `var ${kl[d].toFixed(2)}`;
    const row = el("div", {class: "slider" + (info.active[d] ? "" : " inactive"),
                           title: info.active[d] ? what : `${what}: inactive (its posterior mean hardly moves)`}, [
      el("label", {text: `z${d}`}), input, out,
      el("span", {class: "kl"}, [bar, el("span", {class: "kl-text", text: what})]),
      info.active[d] ? "" : el("span", {class: "tag", text: "inactive"})]);
    input.addEventListener("input", () => {
      ticket();
      state.z[d] = Number(input.value);
      out.textContent = state.z[d].toFixed(2);
      requestDecode(state.z.slice());
    });
    state.sliders.push({dim: d, input, out});
    box.append(row);
  }
}

function numbers(doc) {
  const L = doc.likelihood, parts = [];
  if (L.elbo !== undefined) parts.push(`ELBO ${L.elbo.toFixed(2)} nats (recon ${L.recon_ll.toFixed(2)}, KL ${L.kl.toFixed(2)})`);
  else parts.push(`reconstruction log-lik. ${L.recon_ll.toFixed(2)} nats`);
  const est = state.info.estimator;
  if (L.log_px !== undefined) {
    parts.push(`log p(x) ≥ ${L.log_px.toFixed(2)} (importance-weighted, K=${doc.iw_samples}` +
               (est.same_as_evaluate ? ", as `shadowplay evaluate`)"
                : `; evaluate's default is K=1000${est.auto ? `, over ${est.click_seconds} s a click here` : ""})`));
  }
  parts.push(`${state.info.score_name === "elbo" ? "ELBO" : "reconstruction"} percentile ${doc.score_percentile.toFixed(0)} among ${state.info.reference_size === state.info.splits[state.info.stats_split] ? "the" : "the first"} ${state.info.reference_size} ${state.info.stats_split} inputs`);
  const o = doc.outlier;
  if (o) {
    parts.push(`outlier score ${o.score.toFixed(3)} (${o.score_name}) ${o.flagged ? ">" : "≤"} threshold ` +
               `${o.threshold.toFixed(3)}: ${o.flagged ? "flagged as an outlier" : "not flagged"}`);
  }
  if (doc.label !== null && doc.label !== undefined) parts.push(`label ${doc.label}`);
  return parts.join(" · ");
}

async function pick(slot, split, index) {
  const t = ticket(slot);
  $(`${slot}-numbers`).className = "numbers loading";
  $(`${slot}-numbers`).textContent = `loading ${split} #${index}…`;
  let doc;
  try {
    doc = await getJSON(`/api/input?split=${encodeURIComponent(split)}&index=${index}`);
  } catch (e) {
    if (newestOf(slot, t)) { $(`${slot}-numbers`).className = "numbers error"; $(`${slot}-numbers`).textContent = `${split} #${index}: ${e.message || e}`; }
    return;
  }
  if (!newestOf(slot, t)) return;  // a later click on this slot is on its way
  $(`${slot}-numbers`).className = "numbers";
  state[slot] = {split, index, code: doc.code};
  $(`${slot}-input`).src = `/api/input.png?split=${encodeURIComponent(split)}&index=${index}`;
  $(`${slot}-recon`).src = "/api/decode?z=" + doc.code.map((v) => v.toFixed(4)).join(",");
  $(`${slot}-numbers`).textContent = `${split} #${index}: ` + numbers(doc);
  $("t").disabled = !(state.a && state.b);
  if (!newest(t)) return;  // the person has moved on (a slider, another input): keep their code
  $("t").value = slot === "a" ? "0" : "1";
  $("t-value").textContent = Number($("t").value).toFixed(2);
  setCode(doc.code);
}

const requestInterpolation = coalesced(async (t, path, gen) => {
  const ref = (s) => `${encodeURIComponent(s.split)}:${s.index}`;
  const doc = await getJSON(`/api/interpolate?a=${ref(state.a)}&b=${ref(state.b)}&t=${t}&path=${path}`);
  if (newest(gen)) setCode(doc.code);
});

function buildGallery() {
  const split = $("split").value, n = state.info.splits[split];
  const pages = Math.max(1, Math.ceil(n / PAGE));
  state.page = Math.min(Math.max(0, state.page), pages - 1);
  $("page").textContent = ` ${state.page + 1} / ${pages} `;
  $("prev").disabled = state.page === 0;  // both stayed enabled: ▶ on "1 / 1" did nothing
  $("next").disabled = state.page === pages - 1;
  const box = $("gallery");
  box.replaceChildren();
  for (let i = state.page * PAGE; i < Math.min(n, (state.page + 1) * PAGE); i++) {
    const img = el("img", {class: "pix thumb", src: `/api/input.png?split=${encodeURIComponent(split)}&index=${i}`,
                           alt: `${split} input ${i}`, title: `${split} #${i}`, "data-index": String(i)});
    img.addEventListener("click", () => {
      const slot = document.querySelector("input[name=target]:checked").value;
      pick(slot, split, i).catch(showError);
      if (slot === "a") document.querySelector("input[name=target][value=b]").checked = true;
    });
    box.append(img);
  }
}

function buildMI(info) {
  const box = $("mi");
  const mi = info.mi_matrix;
  if (!mi) {
    box.append(el("p", {class: "hint", text: info.has_factors
      ? "Run `shadowplay evaluate RUN --metrics all` to see the latent × factor mutual information here."
      : "The data have no ground-truth factors, so there is no latent × factor map."}));
    return;
  }
  const names = mi.factor_names, H = mi.factor_entropy;
  const head = el("tr", {}, [el("th", {text: "latent"}), ...names.map((n) => el("th", {text: n}))]);
  const rows = info.order.map((d) => el("tr", {}, [el("th", {text: `z${d}`}), ...names.map((_, k) => {
    const v = H[k] > 0 ? mi.nats[d][k] / H[k] : 0;
    const td = el("td", {text: v.toFixed(2), title: `I(z${d}; ${names[k]}) / H(${names[k]}) = ${v.toFixed(3)}`});
    td.style.backgroundColor = `rgba(31, 119, 180, ${Math.min(1, Math.max(0, v)).toFixed(3)})`;
    if (v > 0.5) td.className = "dark";
    return td;
  })]));
  box.append(el("table", {class: "heat"}, [el("thead", {}, [head]), el("tbody", {}, rows)]),
             el("p", {class: "hint", text: "normalized mutual information I(z_j; v_k) / H(v_k) from `evaluate --metrics`"}));
}

async function upload(file) {
  const t = ticket("upload");
  $("up-numbers").className = "numbers loading";
  $("up-numbers").textContent = `scoring ${file.name}…`;
  let doc;
  try {
    const r = await fetch("/api/upload", {method: "POST", body: file, headers: {"Content-Type": file.type || "application/octet-stream"}});
    if (!r.ok) throw new Error((await r.text()).trim() || r.statusText);
    doc = await r.json();
  } catch (e) {
    if (!newestOf("upload", t)) return;
    // the previous upload's pictures and numbers would read as the answer to this file: the error takes their place
    $("upload-result").hidden = true;
    for (const id of ["up-input", "up-recon"]) $(id).removeAttribute("src");
    $("up-numbers").className = "numbers error";
    $("up-numbers").textContent = `${file.name}: ${e.message || e}`;
    return;
  }
  if (!newestOf("upload", t)) return;  // a later file is on its way
  $("upload-result").hidden = false;
  $("up-input").src = doc.input_png;
  $("up-recon").src = doc.reconstruction_png;
  $("up-numbers").className = "numbers";
  $("up-numbers").textContent = numbers(doc);
  if (newest(t)) setCode(doc.code);
}

function gaussian() {  // Box–Muller
  const u = 1 - Math.random(), v = Math.random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

async function main() {
  const info = await getJSON("/api/info");
  state.info = info;
  $("run-name").textContent = "· " + info.name;
  const sizes = Object.entries(info.splits).map(([k, v]) => `${k} ${v}`).join(", ");
  $("facts").textContent = `${info.latent_dim} latents · inputs ${info.shape.join("×")} · ${sizes}`;
  $("warnings").replaceChildren(...info.warnings.map((w) => el("li", {text: w})));
  buildSliders(info);
  const det = info.outlier_detector;
  $("outlier-status").textContent = det
    ? `outlier detector: ${det.score_name} score, flagged above ${det.threshold.toFixed(3)} ` +
      `(the ${(100 * (1 - det.contamination)).toFixed(0)}th percentile of its training scores), from ${det.source}`
    : (info.outlier_hint || "");
  if (!info.is_image) {  // rows of numbers: no upload (the server takes only pictures), pictures are line plots
    $("upload-box").hidden = true;
    document.body.classList.add("rows");
  }
  for (const s of Object.keys(info.splits)) $("split").append(el("option", {value: s, text: s}));
  $("split").addEventListener("change", () => { state.page = 0; buildGallery(); });
  $("prev").addEventListener("click", () => { state.page--; buildGallery(); });
  $("next").addEventListener("click", () => { state.page++; buildGallery(); });
  buildGallery();
  buildMI(info);
  $("zero").addEventListener("click", () => { ticket(); setCode(new Array(info.latent_dim).fill(0)); });
  $("random").addEventListener("click", () => { ticket(); setCode(Array.from({length: info.latent_dim}, gaussian)); });
  const onT = () => {
    $("t-value").textContent = Number($("t").value).toFixed(2);
    if (state.a && state.b) requestInterpolation(Number($("t").value), $("path").value, ticket());
  };
  $("t").addEventListener("input", onT);
  $("path").addEventListener("change", onT);
  $("upload").addEventListener("change", (e) => { if (e.target.files.length) upload(e.target.files[0]).catch(showError); });
  setCode(new Array(info.latent_dim).fill(0));
  document.body.dataset.ready = "1";
}

main().catch(showError);
