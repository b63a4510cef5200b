// Causette phone simulator: draws the phones of the sandbox phone book and sends what people do.
// Vanilla JS, no dependency. Every piece of data goes through textContent or a checked URL,
// never through innerHTML.
"use strict";

(() => {
  const MARSEILLE = { latitude: 43.2965, longitude: 5.3698 }; // Vieux-Port, fixed on purpose
  const MEDIA_HEIGHTS = { SHORT: 112, MEDIUM: 168, TALL: 264 };
  const CARD_WIDTHS = { SMALL: 120, MEDIUM: 232 };
  const ENCODINGS = { GSM7: "GSM7", UCS2: "UCS2", UNICODE: "UCS2" };
  const TIME = new Intl.DateTimeFormat("fr-FR", {
    hour: "2-digit",
    minute: "2-digit",
    timeZone: "Europe/Paris",
  });

  /** number (E.164) -> phone view */
  const phones = new Map();
  const phonesBox = document.querySelector('[data-testid="phones"]');
  const noPhones = document.querySelector('[data-testid="no-phones"]');
  const connection = document.querySelector('[data-testid="connection"]');
  const readRequested = new Set();
  let reloading = null;
  let reloadAgain = false;

  // --- DOM helpers ---------------------------------------------------------------------------

  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "className") node.className = value;
      else if (name === "text") node.textContent = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child);
    }
    return node;
  }

  // Icons drawn inline (24x24 paths): emoji fonts are not everywhere.
  const ICONS = {
    send: "M2 21l21-9L2 3v7l15 2-15 2v7z",
    pin: "M12 2a7 7 0 0 0-7 7c0 5.2 7 13 7 13s7-7.8 7-13a7 7 0 0 0-7-7zm0 9.5a2.5 2.5 0 1 1 0-5 2.5 2.5 0 0 1 0 5z",
    link: "M14 3h7v7h-2V6.41l-9.29 9.3-1.42-1.42L17.59 5H14V3zM5 5h6v2H5v12h12v-6h2v6a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2V7a2 2 0 0 1 2-2z",
    phone: "M6.62 10.79a15.05 15.05 0 0 0 6.59 6.59l2.2-2.2a1 1 0 0 1 1.02-.24c1.12.37 2.32.57 3.57.57a1 1 0 0 1 1 1V20a1 1 0 0 1-1 1A17 17 0 0 1 3 4a1 1 0 0 1 1-1h3.5a1 1 0 0 1 1 1c0 1.25.2 2.45.57 3.57a1 1 0 0 1-.25 1.02l-2.2 2.2z",
    calendar: "M7 2v2H5a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h14a2 2 0 0 0 2-2V6a2 2 0 0 0-2-2h-2V2h-2v2H9V2H7zM5 9h14v11H5V9z",
    file: "M6 2h8l6 6v12a2 2 0 0 1-2 2H6a2 2 0 0 1-2-2V4a2 2 0 0 1 2-2zm7 1.5V9h5.5L13 3.5z",
    image: "M21 19V5a2 2 0 0 0-2-2H5a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h14a2 2 0 0 0 2-2zM8.5 13.5l2.5 3 3.5-4.5 4.5 6H5l3.5-4.5z",
    person: "M12 12a4.5 4.5 0 1 0 0-9 4.5 4.5 0 0 0 0 9zm0 2.25c-3 0-9 1.5-9 4.5V21h18v-2.25c0-3-6-4.5-9-4.5z",
    action: "M12 2l2.9 6.9L22 9.3l-5.5 4.8L18.2 21 12 17.3 5.8 21l1.7-6.9L2 9.3l7.1-.4L12 2z",
  };
  const SVG = "http://www.w3.org/2000/svg"; // the SVG namespace, not a resource

  function icon(name) {
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    svg.setAttribute("class", `icon icon-${name}`);
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", ICONS[name] || ICONS.action);
    path.setAttribute("fill", "currentColor");
    svg.append(path);
    return svg;
  }

  /** The URL when it is http(s) (or a data: image for `img`), else null. */
  function safeUrl(raw, allowDataImage) {
    if (typeof raw !== "string") return null;
    try {
      const url = new URL(raw, document.baseURI);
      if (url.protocol === "http:" || url.protocol === "https:") return url.href;
      if (allowDataImage && url.protocol === "data:" && /^data:image\//i.test(raw)) return raw;
    } catch (_) {
      return null;
    }
    return null;
  }

  function str(value) {
    return typeof value === "string" ? value : "";
  }

  function formatTime(iso) {
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? "" : TIME.format(date);
  }

  function fileName(url) {
    try {
      const path = new URL(url, document.baseURI).pathname;
      return decodeURIComponent(path.slice(path.lastIndexOf("/") + 1)) || url;
    } catch (_) {
      return String(url);
    }
  }

  function isImage(url) {
    return /^data:image\//i.test(url) || /\.(jpe?g|png|gif|webp|svg|bmp)(\?|#|$)/i.test(url);
  }

  // --- HTTP ------------------------------------------------------------------------------------

  async function postJson(url, body) {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let payload = null;
    try {
      payload = await response.json();
    } catch (_) {
      payload = null;
    }
    if (!response.ok) {
      const reason = payload && typeof payload.error === "string" ? payload.error : "";
      const error = new Error(reason || `HTTP ${response.status}`);
      error.status = response.status;
      throw error;
    }
    return payload;
  }

  function describeError(error) {
    if (error && error.status === 503) {
      return "Aucun émulateur ne prend ce canal en charge : le bot n’a rien reçu.";
    }
    if (error && error.status === 404) return "Téléphone inconnu du bac à sable.";
    if (error && error.status === 400) return `Refusé : ${error.message}`;
    return `Échec de l’envoi (${error && error.message ? error.message : "réseau"}).`;
  }

  // --- Phones ----------------------------------------------------------------------------------

  function createPhone(data) {
    const rcs = data.network === "rcs";
    const safeId = data.number.replace(/[^0-9]/g, "");
    const inputId = `composer-${safeId}`;

    const badge = el("span", {
      className: `badge badge-${rcs ? "rcs" : "sms"}`,
      "data-testid": "network",
      title: rcs ? "Téléphone compatible RCS" : "Téléphone SMS uniquement",
      text: rcs ? "RCS" : "SMS",
    });
    const avatar = el("div", { className: "avatar", "aria-hidden": "true" });
    const identity = el("div", { className: "identity" });
    if (data.name) {
      avatar.textContent = data.name.slice(0, 1);
      identity.append(
        el("h2", { className: "phone-name", text: data.name }),
        el("p", { className: "phone-number", "data-testid": "phone-number", text: data.national }),
      );
    } else {
      avatar.append(icon("person"));
      identity.append(el("h2", { className: "phone-name", "data-testid": "phone-number", text: data.national }));
    }
    const header = el("header", { className: "phone-header" }, avatar, identity, badge);
    const thread = el("div", {
      className: "thread",
      "data-testid": "thread",
      role: "log",
      "aria-live": "polite",
      "aria-label": `Conversation sur le ${data.national}`,
      tabindex: "0",
    });
    const empty = el("p", { className: "thread-empty", text: "Aucun message pour l’instant." });
    thread.append(empty);
    const chips = el("div", {
      className: "chips",
      "data-testid": "chips",
      role: "group",
      "aria-label": "Suggestions",
    });
    const notice = el("p", {
      className: "notice",
      "data-testid": "notice",
      role: "status",
      "aria-live": "polite",
      hidden: true,
    });
    const input = el("input", {
      id: inputId,
      className: "composer-input",
      "data-testid": "composer-input",
      type: "text",
      autocomplete: "off",
      placeholder: rcs ? "Message RCS" : "Message SMS",
    });
    const label = el("label", {
      className: "visually-hidden",
      for: inputId,
      text: `Votre message depuis le ${data.national}`,
    });
    const send = el("button", {
      type: "submit",
      className: "composer-send",
      "data-testid": "composer-send",
      "aria-label": "Envoyer",
      title: "Envoyer",
    });
    send.append(icon("send"));
    const form = el("form", { className: "composer", "data-testid": "composer" }, label, input);
    let locate = null;
    if (rcs) {
      locate = el("button", {
        type: "button",
        className: "composer-location",
        "data-testid": "share-location",
        "aria-label": "Partager ma position (Marseille)",
        title: "Partager ma position (Marseille)",
      });
      locate.append(icon("pin"));
      form.append(locate);
    }
    form.append(send);

    // What the business pays for this phone (the demo's ledger); hidden where none is served.
    const billing = el("p", {
      className: "billing",
      "data-testid": "billing",
      role: "status",
      "aria-live": "polite",
      hidden: true,
    });
    const frame = el(
      "section",
      {
        className: `phone phone-${rcs ? "rcs" : "sms"}`,
        "data-testid": "phone",
        "data-number": data.number,
        "data-network": data.network,
        "aria-label": `Téléphone ${data.national} (${rcs ? "RCS" : "SMS"})`,
      },
      header,
      billing,
      el("div", { className: "screen" }, thread, chips, notice, form),
    );

    const view = {
      number: data.number,
      national: data.national,
      rcs,
      frame,
      billing,
      thread,
      empty,
      chips,
      notice,
      input,
      busy: false,
      order: [],
      messages: new Map(), // id -> { data, node, ticks }
      chipsFor: null,
      observer: null,
    };
    view.observer =
      "IntersectionObserver" in window
        ? new IntersectionObserver((entries) => onSeen(view, entries), {
            root: thread,
            threshold: 0.5,
          })
        : null;

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = input.value;
      if (!text.trim()) return;
      act(view, { text }).then((ok) => {
        if (ok) input.value = "";
      });
    });
    if (locate) {
      locate.addEventListener("click", () => shareLocation(view));
    }
    return view;
  }

  function upsertPhone(data) {
    let view = phones.get(data.number);
    if (!view) {
      view = createPhone(data);
      phones.set(data.number, view);
      phonesBox.append(view.frame);
    }
    return view;
  }

  function showNotice(view, text, kind) {
    view.notice.textContent = text;
    view.notice.dataset.kind = kind || "info";
    view.notice.hidden = !text;
  }

  function setBusy(view, busy) {
    view.busy = busy;
    view.frame.toggleAttribute("aria-busy", busy);
    for (const button of view.frame.querySelectorAll("button")) button.disabled = busy;
  }

  async function act(view, body) {
    if (view.busy) return false;
    setBusy(view, true);
    showNotice(view, "");
    try {
      const message = await postJson(`api/phones/${encodeURIComponent(view.number)}/act`, body);
      if (message && message.id) upsertMessage(view, message);
      return true;
    } catch (error) {
      showNotice(view, describeError(error), "error");
      return false;
    } finally {
      setBusy(view, false);
    }
  }

  function shareLocation(view) {
    showNotice(view, "");
    return act(view, { location: { ...MARSEILLE } });
  }

  // --- Messages --------------------------------------------------------------------------------

  function upsertMessage(view, data) {
    const known = view.messages.get(data.id);
    if (known) {
      known.data = data;
      updateStatus(view, known);
    } else {
      const entry = { data, node: null, ticks: null };
      buildMessage(view, entry);
      view.messages.set(data.id, entry);
      view.order.push(data.id);
      view.empty.remove();
      const stick = isNearBottom(view.thread);
      view.thread.append(entry.node);
      if (view.observer && entry.ticks) view.observer.observe(entry.node);
      if (stick || data.direction === "from_phone") scrollToBottom(view.thread);
    }
    refreshChips(view);
  }

  function isNearBottom(thread) {
    return thread.scrollHeight - thread.scrollTop - thread.clientHeight < 80;
  }

  function scrollToBottom(thread) {
    thread.scrollTop = thread.scrollHeight;
  }

  /** Put the thread in the server's order (after a reload), then any message not in it. */
  function reorder(view, ids) {
    const listed = new Set(ids);
    const rest = view.order.filter((id) => !listed.has(id));
    view.order = ids.filter((id) => view.messages.has(id)).concat(rest);
    for (const id of view.order) view.thread.append(view.messages.get(id).node);
    scrollToBottom(view.thread);
    refreshChips(view);
  }

  function buildMessage(view, entry) {
    const data = entry.data;
    const incoming = data.direction === "to_phone";
    const body = data.body && typeof data.body === "object" ? data.body : {};
    const node = el("article", {
      className: `message ${incoming ? "incoming" : "outgoing"}`,
      "data-testid": "message",
      "data-id": data.id,
      "data-direction": data.direction,
      "data-channel": data.channel,
      "data-status": data.status,
    });
    if (!incoming) {
      node.append(outgoingBubble(body));
    } else if (data.channel === "sms") {
      node.append(smsBubble(body));
    } else {
      node.append(rcsContent(view, body));
    }
    const meta = el("p", { className: "meta" });
    meta.append(el("time", { datetime: data.at, text: formatTime(data.at) }));
    if (incoming && data.channel === "sms") {
      const segments = Number.isInteger(body.segments) ? body.segments : "?";
      const encoding = ENCODINGS[str(body.encoding).toUpperCase()] || str(body.encoding) || "?";
      meta.append(
        el("span", { className: "segments", "data-testid": "sms-segments", text: `${segments} SMS · ${encoding}` }),
      );
    }
    if (incoming && data.channel === "rcs") {
      entry.ticks = el("span", { className: "ticks", "data-testid": "ticks" });
      meta.append(entry.ticks);
    }
    node.append(meta);
    entry.node = node;
    updateStatus(view, entry);
  }

  function updateStatus(view, entry) {
    const status = entry.data.status;
    entry.node.dataset.status = status;
    if (!entry.ticks) return;
    const read = status === "read";
    entry.ticks.textContent = read ? "✓✓" : "✓";
    entry.ticks.dataset.status = status;
    entry.ticks.title = read ? "Lu" : "Distribué";
    entry.ticks.setAttribute("aria-label", read ? "Lu" : "Distribué");
    if (read && view.observer) view.observer.unobserve(entry.node);
  }

  function outgoingBubble(body) {
    const bubble = el("div", { className: "bubble" });
    if (body.location && typeof body.location === "object") {
      const { latitude, longitude } = body.location;
      bubble.classList.add("bubble-location");
      bubble.append(
        icon("pin"),
        el("span", {
          "data-testid": "message-text",
          text: `Position partagée\n${Number(latitude).toFixed(4)}, ${Number(longitude).toFixed(4)}`,
        }),
      );
    } else {
      bubble.append(el("span", { className: "text", "data-testid": "message-text", text: str(body.text) }));
      if (typeof body.postbackData === "string") bubble.classList.add("bubble-postback");
    }
    return bubble;
  }

  function smsBubble(body) {
    const bubble = el("div", { className: "bubble bubble-sms" });
    if (body.from) bubble.append(el("p", { className: "sender", "data-testid": "sms-from", text: `De : ${str(String(body.from))}` }));
    bubble.append(el("p", { className: "text sms-text", "data-testid": "message-text", text: str(body.text) }));
    return bubble;
  }

  function rcsContent(view, body) {
    if (typeof body.text === "string") {
      return el("div", { className: "bubble" }, el("p", { className: "text", "data-testid": "message-text", text: body.text }));
    }
    const rich = body.richCard && typeof body.richCard === "object" ? body.richCard : null;
    if (rich && rich.standaloneCard) return standaloneCard(view, rich.standaloneCard);
    if (rich && rich.carouselCard) return carousel(view, rich.carouselCard);
    if (body.contentInfo && typeof body.contentInfo === "object") {
      return mediaBubble(body.contentInfo.fileUrl, body.contentInfo.thumbnailUrl);
    }
    if (body.uploadedRbmFile && typeof body.uploadedRbmFile === "object") {
      return el("div", { className: "bubble" }, el("p", { className: "text", "data-testid": "message-text", text: `Fichier ${str(body.uploadedRbmFile.fileName)}` }));
    }
    return el(
      "div",
      { className: "bubble bubble-unknown" },
      el("p", { className: "text", text: "Message non pris en charge par le simulateur :" }),
      el("pre", { className: "raw", text: JSON.stringify(body, null, 2) }),
    );
  }

  function mediaBubble(fileUrl, thumbnailUrl) {
    const url = safeUrl(fileUrl, true);
    const bubble = el("div", { className: "bubble bubble-media" });
    if (url && isImage(url)) {
      bubble.append(image(url, "Image reçue", null));
    } else if (url) {
      const preview = safeUrl(thumbnailUrl, true);
      if (preview) bubble.append(image(preview, "Aperçu du fichier", null));
      bubble.append(
        el("a", { href: url, target: "_blank", rel: "noopener noreferrer", className: "file", "data-testid": "file-link" }, icon("file"), el("span", { text: fileName(url) })),
      );
    } else {
      bubble.append(el("p", { className: "text", text: "Fichier (adresse refusée)" }));
    }
    return bubble;
  }

  function image(url, alt, height) {
    const img = el("img", { src: url, alt, loading: "lazy", decoding: "async" });
    if (height) img.style.height = `${height}px`;
    img.addEventListener("error", () => {
      const placeholder = el("div", { className: "media-placeholder", role: "img", "aria-label": alt });
      if (height) placeholder.style.height = `${height}px`;
      placeholder.append(icon("image"), el("span", { text: fileName(url) }));
      img.replaceWith(placeholder);
    });
    return img;
  }

  function standaloneCard(view, standalone) {
    const content = standalone.cardContent && typeof standalone.cardContent === "object" ? standalone.cardContent : {};
    const horizontal = standalone.cardOrientation === "HORIZONTAL";
    const card = cardNode(view, content, horizontal ? null : 0);
    if (horizontal) {
      card.classList.add("card-horizontal");
      if (standalone.thumbnailImageAlignment === "RIGHT") card.classList.add("media-right");
    }
    return card;
  }

  function carousel(view, carouselCard) {
    const width = CARD_WIDTHS[carouselCard.cardWidth] || CARD_WIDTHS.MEDIUM;
    const cards = Array.isArray(carouselCard.cardContents) ? carouselCard.cardContents : [];
    const strip = el("div", {
      className: "carousel",
      "data-testid": "carousel",
      role: "group",
      "aria-label": `Carrousel de ${cards.length} cartes`,
      tabindex: "0",
    });
    for (const content of cards) {
      const card = cardNode(view, content && typeof content === "object" ? content : {}, width);
      card.style.width = `${width}px`;
      strip.append(card);
    }
    return strip;
  }

  function cardNode(view, content, width) {
    const card = el("div", { className: "card", "data-testid": "card" });
    const media = content.media && typeof content.media === "object" ? content.media : null;
    if (media) {
      const info = media.contentInfo && typeof media.contentInfo === "object" ? media.contentInfo : {};
      const url = safeUrl(info.thumbnailUrl && !isImage(str(info.fileUrl)) ? info.thumbnailUrl : info.fileUrl, true);
      let height = MEDIA_HEIGHTS[media.height] || MEDIA_HEIGHTS.MEDIUM;
      if (width === CARD_WIDTHS.SMALL) height = Math.min(height, MEDIA_HEIGHTS.MEDIUM);
      const box = el("div", { className: "card-media" });
      box.append(url ? image(url, str(content.title) || "Image de la carte", height) : el("div", { className: "media-placeholder" }, icon("image")));
      card.append(box);
    }
    const body = el("div", { className: "card-body" });
    if (content.title) body.append(el("h3", { className: "card-title", "data-testid": "card-title", text: str(content.title) }));
    if (content.description) body.append(el("p", { className: "card-description", "data-testid": "card-description", text: str(content.description) }));
    const suggestions = Array.isArray(content.suggestions) ? content.suggestions : [];
    if (suggestions.length) {
      const actions = el("div", { className: "card-suggestions", role: "group", "aria-label": "Suggestions de la carte" });
      for (const suggestion of suggestions) {
        const button = suggestionButton(view, suggestion);
        if (button) {
          button.classList.add("card-suggestion");
          button.dataset.testid = "card-suggestion";
          actions.append(button);
        }
      }
      body.append(actions);
    }
    card.append(body);
    return card;
  }

  // --- Suggestions -----------------------------------------------------------------------------

  function refreshChips(view) {
    const lastId = view.order[view.order.length - 1];
    if (view.chipsFor === lastId) return;
    view.chipsFor = lastId;
    view.chips.replaceChildren();
    const last = lastId ? view.messages.get(lastId).data : null;
    // RBM: the chip list shows only while its message is the latest of the thread.
    if (!last || last.direction !== "to_phone" || last.channel !== "rcs") return;
    const suggestions = last.body && Array.isArray(last.body.suggestions) ? last.body.suggestions : [];
    for (const suggestion of suggestions) {
      const button = suggestionButton(view, suggestion);
      if (button) view.chips.append(button);
    }
    if (view.busy) setBusy(view, true);
  }

  function suggestionButton(view, suggestion) {
    if (!suggestion || typeof suggestion !== "object") return null;
    const reply = suggestion.reply;
    const action = suggestion.action;
    const item = reply || action;
    if (!item || typeof item !== "object") return null;
    const label = str(item.text);
    const button = el("button", { type: "button", className: "chip", "data-testid": "chip" });
    if (reply) {
      button.dataset.kind = "reply";
      button.textContent = label;
      button.addEventListener("click", () => act(view, { postbackData: str(reply.postbackData), text: label }));
      return button;
    }
    button.dataset.kind = "action";
    button.append(icon(actionIcon(action)), el("span", { text: label }));
    button.addEventListener("click", () => runAction(view, action, label));
    return button;
  }

  function actionIcon(action) {
    if (action.openUrlAction) return "link";
    if (action.dialAction) return "phone";
    if (action.shareLocationAction || action.viewLocationAction) return "pin";
    if (action.createCalendarEventAction) return "calendar";
    return "action";
  }

  async function runAction(view, action, label) {
    if (action.shareLocationAction) {
      // The person "picks" a place: the fixed Marseille position goes as a location message.
      await shareLocation(view);
      return;
    }
    const [notice, kind] = actionEffect(action); // before any await: window.open needs the tap
    // RBM tells the agent about a tapped action too: a suggestionResponse of type ACTION.
    const postback = str(action.postbackData);
    if (postback && kind !== "error" && !(await act(view, { postbackData: postback, text: label }))) {
      return;
    }
    showNotice(view, notice, kind);
  }

  /** Do what the phone does for an action chip; the notice to show, and its kind. */
  function actionEffect(action) {
    if (action.openUrlAction) {
      const url = safeUrl(action.openUrlAction.url, false);
      if (!url) return ["Lien refusé : seules les adresses http(s) s’ouvrent.", "error"];
      window.open(url, "_blank", "noopener,noreferrer");
      return [`Lien ouvert dans un nouvel onglet : ${url}`, "info"];
    }
    if (action.dialAction) {
      return [`Appel vers ${str(action.dialAction.phoneNumber)}`, "info"];
    }
    if (action.viewLocationAction) {
      const place = action.viewLocationAction;
      const where = place.query
        ? str(place.query)
        : place.latLong
          ? `${str(place.label)} (${Number(place.latLong.latitude).toFixed(4)}, ${Number(place.latLong.longitude).toFixed(4)})`
          : "";
      return [`Lieu : ${where.trim()}`, "info"];
    }
    if (action.createCalendarEventAction) {
      const event = action.createCalendarEventAction;
      return [
        `Ajouté à l’agenda : ${str(event.title)}, ${formatDate(event.startTime)} → ${formatDate(event.endTime)}`,
        "info",
      ];
    }
    return ["Action non prise en charge par le simulateur.", "error"];
  }

  function formatDate(iso) {
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return str(iso);
    return date.toLocaleString("fr-FR", { dateStyle: "short", timeStyle: "short", timeZone: "Europe/Paris" });
  }

  // --- Read receipts ---------------------------------------------------------------------------

  function onSeen(view, entries) {
    if (document.visibilityState !== "visible") return;
    for (const entry of entries) {
      if (entry.isIntersecting) markRead(view, entry.target.dataset.id);
    }
  }

  function markRead(view, id) {
    const known = view.messages.get(id);
    if (!known || known.data.status === "read" || readRequested.has(id)) return;
    readRequested.add(id);
    postJson(`api/messages/${encodeURIComponent(id)}/read`)
      .then((message) => {
        if (message && message.id) upsertMessage(view, message);
      })
      .catch(() => readRequested.delete(id));
  }

  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState !== "visible") return;
    for (const view of phones.values()) {
      if (!view.observer) continue;
      // Re-observing reports the current intersection again.
      for (const entry of view.messages.values()) {
        if (entry.ticks && entry.data.status !== "read") {
          view.observer.unobserve(entry.node);
          view.observer.observe(entry.node);
        }
      }
    }
  });

  // --- Loading and live updates ----------------------------------------------------------------

  async function reload() {
    if (reloading) {
      reloadAgain = true; // the running load may have read the phone book too early
      return reloading;
    }
    reloading = (async () => {
      try {
        const response = await fetch("api/phones", { cache: "no-store" });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        const payload = await response.json();
        const list = Array.isArray(payload.phones) ? payload.phones : [];
        for (const data of list) {
          const view = upsertPhone(data);
          const ids = [];
          for (const message of data.messages || []) {
            upsertMessage(view, message);
            ids.push(message.id);
          }
          reorder(view, ids);
        }
        noPhones.hidden = list.length > 0;
        document.body.dataset.ready = "true";
        refreshBillingSoon();
      } catch (error) {
        setConnection("error", `Chargement impossible (${error.message}).`);
      } finally {
        reloading = null;
        if (reloadAgain) {
          reloadAgain = false;
          reload();
        }
      }
    })();
    return reloading;
  }

  let billingServed = true;
  let billingTimer = null;

  // The ledger moves after the message (its receipt, the person's reply): read it a moment
  // after each change rather than at once, and at most once per burst.
  function refreshBillingSoon() {
    if (!billingServed || billingTimer) return;
    billingTimer = setTimeout(() => {
      billingTimer = null;
      refreshBilling();
    }, 400);
  }

  async function refreshBilling() {
    try {
      const response = await fetch("api/billing", { cache: "no-store" });
      if (response.status === 404) {
        billingServed = false;
        return;
      }
      if (!response.ok) return;
      const payload = await response.json();
      for (const [number, info] of Object.entries(payload.phones || {})) {
        const view = phones.get(number);
        if (view) showBilling(view, info);
      }
    } catch (_) {
      // Billing is a side panel: the conversation goes on without it.
    }
  }

  function showBilling(view, info) {
    const parts = [];
    for (const session of info.sessions || []) {
      parts.push(`Session ${str(session.label)} ouverte jusqu’à ${formatTime(session.until)}`);
    }
    parts.push(`Coût : ${str(info.cost)} ${str(info.currency)}`);
    view.billing.textContent = parts.join(" · ");
    view.billing.hidden = false;
  }

  function setConnection(state, text) {
    connection.dataset.state = state;
    connection.textContent = text;
  }

  function connect() {
    if (!("EventSource" in window)) {
      setConnection("error", "Ce navigateur ne reçoit pas les événements en direct.");
      reload();
      return;
    }
    const events = new EventSource("api/events");
    events.addEventListener("open", () => {
      setConnection("open", "● En direct");
      // Loaded once the stream is open, so that nothing delivered in between is missed.
      reload();
    });
    events.addEventListener("error", () => {
      setConnection("closed", "Reconnexion…");
    });
    events.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (_) {
        return;
      }
      const view = phones.get(message.phone);
      if (view) upsertMessage(view, message);
      else reload(); // a phone added after the page loaded
      refreshBillingSoon();
    });
  }

  connect();
})();
