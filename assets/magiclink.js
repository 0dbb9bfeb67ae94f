/*! magiclink.js — the browser helper of magiclink's Frontend API. No build step, no dependencies.
 *
 *   <script src="/auth/magiclink.js"></script>
 *   const si = await magiclink.signIn.create({ identifier: "ada@example.com" });
 *   const done = await si.startMagicLinkFlow({ redirectUrl: "/verified" }); // resolves when the link is confirmed or expires
 *   // meanwhile, the code from the same email, typed in this tab, completes it too:
 *   await si.attemptFirstFactor({ strategy: "email_code", code: "123456" });
 *
 * Objects come back as clerk-js's resources: the API's JSON with camelCase fields (the wire
 * stays snake_case) and methods added: signIn.firstFactorVerification, signUp.verifications
 * .emailAddress, createdSessionId, and verification.verifiedFromTheSameClient() (a method, as
 * in clerk-js). Supported first factors keep their snake_case keys beside the camelCase ones
 * (email_address_id, safe_identifier), which landing-page code ported from Clerk's magic-link
 * guides reads. Inputs are camelCase: create({identifier}), create({emailAddress}) (or
 * {email}), startMagicLinkFlow({redirectUrl, emailAddressId}).
 * Clerk's current names work too: startEmailLinkFlow, cancelEmailLinkFlow,
 * createEmailLinkFlow, handleEmailLinkVerification, EmailLinkError, isEmailLinkError and
 * EmailLinkErrorCode, beside startMagicLinkFlow, createMagicLinkFlow,
 * handleMagicLinkVerification, MagicLinkError, isMagicLinkError and MagicLinkErrorCode.
 * Failed calls reject with a MagiclinkError carrying the API's errors (camelCase: code, message,
 * longMessage, meta), status and first code, and retryAfter (seconds, from Retry-After; 0 when
 * absent) for 429 too_many_requests and 503.
 * A 503 service_unavailable (the server's database briefly down; nothing written) is retried
 * after its Retry-After, a few times, before it rejects; a long poll keeps retrying 429s and 5xx.
 */
