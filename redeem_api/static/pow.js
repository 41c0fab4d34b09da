/* Proof of work for /redeem (vouchers/pow.py): find s such that SHA-256(challenge + ":" + s) starts with
   <bits> zero bits, put it in the form, and hold the submit button until then. Loaded only when the
   page carries a challenge (a busy address); no inline script (CSP: script-src 'self'). */
(function () {
  "use strict";
  var K = [0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2];
  var W = new Int32Array(64);

  function sha256(bytes) { // bytes: array of 0..255; returns 8 words
    var n = bytes.length, total = ((n + 9 + 63) >> 6) << 6, m = new Uint8Array(total), i, j;
    m.set(bytes);
    m[n] = 0x80;
    var bitLen = n * 8;
    m[total - 4] = (bitLen >>> 24) & 255; m[total - 3] = (bitLen >>> 16) & 255;
    m[total - 2] = (bitLen >>> 8) & 255; m[total - 1] = bitLen & 255;
    var h0 = 0x6a09e667, h1 = 0xbb67ae85, h2 = 0x3c6ef372, h3 = 0xa54ff53a,
      h4 = 0x510e527f, h5 = 0x9b05688c, h6 = 0x1f83d9ab, h7 = 0x5be0cd19;
    for (i = 0; i < total; i += 64) {
      for (j = 0; j < 16; j++) {
        W[j] = (m[i + 4 * j] << 24) | (m[i + 4 * j + 1] << 16) | (m[i + 4 * j + 2] << 8) | m[i + 4 * j + 3];
      }
      for (j = 16; j < 64; j++) {
        var x = W[j - 15], y = W[j - 2];
        var s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
        var s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
        W[j] = (W[j - 16] + s0 + W[j - 7] + s1) | 0;
      }
      var a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7;
      for (j = 0; j < 64; j++) {
        var S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        var t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[j] + W[j]) | 0;
        var S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        var t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
        h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      h0 = (h0 + a) | 0; h1 = (h1 + b) | 0; h2 = (h2 + c) | 0; h3 = (h3 + d) | 0;
      h4 = (h4 + e) | 0; h5 = (h5 + f) | 0; h6 = (h6 + g) | 0; h7 = (h7 + h) | 0;
    }
    return [h0, h1, h2, h3, h4, h5, h6, h7];
  }

  function zeroBits(words) {
    var bits = 0;
    for (var i = 0; i < 8; i++) {
      var w = words[i] >>> 0;
      if (w === 0) { bits += 32; continue; }
      return bits + Math.clz32(w);
    }
    return bits;
  }

  function ascii(text) {
    var out = [];
    for (var i = 0; i < text.length; i++) { out.push(text.charCodeAt(i) & 255); }
    return out;
  }

  function solve(challenge, bits, done) {
    var prefix = ascii(challenge + ":"), n = 0;
    function chunk() {
      var stop = n + 20000;
      for (; n < stop; n++) {
        if (zeroBits(sha256(prefix.concat(ascii(String(n))))) >= bits) { done(String(n)); return; }
      }
      setTimeout(chunk, 0); // keep the page responsive
    }
    chunk();
  }

  window.vouchersPow = {sha256: sha256, zeroBits: zeroBits, solve: solve};
  var field = document.getElementById("pow_challenge");
  if (!field) { return; }
  var form = field.form, button = form.querySelector("button[type=submit]");
  var status = document.getElementById("pow_status");
  var challenge = field.value, bits = parseInt(challenge.split(".")[2], 10);
  button.disabled = true;
  solve(challenge, bits, function (solution) {
    document.getElementById("pow_solution").value = solution;
    form.setAttribute("data-pow", "solved");
    if (status) { status.textContent = status.getAttribute("data-done"); }
    button.disabled = false;
  });
})();
