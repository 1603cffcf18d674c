// Say it once, pick don't type: a slug that follows its name, and the column pickers of a
// predictions upload filled from the chosen file's header, read here before uploading.
// The server checks every name again; this only saves typing.
(function () {
  "use strict";

  // --- A slug that follows its name -------------------------------------------------------
  function slugify(text) {
    return text
      .normalize("NFKD")
      .replace(/[\u0300-\u036f]/g, "")
      .toLowerCase()
      .replace(/[^\w\s-]/g, "")
      .replace(/[-\s]+/g, "-")
      .replace(/^[-_]+|[-_]+$/g, "")
      .slice(0, 80);
  }

  document.querySelectorAll("input[data-slug-from]").forEach(function (slug) {
    const name = document.getElementById(slug.dataset.slugFrom);
    if (!name) return;
    // Typed by hand (or sent back with the form) and not what the name gives: left alone.
    let byHand = slug.value !== "" && slug.value !== slugify(name.value);
    name.addEventListener("input", function () {
      if (!byHand) slug.value = slugify(name.value);
    });
    slug.addEventListener("input", function () {
      // Emptied by hand: following the name again.
      byHand = slug.value !== "";
    });
  });

  // --- A CSV file's header ------------------------------------------------------------------
  const HEAD_BYTES = 256 * 1024;

  // The first record of CSV text: quoted fields may hold delimiters, doubled quotes and
  // line breaks. The delimiter is the one of , ; tab | seen most outside quotes.
  function firstRecord(text) {
    text = text.replace(/^\uFEFF/, "");
    let end = text.length;
    let quoted = false;
    const counts = { ",": 0, ";": 0, "\t": 0, "|": 0 };
    for (let i = 0; i < text.length; i++) {
      const ch = text[i];
      if (ch === '"') quoted = !quoted;
      else if (!quoted && (ch === "\n" || ch === "\r")) {
        end = i;
        break;
      } else if (!quoted && ch in counts) counts[ch]++;
    }
    const line = text.slice(0, end);
    let delimiter = ",";
    Object.keys(counts).forEach(function (d) {
      if (counts[d] > counts[delimiter]) delimiter = d;
    });
    return { line: line, delimiter: delimiter, complete: end < text.length };
  }

  function splitRecord(line, delimiter) {
    const fields = [];
    let field = "";
    let quoted = false;
    for (let i = 0; i < line.length; i++) {
      const ch = line[i];
      if (quoted) {
        if (ch === '"' && line[i + 1] === '"') {
          field += '"';
          i++;
        } else if (ch === '"') quoted = false;
        else field += ch;
      } else if (ch === '"') quoted = true;
      else if (ch === delimiter) {
        fields.push(field.trim());
        field = "";
      } else field += ch;
    }
    fields.push(field.trim());
    return fields;
  }

  function readText(blob) {
    return new Promise(function (resolve, reject) {
      const reader = new FileReader();
      reader.onload = function () {
        resolve(reader.result);
      };
      reader.onerror = function () {
        reject(reader.error);
      };
      reader.readAsText(blob, "utf-8");
    });
  }

  // The start of a gzip-compressed file, decompressed until a line break is seen.
  async function readGzipHead(file) {
    const stream = file.stream().pipeThrough(new DecompressionStream("gzip"));
    const reader = stream.getReader();
    const decoder = new TextDecoder("utf-8");
    let text = "";
    try {
      while (text.length < HEAD_BYTES) {
        const part = await reader.read();
        if (part.done) break;
        text += decoder.decode(part.value, { stream: true });
        if (firstRecord(text).complete) break;
      }
    } finally {
      reader.cancel().catch(function () {});
    }
    return text;
  }

  // The file's column names; null when they cannot be read here (Parquet).
  async function headerOf(file) {
    const name = file.name.toLowerCase();
    if (name.endsWith(".parquet") || name.endsWith(".pq")) return null;
    let text;
    if (name.endsWith(".gz")) {
      if (typeof DecompressionStream === "undefined") return null;
      text = await readGzipHead(file);
    } else {
      text = await readText(file.slice(0, HEAD_BYTES));
    }
    const record = firstRecord(text);
    if (!record.line.trim()) return [];
    return splitRecord(record.line, record.delimiter).filter(function (c) {
      return c !== "";
    });
  }

  // --- The predictions form's pickers -------------------------------------------------------
  const SINGLE = ["y_true", "y_pred", "y_score", "row_id"];
  // Names a column of that role usually has; only an empty field is filled with one.
  const USUAL = {
    y_true: ["y_true", "label", "target", "truth", "actual", "true"],
    y_pred: ["y_pred", "prediction", "predicted", "pred"],
    y_score: ["y_score", "score", "probability", "proba", "prob"],
  };

  function setOptions(form, input, names) {
    const id = input.id + "-columns";
    let list = document.getElementById(id);
    if (!list) {
      list = document.createElement("datalist");
      list.id = id;
      form.appendChild(list);
    }
    list.replaceChildren();
    names.forEach(function (n) {
      const option = document.createElement("option");
      option.value = n;
      list.appendChild(option);
    });
    if (names.length) input.setAttribute("list", id);
    else input.removeAttribute("list");
  }

  // Ticks for each of the file's columns, kept in step with the comma-separated field.
  function setChecks(form, input, names) {
    const id = input.id + "-picks";
    let box = document.getElementById(id);
    if (!names.length) {
      if (box) box.remove();
      return;
    }
    if (!box) {
      box = document.createElement("fieldset");
      box.id = id;
      box.className = "choices column-picks";
      // Below the field and its help text (which follow the label, not inside it).
      const help = document.getElementById(input.id + "_helptext");
      (help || input.closest("label") || input).after(box);
      box.addEventListener("change", function () {
        const ticked = Array.from(box.querySelectorAll("input:checked")).map(function (c) {
          return c.value;
        });
        input.value = ticked.join(", ");
      });
    }
    const chosen = input.value
      .split(",")
      .map(function (c) {
        return c.trim();
      })
      .filter(Boolean);
    const legend = document.createElement("legend");
    legend.textContent = "Sensitive-feature columns of the file";
    box.replaceChildren(legend);
    names.forEach(function (n, i) {
      const label = document.createElement("label");
      const check = document.createElement("input");
      check.type = "checkbox";
      check.value = n;
      check.id = id + "-" + i;
      check.checked = chosen.indexOf(n) >= 0;
      label.htmlFor = check.id;
      label.append(check, " " + n);
      box.appendChild(label);
    });
  }

  function setUp(form) {
    const file = form.querySelector("input[type=file]");
    const status = form.querySelector("[data-header-status]");
    const version = form.querySelector("select[name=dataset_version]");
    const inputs = {};
    SINGLE.concat(["sensitive"]).forEach(function (key) {
      inputs[key] = form.querySelector("input[name=" + key + "]");
    });
    let header = null;

    function hint() {
      let shown = null;
      form.querySelectorAll(".version-hint").forEach(function (el) {
        const chosen = version && el.dataset.version === version.value;
        el.hidden = !chosen;
        if (chosen) shown = el;
      });
      return shown;
    }

    function fill() {
      const chosen = hint();
      const versionColumns = chosen ? JSON.parse(chosen.dataset.columns || "[]") : [];
      const names = header || [];
      SINGLE.forEach(function (key) {
        const input = inputs[key];
        if (!input) return;
        let offered = names;
        // A row id pairs with the version's column of the same name.
        if (key === "row_id" && chosen) {
          offered = names.filter(function (n) {
            return versionColumns.indexOf(n) >= 0;
          });
        }
        setOptions(form, input, offered);
        if (!input.value && USUAL[key]) {
          const usual = USUAL[key].slice();
          if (key === "y_true" && chosen && chosen.dataset.label) usual.unshift(chosen.dataset.label);
          const found = usual.find(function (u) {
            return names.indexOf(u) >= 0;
          });
          if (found) input.value = found;
        }
      });
      if (inputs.sensitive) setChecks(form, inputs.sensitive, names);
    }

    async function read() {
      header = null;
      const chosen = file.files && file.files[0];
      if (!chosen) {
        status.textContent = "The file's column names are read here, before anything is uploaded, and offered below.";
        fill();
        return;
      }
      try {
        header = await headerOf(chosen);
      } catch (err) {
        header = null;
      }
      if (header === null) {
        status.textContent =
          "The column names of " + chosen.name + " cannot be read here; type them, and they are checked on upload.";
      } else if (!header.length) {
        status.textContent = chosen.name + " has no header line here; its columns are checked on upload.";
      } else {
        status.textContent =
          chosen.name + " has " + header.length + " columns: " + header.join(", ") + ". Pick from them below.";
      }
      fill();
    }

    if (file && status) file.addEventListener("change", read);
    if (version) version.addEventListener("change", fill);
    fill();
  }

  document.querySelectorAll("form[data-header-picker]").forEach(setUp);
})();
