// Helpers shared by the demo's pages; the flows themselves are in each
// page, written against magiclink.js.
(function () {
  "use strict";

  // showStep shows the element with data-step=name and hides the others.
  window.showStep = function (name) {
    document.querySelectorAll("[data-step]").forEach(function (el) {
      el.hidden = el.dataset.step !== name;
    });
  };

  // setAddress writes addr into every [data-addr] element.
  window.setAddress = function (addr) {
    document.querySelectorAll("[data-addr]").forEach(function (el) { el.textContent = addr; });
  };

  // showError shows msg in the page's #error banner; "" hides it.
  window.showError = function (msg) {
    var el = document.getElementById("error");
    el.textContent = msg;
    el.hidden = !msg;
  };

  // describeError turns a failed call into a sentence with the API's code.
  window.describeError = function (err) {
    if (!(err instanceof magiclink.MagiclinkError)) {
      return "Could not reach the server. Check your connection and try again.";
    }
    if (err.status === 429) {
      var wait = err.retryAfter ? "Try again in " + err.retryAfter + " seconds." : "Wait a little, then try again.";
      return "Too many links were sent to this address. " + wait + " (" + err.code + ")";
    }
    if (err.status === 422) {
      return "That email address can’t be used: " + err.message + " (" + err.code + ")";
    }
    return err.message + " (" + err.code + ")";
  };

  // codeEntry wires a [data-code] form (the "code" block of layout.html):
  // typing the last digit, pasting the code or pressing Enter sends it
  // with attempt(code), a promise; done(result) runs when it is accepted.
  // A wrong code is said below the input, which empties for another try;
  // after the last allowed one the flow's long poll reports it failed.
  window.codeEntry = function (form, attempt, done) {
    var input = form.querySelector("input");
    var note = form.querySelector("[data-code-error]");
    var length = Number(input.dataset.length) || 6;
    var busy = false;
    function digits() { return input.value.replace(/[\s-]/g, ""); }
    function say(msg) { note.textContent = msg; note.hidden = !msg; }
    async function send() {
      if (busy) return;
      busy = true;
      input.disabled = true;
      say("");
      try {
        done(await attempt(digits()));
      } catch (err) {
        var e = err && err.errors && err.errors[0];
        var left = e && e.meta && e.meta.remainingAttempts;
        if (err && err.code === "form_code_incorrect" && left > 0) {
          say("That code is not right: " + left + (left === 1 ? " try" : " tries") + " left.");
        } else if (err && (err.code === "form_code_incorrect" || err.code === "verification_failed")) {
          say("Too many wrong codes: this code and its link no longer work. Send a new one.");
        } else {
          say(describeError(err));
        }
        input.value = "";
      } finally {
        busy = false;
        input.disabled = false;
        input.focus();
      }
    }
    input.addEventListener("input", function () {
      if (/^[0-9]+$/.test(digits()) && digits().length === length) send();
    });
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      send();
    });
    return { reset: function () { input.value = ""; say(""); } };
  };

  // Signing out in one tab tells the site's other tabs of this browser:
  // those that show who is signed in reload (pages are no-store, so the
  // server answers: signed out, or a redirect to the sign-in page)
  // instead of showing the account until someone clicks.
  var tabs = typeof BroadcastChannel === "function" ? new BroadcastChannel("magiclink-demo") : null;
  if (tabs) {
    tabs.onmessage = function (e) {
      if (e.data === "signed-out" && document.querySelector("header.top .who")) location.reload();
    };
  }

  // Sign-out buttons: DELETE /auth/session, then home.
  document.addEventListener("click", function (e) {
    var b = e.target.closest("[data-sign-out]");
    if (!b) return;
    b.disabled = true;
    magiclink.signOut().catch(function () {}).then(function () {
      if (tabs) tabs.postMessage("signed-out");
      location.assign((document.documentElement.dataset.base || "") + "/");
    });
  });
})();
