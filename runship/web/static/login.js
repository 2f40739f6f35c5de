// Sign-in with the URL that `runship ui` prints: http://127.0.0.1:PORT/ui/signin#token=...
// The fragment is never sent to the server (no log, no proxy, no Referer sees
// it). This script takes it out of the address bar and the session history at
// once (history.replaceState), posts it once in a request body to /ui/login,
// which answers with the HttpOnly cookie, and then loads the app with
// location.replace (no new history entry).
(function () {
  'use strict';
  const found = /^#token=([^&]*)/.exec(location.hash);
  if (!found) return;
  history.replaceState(null, '', location.pathname + location.search);
  let token = '';
  try { token = decodeURIComponent(found[1]); } catch (e) { token = ''; }

  /** @param {string} text */
  function say(text) {
    const where = document.getElementById('signin-status');
    if (!where) return;
    where.textContent = text;
    where.hidden = false;
  }

  fetch('/ui/login', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }).toString(),
  }).then((resp) => {
    if (resp.ok) location.replace('/');
    else say('The token in the URL was not accepted (' + resp.status + '): open the URL runship ui printed, or sign in below.');
  }, (e) => say('Cannot reach runship ui: ' + (e && e.message ? e.message : e)));
})();
