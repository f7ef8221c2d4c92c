/* fakevision report: layer toggles, pagination, vector annotations (boxes, keypoints + skeleton) on every card,
   and the zoom view (full resolution, keypoint names on hover, provenance). Plain ES2017, no library, no network.
   Coordinates are ours: (0, 0) is the top-left corner of the top-left pixel, so x maps to x / W of the picture. */
(() => {
  "use strict";
  const data = JSON.parse(document.getElementById("fv-data").textContent);
  const S = data.samples;
  const layers = { masks: true, boxes: true, keypoints: true, depth: false, normals: false };
  const VISIBLE = "#39ff6a", OCCLUDED = "#ffb020";

  function drawVectors(canvas, s, opt) {
    const ctx = canvas.getContext("2d");
    const W = canvas.width, H = canvas.height;
    ctx.clearRect(0, 0, W, H);
    const v = s.vectors;
    if (!v || !W || !H) return;
    const sx = W / s.w, sy = H / s.h, lw = opt.lw, r = opt.r;
    if (layers.boxes) {
      ctx.lineWidth = lw;
      ctx.font = `${Math.round(opt.font)}px system-ui, sans-serif`;
      ctx.textBaseline = "top";
      v.boxes.forEach((b, i) => {
        const col = v.colours[i] || "#fff";
        ctx.strokeStyle = col;
        ctx.strokeRect(b[0] * sx, b[1] * sy, (b[2] - b[0]) * sx, (b[3] - b[1]) * sy);
        if (opt.labels && v.categories[i]) {
          const t = v.categories[i], tw = ctx.measureText(t).width + 6;
          const y = Math.max(0, b[1] * sy - opt.font - 4);
          ctx.fillStyle = "rgba(0,0,0,.65)";
          ctx.fillRect(b[0] * sx, y, tw, opt.font + 4);
          ctx.fillStyle = col;
          ctx.fillText(t, b[0] * sx + 3, y + 2);
        }
      });
    }
    if (layers.keypoints && v.keypoints) {
      v.keypoints.forEach((pts, i) => {
        const vis = v.visibility[i];
        ctx.strokeStyle = v.colours[i] || "#fff";
        ctx.globalAlpha = 0.85;
        ctx.lineWidth = Math.max(1, lw * 0.75);
        ctx.beginPath();
        for (const [a, b] of v.skeleton || []) {
          if (vis[a] > 0 && vis[b] > 0) {
            ctx.moveTo(pts[a][0] * sx, pts[a][1] * sy);
            ctx.lineTo(pts[b][0] * sx, pts[b][1] * sy);
          }
        }
        ctx.stroke();
        ctx.globalAlpha = 1;
        pts.forEach((p, k) => {
          if (!(vis[k] > 0)) return;
          ctx.beginPath();
          ctx.arc(p[0] * sx, p[1] * sy, r, 0, 2 * Math.PI);
          if (vis[k] === 2) {
            ctx.fillStyle = VISIBLE;
            ctx.fill();
            ctx.lineWidth = Math.max(1, r * 0.35);
            ctx.strokeStyle = "rgba(0,0,0,.7)";
            ctx.stroke();
          } else {
            ctx.lineWidth = Math.max(1, r * 0.6);
            ctx.strokeStyle = OCCLUDED;
            ctx.stroke();
          }
        });
      });
    }
  }

  function drawCard(card) {
    const canvas = card.querySelector("canvas.l-vectors");
    if (!canvas || card.hidden) return;
    const s = S[+card.dataset.i];
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    if (!w || !h) return;
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    const many = s.vectors && s.vectors.keypoints && s.vectors.keypoints.length * (s.vectors.kp_names || []).length > 40;
    drawVectors(canvas, s, { lw: 1.25 * dpr, r: (many ? 1.6 : 2.4) * dpr, font: 10 * dpr, labels: w >= 160 });
  }

  const visibleCards = () => Array.from(document.querySelectorAll(".card[data-i]")).filter((c) => !c.hidden);
  const redrawAll = () => visibleCards().forEach(drawCard);
  const resizer = typeof ResizeObserver === "function" ? new ResizeObserver((es) => es.forEach((e) => {
    const card = e.target.closest(".card");
    if (card) drawCard(card);
  })) : null;
  document.querySelectorAll(".card[data-i] canvas.l-vectors").forEach((c) => resizer && resizer.observe(c));

  /* layer toggles */
  document.querySelectorAll(".toolbar input[data-layer]").forEach((box) => {
    const name = box.dataset.layer;
    layers[name] = box.checked;
    document.body.classList.toggle("show-" + name, box.checked);
    box.addEventListener("change", () => {
      layers[name] = box.checked;
      document.body.classList.toggle("show-" + name, box.checked);
      redrawAll();
      if (current !== null) drawZoom();
    });
  });

  /* pagination: a page of cards at a time (their pictures load when shown) */
  function pageButtons(n, cur) {
    if (n <= 9) return Array.from({ length: n }, (_, i) => i);
    const set = new Set([0, n - 1, cur - 2, cur - 1, cur, cur + 1, cur + 2].filter((p) => p >= 0 && p < n));
    const out = [];
    [...set].sort((a, b) => a - b).forEach((p, j, arr) => {
      if (j && p - arr[j - 1] > 1) out.push(null);
      out.push(p);
    });
    return out;
  }
  document.querySelectorAll(".group").forEach((group) => {
    const cards = Array.from(group.querySelectorAll(".grid > .card"));
    const pager = group.querySelector(".pager");
    const n = +(pager && pager.dataset.pages) || 1;
    const show = (p) => {
      cards.forEach((c) => { c.hidden = +c.dataset.page !== p; });
      if (pager) {
        pager.replaceChildren();
        if (n > 1) {
          const btn = (label, page, cur) => {
            const b = document.createElement("button");
            b.type = "button";
            b.textContent = label;
            if (cur) b.setAttribute("aria-current", "page");
            b.addEventListener("click", () => show(page));
            return b;
          };
          if (p > 0) pager.append(btn("‹ previous", p - 1, false));
          pageButtons(n, p).forEach((q) => {
            if (q === null) { const e = document.createElement("span"); e.textContent = "…"; pager.append(e); }
            else pager.append(btn(String(q + 1), q, q === p));
          });
          if (p < n - 1) pager.append(btn("next ›", p + 1, false));
        }
      }
      cards.filter((c) => !c.hidden).forEach(drawCard);
    };
    show(0);
  });

  /* zoom view */
  const zoom = document.getElementById("zoom");
  const zc = document.getElementById("zoom-canvas");
  const tip = document.getElementById("zoom-tip");
  let current = null, siblings = [], zoomScale = 1, drawToken = 0;
  const imageCache = new Map();
  function loadImage(src) {
    if (!imageCache.has(src)) {
      imageCache.set(src, new Promise((resolve) => {
        const im = new Image();
        im.onload = () => resolve(im);
        im.onerror = () => resolve(null);
        im.src = src;
      }));
    }
    return imageCache.get(src);
  }
  function layerSrc(i, cls) {
    const img = document.querySelector(`.card[data-i="${i}"] img.${cls}`);
    return img ? img.getAttribute("src") : null;
  }
  function esc(t) {
    return String(t).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
  }
  function fmt(x) { return (Math.round(x * 100) / 100).toString(); }

  async function drawZoom() {
    const i = current, s = S[i], token = ++drawToken;
    const view = zc.parentElement;
    const avail = Math.max(100, view.clientWidth - 24), availH = Math.max(100, view.clientHeight - 24);
    let scale = Math.min(avail / s.w, availH / s.h);
    if (scale > 1) scale = Math.max(1, Math.floor(scale));  // whole pixels when enlarging: no smeared edges
    zoomScale = scale;
    const dpr = window.devicePixelRatio || 1;
    const cw = Math.round(s.w * scale), ch = Math.round(s.h * scale);
    const want = [s.full || layerSrc(i, "l-image")];  // small samples: the thumbnail is the full picture
    const extra = [];
    if (layers.depth && layerSrc(i, "l-depth")) extra.push(layerSrc(i, "l-depth"));
    if (layers.normals && layerSrc(i, "l-normals")) extra.push(layerSrc(i, "l-normals"));
    if (layers.masks && layerSrc(i, "l-masks")) extra.push(layerSrc(i, "l-masks"));
    const imgs = await Promise.all(want.concat(extra).map(loadImage));
    if (token !== drawToken) return;
    zc.style.width = cw + "px";
    zc.style.height = ch + "px";
    zc.width = Math.round(cw * dpr);
    zc.height = Math.round(ch * dpr);
    const ctx = zc.getContext("2d");
    ctx.imageSmoothingEnabled = scale < 2;
    imgs.forEach((im) => { if (im) ctx.drawImage(im, 0, 0, zc.width, zc.height); });
    const off = document.createElement("canvas");
    off.width = zc.width;
    off.height = zc.height;
    const r = Math.max(2, Math.min(4, 1.2 + scale * 0.12)) * dpr;
    drawVectors(off, s, { lw: 1.5 * dpr, r: r, font: 12 * dpr, labels: true });
    ctx.drawImage(off, 0, 0);
  }

  function describe(s) {
    const v = s.vectors || {};
    const parts = [];
    if (v.boxes && v.boxes.length) {
      parts.push("<h4>Instances</h4><ol class=\"ann-list\">" + v.boxes.map((b, k) =>
        `<li><span class="swatch" style="background:${esc(v.colours[k])}"></span>${esc(v.categories[k])} · box ` +
        `[${b.map(fmt).join(", ")}]</li>`).join("") + "</ol>");
    }
    if (v.keypoints) {
      const vis = v.visibility.flat();
      const n2 = vis.filter((x) => x === 2).length, n1 = vis.filter((x) => x === 1).length;
      parts.push(`<h4>Keypoints</h4><p>schema <code>${esc(v.schema)}</code>: ${v.kp_names.length} points per ` +
        `instance; ${n2} visible, ${n1} labelled but occluded. Hover a point for its name.</p>`);
    }
    if (s.label !== null && s.label !== undefined) parts.push(`<p>class label <b>${esc(s.label)}</b></p>`);
    if (s.attributes && Object.keys(s.attributes).length) {
      parts.push("<h4>Attributes</h4><pre>" + esc(JSON.stringify(s.attributes, null, 2)) + "</pre>");
    }
    return parts.join("");
  }

  function open(i, list) {
    current = i;
    siblings = list || [i];
    const s = S[i];
    document.getElementById("zoom-title").textContent = s.id;
    document.getElementById("zoom-caption").textContent = `${s.source} · ${s.caption}`;
    document.getElementById("zoom-annotations").innerHTML = describe(s);
    document.getElementById("zoom-provenance").textContent = JSON.stringify(s.provenance, null, 2);
    zoom.hidden = false;
    tip.hidden = true;
    drawZoom();
  }
  function close() { zoom.hidden = true; current = null; }
  function step(d) {
    if (current === null) return;
    const k = siblings.indexOf(current);
    const next = siblings[(k + d + siblings.length) % siblings.length];
    if (next !== undefined) open(next, siblings);
  }
  document.querySelectorAll(".card[data-i]").forEach((card) => {
    const go = () => {
      const box = card.closest(".grid, .pairs-grid");
      const list = box ? Array.from(box.querySelectorAll(".card[data-i]")).map((c) => +c.dataset.i) : null;
      open(+card.dataset.i, list);
    };
    card.addEventListener("click", go);
    card.addEventListener("keydown", (e) => { if (e.key === "Enter") go(); });
  });
  document.getElementById("zoom-close").addEventListener("click", close);
  zoom.addEventListener("click", (e) => { if (e.target === zoom || e.target === zc.parentElement) close(); });
  document.addEventListener("keydown", (e) => {
    if (current === null) return;
    if (e.key === "Escape") close();
    else if (e.key === "ArrowRight") step(1);
    else if (e.key === "ArrowLeft") step(-1);
  });
  window.addEventListener("resize", () => { if (current !== null) drawZoom(); });

  /* keypoint names (and instance categories) on hover */
  zc.addEventListener("mousemove", (e) => {
    if (current === null) return;
    const s = S[current], v = s.vectors || {};
    const rect = zc.getBoundingClientRect();
    const x = (e.clientX - rect.left) / zoomScale, y = (e.clientY - rect.top) / zoomScale;
    let best = null, bestD = 10 / zoomScale;
    if (layers.keypoints && v.keypoints) {
      v.keypoints.forEach((pts, i) => pts.forEach((p, k) => {
        if (!(v.visibility[i][k] > 0)) return;
        const d = Math.hypot(p[0] - x, p[1] - y);
        if (d < bestD) { bestD = d; best = { i, k, p }; }
      }));
    }
    let text = null;
    if (best) {
      const vis = v.visibility[best.i][best.k] === 2 ? "visible" : "occluded";
      text = `#${best.k} ${v.kp_names[best.k] || ""} · ${vis} · (${fmt(best.p[0])}, ${fmt(best.p[1])})` +
        (v.keypoints.length > 1 ? ` · instance ${best.i}` : "");
    } else if (layers.boxes && v.boxes) {
      const k = v.boxes.findIndex((b) => x >= b[0] && x < b[2] && y >= b[1] && y < b[3]);
      if (k >= 0) text = `${v.categories[k]} (instance ${k})`;
    }
    if (text === null) { tip.hidden = true; return; }
    tip.textContent = text;
    tip.hidden = false;
    const vr = zc.parentElement.getBoundingClientRect();
    tip.style.left = (e.clientX - vr.left + 14) + "px";
    tip.style.top = (e.clientY - vr.top + 10) + "px";
  });
  zc.addEventListener("mouseleave", () => { tip.hidden = true; });
  window.fakevisionReport = { open, close, layers, redraw: redrawAll };
})();
