// A card's QR opens https://<host>/r#EV1:... : copy the token from the URL's fragment into the code
// field. The fragment never reaches the server (no access log, no proxy sees it); the CSP forbids
// inline script, hence this file. Without JavaScript the customer types the 20-digit code.
(function () {
  "use strict";
  function fill() {
    var hash = window.location.hash;
    if (!hash || hash.length < 6) { return; }
    var token;
    try { token = decodeURIComponent(hash.slice(1)); } catch (e) { return; }
    if (token.indexOf("EV1:") !== 0) { return; }
    var code = document.getElementById("code");
    if (!code) { return; }
    code.value = token;
    code.setAttribute("data-from-qr", "1");
    // keep the token out of the address bar, history and anything the page shares
    if (window.history && window.history.replaceState) {
      window.history.replaceState(null, "", window.location.pathname + window.location.search);
    }
    var account = document.getElementById("account_no");
    if (account && !account.value) { account.focus(); }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", fill);
  } else {
    fill();
  }
})();
