// Renders the OpenAPI description with the vendored Redoc. A file, not an inline script: the page's
// Content-Security-Policy allows scripts from this server only.
(function () {
  "use strict";
  var container = document.getElementById("redoc");
  window.Redoc.init(container.getAttribute("data-spec-url"), {
    expandResponses: "",
    hideDownloadButton: false,
    nativeScrollbars: true,
    pathInMiddlePanel: true,
  }, container);
})();