(function (global) {
  "use strict";

  var script = document.currentScript;
  var defaultPrefix = "/auth";
  if (script && script.src) {
    var p = new URL(script.src, location.href).pathname.replace(/\/magiclink\.js$/, "");
    if (p) defaultPrefix = p;
  }

  // camelKey returns the snake_case name k in camelCase (email_address_id -> emailAddressId).
  function camelKey(k) {
    return k.replace(/_([a-z0-9])/g, function (_, c) { return c.toUpperCase(); });
  }

  // camel returns v with every object key in camelCase.
  function camel(v) {
    if (Array.isArray(v)) return v.map(camel);
    if (!v || typeof v !== "object") return v;
    var out = {};
    Object.keys(v).forEach(function (k) {
      out[camelKey(k)] = camel(v[k]);
    });
    return out;
  }

  // resource returns the API object o as a resource: camelCase, with
  // verification.verifiedFromTheSameClient() as a method, and the first
  // factors' snake_case keys kept beside their camelCase ones.
  function resource(o) {
    if (!o) return o;
    var r = camel(o);
    [r.firstFactorVerification, r.verification, r.verifications && r.verifications.emailAddress].forEach(function (v) {
      if (!v) return;
      var same = !!v.verifiedFromTheSameClient;
      v.verifiedFromTheSameClient = function () { return same; };
    });
    (o.supported_first_factors || []).forEach(function (f, i) {
      Object.keys(f).forEach(function (k) { r.supportedFirstFactors[i][k] = f[k]; });
    });
    return r;
  }

  function MagiclinkError(status, body) {
    var errs = camel((body && body.errors) || []);
    var first = errs[0] || {};
    this.name = "MagiclinkError";
    this.status = status;
    this.errors = errs;
    this.code = first.code || "network_error";
    this.message = first.longMessage || first.message || "Request failed (" + status + ")";
  }
  MagiclinkError.prototype = Object.create(Error.prototype);
  MagiclinkError.prototype.constructor = MagiclinkError;

  // MagicLinkError is what handleMagicLinkVerification rejects with: code is one of
  // MagicLinkErrorCode. isMagicLinkError tells it from other errors, as in clerk-js.
  var MagicLinkErrorCode = { Expired: "expired", Failed: "failed", ClientMismatch: "client_mismatch" };
  function MagicLinkError(code, message) {
    MagiclinkError.call(this, 0, { errors: [{ code: code, message: message, long_message: message }] });
    this.name = "MagicLinkError";
  }
  MagicLinkError.prototype = Object.create(MagiclinkError.prototype);
  MagicLinkError.prototype.constructor = MagicLinkError;
  function isMagicLinkError(err) { return err instanceof MagicLinkError; }

  function create(prefix) {
    prefix = prefix || defaultPrefix;

    // A 503 service_unavailable means the server's store is briefly down
    // (restarting, out of disk) and nothing was written: the request is
    // made again after Retry-After, up to unavailableTries times.
    var unavailableTries = 5;

    function retryDelay(err) {
      return Math.min(err.retryAfter || 1, 10) * 1000;
    }

    function request(method, path, body, signal, tries) {
      var init = { method: method, credentials: "same-origin", headers: { Accept: "application/json" }, signal: signal };
      if (body !== undefined) {
        init.headers["Content-Type"] = "application/json";
        init.body = JSON.stringify(body);
      }
      return fetch(prefix + path, init).then(function (res) {
        return res.text().then(function (text) {
          var data = null;
          try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
          if (!res.ok) {
            var err = new MagiclinkError(res.status, data);
            err.retryAfter = Number(res.headers.get("Retry-After")) || 0;
            tries = tries || 0;
            if (res.status === 503 && err.code === "service_unavailable" && tries < unavailableTries) {
              return sleep(retryDelay(err), signal).then(function () { return request(method, path, body, signal, tries + 1); });
            }
            throw err;
          }
          return resource(data);
        });
      });
    }

    function sleep(ms, signal) {
      return new Promise(function (resolve, reject) {
        var t = setTimeout(resolve, ms);
        if (signal) signal.addEventListener("abort", function () { clearTimeout(t); reject(abortError()); }, { once: true });
      });
    }

    function abortError() {
      var e = new Error("The magic link flow was cancelled.");
      e.name = "AbortError";
      return e;
    }

    // A flow: prepare a link, then long-poll until its verification leaves "unverified".
    // opts.step names its routes, prepare_<step> and attempt_<step>, and its attempt
    // method, attempt<Step>: "first_factor" for a sign-in or a reverification,
    // "verification" for a sign-up or an email address.
    function flow(obj, opts) {
      var controller = null;
      obj.cancelMagicLinkFlow = function () {
        if (controller) controller.abort();
        controller = null;
      };
      obj.startMagicLinkFlow = function (params) {
        params = params || {};
        obj.cancelMagicLinkFlow();
        controller = new AbortController();
        var signal = controller.signal;
        // The strategy: as given, else the sign-in's first factor (email_code when the server
        // sends codes only), else email_link.
        var first = (obj.supportedFirstFactors || [])[0];
        var body = { strategy: params.strategy || (first && first.strategy) || "email_link" };
        if (params.redirectUrl) body.redirect_url = params.redirectUrl;
        if (opts.factorId) body.email_address_id = params.emailAddressId || opts.factorId(obj);
        return request("POST", opts.path(obj) + "/prepare_" + opts.step, body, signal).then(function (prepared) {
          return poll(prepared, signal);
        });
      };
      // attemptFirstFactor / attemptVerification({strategy: "email_code", code}): the code
      // from the email, typed in this tab (spaces and dashes are fine). Resolves with the
      // updated object, status "complete" and this browser signed in; a waiting
      // startMagicLinkFlow resolves too. Wrong codes reject with form_code_incorrect
      // (err.errors[0].meta.remaining_attempts left), the last allowed one fails the
      // verification: then only a new flow works.
      obj[camelKey("attempt_" + opts.step)] = function (params) {
        params = params || {};
        var body = { strategy: params.strategy || "email_code", code: String(params.code == null ? "" : params.code) };
        return request("POST", opts.path(obj) + "/attempt_" + opts.step, body).then(opts.wrap);
      };
      obj.startEmailLinkFlow = obj.startMagicLinkFlow;
      obj.cancelEmailLinkFlow = obj.cancelMagicLinkFlow;
      // createMagicLinkFlow() returns the two functions, as clerk-js's does.
      obj.createMagicLinkFlow = obj.createEmailLinkFlow = function () {
        return {
          startMagicLinkFlow: obj.startMagicLinkFlow, cancelMagicLinkFlow: obj.cancelMagicLinkFlow,
          startEmailLinkFlow: obj.startMagicLinkFlow, cancelEmailLinkFlow: obj.cancelMagicLinkFlow
        };
      };
      function poll(current, signal) {
        if (settled(current)) return Promise.resolve(opts.wrap(current));
        return request("GET", opts.path(current) + "?wait=25", undefined, signal).then(
          function (next) { return poll(next || current, signal); },
          function (err) {
            if (err && err.name === "AbortError") throw err;
            if (err instanceof MagiclinkError && err.status !== 0 && err.status < 500 && err.status !== 429) throw err;
            return sleep(err instanceof MagiclinkError && err.retryAfter ? retryDelay(err) : 1000, signal).then(function () { return poll(current, signal); });
          });
      }
      function settled(current) {
        if (!current) return false;
        var v = opts.verification(current);
        return !!v && v.status !== "unverified";
      }
      return obj;
    }

    function wrapSignIn(si) {
      return flow(si, {
        path: function (o) { return "/sign_ins/" + o.id; },
        step: "first_factor",
        factorId: function (o) {
          var f = (o.supportedFirstFactors || [])[0];
          return f && f.emailAddressId;
        },
        verification: function (o) { return o.firstFactorVerification; },
        wrap: wrapSignIn
      });
    }

    function wrapSignUp(su) {
      return flow(su, {
        path: function (o) { return "/sign_ups/" + o.id; },
        step: "verification",
        verification: function (o) { return o.verifications && o.verifications.emailAddress; },
        wrap: wrapSignUp
      });
    }

    function wrapEmailAddress(ea) {
      // destroy() removes the address (sensitive: may need a reverification).
      ea.destroy = function () { return request("DELETE", "/me/email_addresses/" + encodeURIComponent(ea.id)); };
      return flow(ea, {
        path: function (o) { return "/me/email_addresses/" + o.id; },
        step: "verification",
        verification: function (o) { return o.verification; },
        wrap: wrapEmailAddress
      });
    }

    // The signed-in user, with Clerk's methods. update() takes camelCase
    // or snake_case fields; changing primaryEmailAddressId, destroying an
    // address and delete() are sensitive: wrap them in withReverification.
    function wrapUser(u) {
      if (!u) return u;
      u.emailAddresses = (u.emailAddresses || []).map(wrapEmailAddress);
      // createEmailAddress({email}) adds an address, as in clerk-js.
      u.createEmailAddress = function (params) { return api.emailAddress.create(params); };
      u.update = function (params) {
        params = params || {};
        var body = {};
        [["firstName", "first_name"], ["lastName", "last_name"], ["unsafeMetadata", "unsafe_metadata"],
         ["primaryEmailAddressId", "primary_email_address_id"]].forEach(function (n) {
          if (params[n[0]] !== undefined) body[n[1]] = params[n[0]];
          else if (params[n[1]] !== undefined) body[n[1]] = params[n[1]];
        });
        return request("PATCH", "/me", body).then(wrapUser);
      };
      u.delete = function () { return request("DELETE", "/me"); };
      u.getSessions = function () { return request("GET", "/me/sessions").then(function (l) { return (l || []).map(wrapSession); }); };
      u.revokeOtherSessions = function () { return request("POST", "/me/sessions/revoke_others").then(function (l) { return (l || []).map(wrapSession); }); };
      return u;
    }

    // A session, with revoke() ending it (one of the user's own).
    function wrapSession(s) {
      if (!s) return s;
      s.revoke = function () { return request("POST", "/me/sessions/" + encodeURIComponent(s.id) + "/revoke").then(wrapSession); };
      return s;
    }

    // The reverification of this session: a flow like a sign-in's, whose
    // link or code goes to the primary address.
    function wrapReverification(rv) {
      return flow(rv, {
        path: function () { return "/session/verify"; },
        step: "first_factor",
        verification: function (o) { return o.firstFactorVerification; },
        wrap: wrapReverification
      });
    }

    // withReverification(fn, opts) calls fn, and when the answer is 403
    // session_reverification_required, runs a reverification and calls fn
    // again. opts.onNeedsReverification(rv) is called with the started
    // reverification (show "check your email"; rv.attemptFirstFactor({code})
    // takes a typed code); opts.redirectUrl is where the emailed link lands;
    // opts.strategy is "email_link" (default) or "email_code". A
    // reverification that does not complete rejects with its status.
    function withReverification(fn, opts) {
      opts = opts || {};
      return Promise.resolve().then(fn).catch(function (err) {
        if (!(err instanceof MagiclinkError) || err.code !== "session_reverification_required") throw err;
        return request("POST", "/session/verify").then(wrapReverification).then(function (rv) {
          var done = rv.startMagicLinkFlow({ redirectUrl: opts.redirectUrl, strategy: opts.strategy });
          if (opts.onNeedsReverification) opts.onNeedsReverification(rv);
          return done;
        }).then(function (rv) {
          if (rv.status !== "complete") {
            var v = rv.firstFactorVerification || {};
            throw new MagiclinkError(0, { errors: [{ code: "reverification_" + (v.status || "failed"),
              message: "The verification did not complete.", long_message: "The verification did not complete (" + (v.status || "failed") + "). Try again." }] });
          }
          return fn();
        });
      });
    }

    // locale is the language a new flow's emails and pages are written
    // in: params.locale, else the browser's.
    function locale(params) {
      return params.locale || (global.navigator && global.navigator.language) || undefined;
    }

    // emailParam is the address of create({emailAddress}), create({email}) (the seeds'
    // parameter) or create({email_address}).
    function emailParam(params) {
      return params.emailAddress || params.email || params.email_address;
    }

    var api = {
      prefix: prefix,
      MagiclinkError: MagiclinkError,
      MagicLinkError: MagicLinkError,
      EmailLinkError: MagicLinkError,
      MagicLinkErrorCode: MagicLinkErrorCode,
      EmailLinkErrorCode: MagicLinkErrorCode,
      isMagicLinkError: isMagicLinkError,
      isEmailLinkError: isMagicLinkError,
      signIn: {
        // create({identifier}) or create({strategy: "ticket", ticket})
        create: function (params) {
          params = params || {};
          var body = params.strategy === "ticket"
            ? { strategy: "ticket", ticket: params.ticket }
            : { identifier: params.identifier, locale: locale(params) };
          return request("POST", "/sign_ins", body).then(wrapSignIn);
        },
        get: function (id) { return request("GET", "/sign_ins/" + encodeURIComponent(id)).then(wrapSignIn); }
      },
      signUp: {
        create: function (params) {
          params = params || {};
          return request("POST", "/sign_ups", { email_address: emailParam(params), locale: locale(params) }).then(wrapSignUp);
        },
        get: function (id) { return request("GET", "/sign_ups/" + encodeURIComponent(id)).then(wrapSignUp); }
      },
      emailAddress: {
        create: function (params) {
          params = params || {};
          return request("POST", "/me/email_addresses", { email_address: emailParam(params), locale: locale(params) }).then(wrapEmailAddress);
        },
        get: function (id) { return request("GET", "/me/email_addresses/" + encodeURIComponent(id)).then(wrapEmailAddress); }
      },
      user: function () { return request("GET", "/me").then(wrapUser); },
      session: function () { return request("GET", "/session").then(wrapSession); },
      withReverification: withReverification,
      signOut: function () { return request("DELETE", "/session"); },

      // On the page a link lands on: read magiclink_status and act on it, as clerk-js's
      // handleMagicLinkVerification does:
      //   verified, this browser signed in (the flow completed here)
      //        -> go to redirectUrlComplete, if given; resolves {status: "complete", createdSessionId}
      //   verified, no session here (the flow completed on another device, or nothing
      //   more happens here) -> onVerifiedOnOtherDevice() if given; resolves
      //        {status: "verified_on_other_device"} without navigating
      //   expired / failed / client_mismatch -> rejects with a MagicLinkError of that code
      //        (isMagicLinkError(err), err.code === MagicLinkErrorCode.Expired, …)
      // redirectUrl is where a flow verified here that needs a further step here would go;
      // none of magiclink's flows needs one (a sign-up completes when its address is
      // verified), so it is accepted and not used.
      handleMagicLinkVerification: function (params) {
        params = params || {};
        var q = new URLSearchParams(location.search);
        var status = q.get("magiclink_status");
        var session = q.get("magiclink_created_session");
        return new Promise(function (resolve, reject) {
          if (status === "verified") {
            if (session) {
              if (params.redirectUrlComplete) location.assign(params.redirectUrlComplete);
              resolve({ status: "complete", createdSessionId: session });
            } else {
              if (params.onVerifiedOnOtherDevice) params.onVerifiedOnOtherDevice();
              resolve({ status: "verified_on_other_device" });
            }
            return;
          }
          var messages = {
            expired: "This link has expired. Ask for a new one.",
            failed: "This link is not valid any more: it was already used, or a newer link replaced it.",
            client_mismatch: "Open this link on the device and browser where you asked for it, or type the code from the email there."
          };
          var code = status || "missing_status";
          reject(new MagicLinkError(code, messages[code] || "No magic link status on this page."));
        });
      }
    };
    api.handleEmailLinkVerification = api.handleMagicLinkVerification;
    return api;
  }

  var instance = create();
  instance.create = create;
  global.magiclink = instance;
})(window);
