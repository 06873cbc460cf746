// Staff sign-in for the kitchen display and the analytics page.
//
// staffFetch(path, init) is fetch() with "Authorization: Bearer <token>". The token is asked for
// once, in a small dialog, the first time the server answers 401, and kept in sessionStorage:
// for this tab until it is closed, never in a cookie or the URL. A wrong token is asked for
// again; a 429 (too many wrong tries) says how long to wait.
//
// The token: MCBURGER_STAFF_TOKEN, or the file `staff-token` that `mcburger run` writes in its
// data directory at first start (its log says where).

const KEY = "mcburger.staffToken";

let asking = null; // the open dialog's promise: every request waiting on a token shares it

export function staffToken() {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

function keep(token) {
  try {
    sessionStorage.setItem(KEY, token);
  } catch { /* storage off: asked again on the next page load */ }
}

export function forgetStaffToken() {
  try {
    sessionStorage.removeItem(KEY);
  } catch { /* nothing kept */ }
}

function withToken(init, token) {
  const headers = new Headers(init?.headers ?? {});
  if (token) headers.set("Authorization", `Bearer ${token}`);
  return { ...init, headers };
}

/** fetch() with a time limit of its own: aborted (an AbortError) after `timeoutMs`. */
async function fetchWithin(path, init, timeoutMs) {
  if (!timeoutMs) return fetch(path, init);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    return await fetch(path, { ...init, signal: controller.signal });
  } finally {
    clearTimeout(timer);
  }
}

/** fetch() as staff: asks for the token when the server says 401, then tries once more.
 *
 * `timeoutMs` (optional) limits each request to the server, not the time the sign-in dialog
 * is open: a limit around the whole call aborted the first request of every sign-in that took
 * longer to type than the limit (the kitchen's 4 s), and the page said "timed out".
 *
 * A page sends several requests at once, so a 401 can come back for a token that another
 * request has already replaced (the right one typed while this one was on its way with the
 * wrong one): then this request tries the newer token rather than forgetting it and asking
 * again. Only a 401 for the token still kept means that token is wrong. */
export async function staffFetch(path, init = {}, timeoutMs = 0) {
  let sent = staffToken();
  let response = await fetchWithin(path, withToken(init, sent), timeoutMs);
  while (response.status === 401) {
    const kept = staffToken();
    if (kept === null || kept === sent) {
      forgetStaffToken();
      const token = await askForToken(sent !== null ? "That token was not accepted. Try again." : "");
      keep(token);
      sent = token;
    } else {
      sent = kept;
    }
    response = await fetchWithin(path, withToken(init, sent), timeoutMs);
  }
  return response;
}

function askForToken(problem) {
  if (asking) return asking;
  asking = new Promise((resolve) => {
    const dialog = document.createElement("dialog");
    dialog.id = "staff-sign-in";
    dialog.innerHTML = `
      <form method="dialog">
        <h2>Staff sign-in</h2>
        <p>This screen is for staff. Enter the staff token: the value of MCBURGER_STAFF_TOKEN,
           or the file <code>staff-token</code> in the restaurant's data directory.</p>
        <p class="problem" role="alert"></p>
        <label>Staff token <input name="token" type="password" autocomplete="current-password"
               required minlength="16" maxlength="256"></label>
        <button type="submit">Sign in</button>
      </form>`;
    dialog.querySelector(".problem").textContent = problem;
    const input = dialog.querySelector("input");
    dialog.addEventListener("cancel", (event) => event.preventDefault()); // no way around it
    dialog.querySelector("form").addEventListener("submit", (event) => {
      // Handled here: the browser's own "dialog" submission would run after the dialog is
      // removed ("Form submission canceled because the form is not connected")
      event.preventDefault();
      const token = input.value.trim();
      if (token.length < 16) {
        dialog.querySelector(".problem").textContent = "A staff token has at least 16 characters.";
        return;
      }
      dialog.close();
      dialog.remove();
      asking = null;
      resolve(token);
    });
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
  });
  return asking;
}
