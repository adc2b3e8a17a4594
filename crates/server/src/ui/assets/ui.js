// The only script of the pages: the WebAuthn ceremonies, which need the browser's credential
// API. Every request carries the page's CSRF token; the session itself stays in HttpOnly
// cookies the script never sees.
(function () {
  "use strict";
  var csrf = document.querySelector('meta[name="csrf-token"]').content;

  function post(path, body) {
    return fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": csrf },
      body: JSON.stringify(body || {}),
    }).then(function (response) {
      return response.json().then(function (json) {
        if (!response.ok) { throw new Error(json.code || response.status); }
        return json;
      });
    });
  }

  function failed(button) {
    return function () {
      var message = button.parentNode.querySelector(".passkey-error");
      if (message) { message.hidden = false; }
      button.disabled = false;
    };
  }

  function assertion(options) {
    return navigator.credentials.get({
      publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options.publicKey),
    });
  }

  function go(answer) { window.location.assign(answer.redirect); }

  function on(selector, run) {
    document.querySelectorAll(selector).forEach(function (button) {
      if (!window.PublicKeyCredential) { button.hidden = true; return; }
      button.addEventListener("click", function () { button.disabled = true; run(button).catch(failed(button)); });
    });
  }

  on("[data-passkey-login]", function (button) {
    return post("/ui/passkeys/login/options").then(function (options) {
      return assertion(options).then(function (credential) {
        return post("/ui/passkeys/login", {
          challenge_id: options.challenge_id, credential: credential.toJSON(), rd: button.dataset.rd,
        });
      });
    }).then(go);
  });

  on("[data-passkey-second-factor]", function (button) {
    return post("/ui/login/mfa/webauthn/options").then(assertion).then(function (credential) {
      return post("/ui/login/mfa/webauthn", { credential: credential.toJSON(), rd: button.dataset.rd });
    }).then(go);
  });

  on("[data-passkey-register]", function () {
    return post("/ui/account/passkeys/options").then(function (options) {
      return navigator.credentials.create({
        publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options.publicKey),
      });
    }).then(function (credential) {
      var name = document.getElementById("passkey-name");
      return post("/ui/account/passkeys", { credential: credential.toJSON(), name: name ? name.value : "" });
    }).then(go);
  });
})();
