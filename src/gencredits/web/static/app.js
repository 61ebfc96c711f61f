// gencredits dashboard: live prices on the Generate page. Everything else is plain HTML forms;
// without this script the "Update price" button prices the request through the page itself.
(function () {
  "use strict";

  var form = document.getElementById("generate-form");
  if (!form) return;

  var url = form.getAttribute("data-quote-url");
  var outputs = document.getElementById("outputs");
  var outputsHint = document.getElementById("outputs-hint");
  var explanation = document.getElementById("explanation");
  var coverage = document.getElementById("coverage");
  var charge = document.getElementById("charge");
  var selectedNames = form.querySelectorAll("[data-selected-name]");
  var totals = form.querySelectorAll("[data-total]");
  var account = document.getElementById("account-field");
  var choiceFields = {
    seconds: { box: document.getElementById("field-seconds"), input: document.getElementById("seconds"), data: "seconds", suffix: " s" },
    quality: { box: document.getElementById("field-quality"), input: document.getElementById("quality"), data: "qualities", suffix: "" },
    option: { box: document.getElementById("field-option"), input: document.getElementById("option"), data: "options", suffix: "" }
  };
  var timer = null;
  var sequence = 0;

  function selectedModel() {
    return form.querySelector('input[name="model"]:checked');
  }

  function fill(field, values, preferred) {
    var select = field.input;
    var current = select.value;
    select.textContent = "";
    values.forEach(function (value) {
      var option = document.createElement("option");
      option.value = value;
      option.textContent = value + field.suffix;
      select.appendChild(option);
    });
    if (values.indexOf(current) >= 0) select.value = current;
    else if (values.indexOf(preferred) >= 0) select.value = preferred;
  }

  // Show only the choices the chosen model takes, with its own values and limits.
  function adapt() {
    var model = selectedModel();
    if (!model) return;
    var max = parseInt(model.getAttribute("data-max-outputs"), 10) || 1;
    outputs.max = String(max);
    if ((parseInt(outputs.value, 10) || 1) > max) outputs.value = String(max);
    outputsHint.textContent = "1 to " + max + " per request" +
      (max > 1 ? "; more in one request costs less each." : ".");
    Object.keys(choiceFields).forEach(function (name) {
      var field = choiceFields[name];
      var text = model.getAttribute("data-" + field.data) || "";
      var values = text ? text.split(",") : [];
      field.box.hidden = values.length === 0;
      field.input.disabled = values.length === 0;
      fill(field, values, model.getAttribute("data-default-" + (name === "seconds" ? "seconds" : name)));
    });
    var label = form.querySelector('label[for="' + model.id + '"] .model-name');
    if (label) setText(selectedNames, label.textContent);
  }

  function setText(elements, text) {
    Array.prototype.forEach.call(elements, function (element) { element.textContent = text; });
  }

  function query() {
    var params = new URLSearchParams();
    var model = selectedModel();
    if (model) params.set("model", model.value);
    params.set("outputs", outputs.value);
    Object.keys(choiceFields).forEach(function (name) {
      var field = choiceFields[name];
      if (!field.box.hidden) params.set(name, field.input.value);
    });
    if (account) params.set("account", account.value);
    return params.toString();
  }

  function show(data) {
    if (data.ok) {
      setText(totals, data.total_text);
      explanation.textContent = data.explanation;
      outputs.removeAttribute("aria-invalid");
      var known = data.coverage && data.coverage.known;
      if (known) {
        coverage.textContent = data.coverage.text;
        coverage.className = "coverage " + (data.coverage.covers ? "ok" : "short");
      }
      if (charge && account) charge.disabled = known && !data.coverage.covers;
    } else {
      setText(totals, "–");
      explanation.textContent = data.message || "This request cannot be priced.";
      if (data.field && /outputs$/.test(data.field)) outputs.setAttribute("aria-invalid", "true");
      if (charge) charge.disabled = true;
    }
  }

  function refresh() {
    var mine = ++sequence;
    fetch(url + "?" + query(), { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (response.redirected || response.status === 401) {
          window.location.reload();
          return null;
        }
        return response.json();
      })
      .then(function (data) { if (data && mine === sequence) show(data); })
      .catch(function () {
        if (mine === sequence) explanation.textContent = "Could not update the price; press Update price.";
      });
  }

  function schedule() {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 120);
  }

  form.addEventListener("change", function (event) {
    if (event.target.name === "model") adapt();
    schedule();
  });
  form.addEventListener("input", function (event) {
    if (event.target === outputs) schedule();
  });
  adapt();
})();
