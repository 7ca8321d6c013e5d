// A few lines only: htmx configuration, confirm dialogs, errors shown in place.
document.addEventListener("DOMContentLoaded", function () {
  if (window.htmx) {
    // 2xx swap; 422 (a form with errors) and 409 (someone else was first: the answer shows the
    // current state) swap too; other errors do not replace content.
    htmx.config.responseHandling = [
      { code: "204", swap: false },
      { code: "[23]..", swap: true },
      { code: "422", swap: true },
      { code: "409", swap: true },
      { code: "[45]..", swap: false, error: true },
    ];
    htmx.config.historyCacheSize = 0;
  }
});

document.addEventListener("htmx:responseError", function (event) {
  // Show the server's Chinese message (errors/_error.html) instead of a silent failure.
  var toast = document.getElementById("toast");
  var xhr = event.detail.xhr;
  var html = xhr && xhr.responseText && xhr.responseText.indexOf("alert") !== -1
    ? xhr.responseText
    : '<div class="alert alert-error" role="alert">请求失败（' + (xhr ? xhr.status : "网络") + '），请稍后重试。</div>';
  toast.innerHTML = html;
  setTimeout(function () { toast.innerHTML = ""; }, 8000);
});

document.addEventListener("htmx:sendError", function () {
  var toast = document.getElementById("toast");
  toast.innerHTML = '<div class="alert alert-error" role="alert">无法连接服务器，请检查网络后重试。</div>';
});

document.addEventListener("click", function (event) {
  var opener = event.target.closest("[data-open-dialog]");
  if (opener) {
    var dialog = document.getElementById(opener.getAttribute("data-open-dialog"));
    if (dialog && dialog.showModal) { dialog.showModal(); event.preventDefault(); }
    return;
  }
  var closer = event.target.closest("[data-close-dialog]");
  if (closer) { closer.closest("dialog").close(); return; }
  // "返回上一页" on error pages (no javascript: links: the Content-Security-Policy forbids inline script).
  if (event.target.closest("[data-history-back]")) { history.back(); event.preventDefault(); }
});

// A "select all" checkbox (data-check-all="ids") ticks every checkbox of that name in its form.
document.addEventListener("change", function (event) {
  var all = event.target.closest("[data-check-all]");
  if (!all) { return; }
  var name = all.getAttribute("data-check-all");
  var form = all.form;
  if (!form) { return; }
  Array.prototype.forEach.call(form.elements, function (box) {
    if (box.type === "checkbox" && box.name === name) { box.checked = all.checked; }
  });
});
