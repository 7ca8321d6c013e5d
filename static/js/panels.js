// Home panels: a panel whose request fails (server error, network, timeout) shows its own error box in place;
// the other panels and the page are untouched. The box comes from the panel's <template> (Chinese text).
(function () {
  function showFailure(event) {
    var body = event.detail && event.detail.elt;
    if (!body || !body.classList || !body.classList.contains("panel-body")) { return; }
    var template = body.parentNode && body.parentNode.querySelector("template.panel-failed");
    if (!template) { return; }
    body.innerHTML = "";
    body.appendChild(template.content.cloneNode(true));
    if (window.htmx && body.firstElementChild) { window.htmx.process(body.firstElementChild); }
  }
  ["htmx:responseError", "htmx:sendError", "htmx:timeout"].forEach(function (name) {
    document.addEventListener(name, showFailure);
  });
})();
