import { randomBytes } from 'node:crypto'

/** A rendered page and the headers that must travel with it. */
export interface Page {
  html: string
  headers: Record<string, string>
}

export interface LoginView {
  rd: string
  username?: string
  /** Shown above the form; never says whether the user exists. */
  error?: string
  /** The host the browser returns to, named so the user knows where they are signing in. */
  destination?: string
}

/** Origins a form on the page may post to, and be redirected to after posting. */
export interface FormTargets {
  formAction: string
  redirectOrigins: readonly string[]
}

const STYLE = `
:root { color-scheme: light dark; --fg: #1b1f24; --muted: #4d5562; --bg: #f3f4f6; --card: #fff;
  --line: #c9ced6; --accent: #0b57d0; --accent-fg: #fff; --error-bg: #fdecea; --error: #8a1c12; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e8eaed; --muted: #b4bac4; --bg: #111418; --card: #1b1f24; --line: #4a515c;
    --accent: #8ab4f8; --accent-fg: #0b1a33; --error-bg: #3b1410; --error: #f6b3ab; } }
* { box-sizing: border-box; }
body { margin: 0; min-height: 100vh; display: grid; place-items: center; background: var(--bg);
  color: var(--fg); font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { width: min(24rem, calc(100vw - 2rem)); background: var(--card); border-radius: 12px;
  padding: 2rem; box-shadow: 0 1px 3px rgb(0 0 0 / 0.12), 0 8px 24px rgb(0 0 0 / 0.08); }
.brand { display: flex; align-items: center; gap: .5rem; font-weight: 600; color: var(--muted);
  font-size: .875rem; letter-spacing: .02em; margin: 0 0 1.25rem; }
.brand svg { width: 1.25rem; height: 1.25rem; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; }
p.lead { margin: 0 0 1.5rem; color: var(--muted); overflow-wrap: anywhere; }
label { display: block; font-weight: 600; margin: 1rem 0 .375rem; }
input { width: 100%; padding: .625rem .75rem; font: inherit; color: inherit;
  background: transparent; border: 1px solid var(--line); border-radius: 8px; }
input:focus-visible, button:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
button { width: 100%; margin-top: 1.5rem; padding: .75rem; font: inherit; font-weight: 600;
  color: var(--accent-fg); background: var(--accent); border: 0; border-radius: 8px;
  cursor: pointer; }
.error { background: var(--error-bg); color: var(--error); border-radius: 8px;
  padding: .75rem 1rem; margin: 0 0 1rem; }
`

const LOGO =
  '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path fill="currentColor" ' +
  'd="M12 2 4 5v6c0 5 3.4 9.7 8 11 4.6-1.3 8-6 8-11V5l-8-3Zm0 5a3 3 0 0 1 1 5.8V16h-2v-3.2A3 3 ' +
  '0 0 1 12 7Z"/></svg>'

/** Escapes text for HTML element content and double-quoted attributes. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** The sign-in page: a plain form that works without JavaScript. */
export function loginPage(view: LoginView, targets: FormTargets): Page {
  const error = view.error
    ? `<p class="error" id="error" role="alert">${escapeHtml(view.error)}</p>`
    : ''
  const described = view.error ? ' aria-describedby="error" aria-invalid="true"' : ''
  const lead = view.destination
    ? `to continue to ${escapeHtml(view.destination)}`
    : 'with your jwtgate account'
  return page(
    'Sign in',
    targets,
    `
<h1>Sign in</h1>
<p class="lead">${lead}</p>
${error}
<form method="post" action="${escapeHtml(targets.formAction)}">
  <input type="hidden" name="rd" value="${escapeHtml(view.rd)}">
  <label for="username">Username</label>
  <input id="username" name="username" autocomplete="username" autocapitalize="none"
    spellcheck="false" required autofocus value="${escapeHtml(view.username ?? '')}"${described}>
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password"
    required${described}>
  <button type="submit">Sign in</button>
</form>`,
  )
}

/** The sign-out confirmation behind `GET /logout`, so a link alone cannot sign anyone out. */
export function logoutPage(targets: FormTargets, destination: string | undefined): Page {
  const from = destination ? ` of ${escapeHtml(destination)}` : ''
  return page(
    'Sign out',
    targets,
    `
<h1>Sign out${from}?</h1>
<p class="lead">Your session ends on every tab and device that shares it.</p>
<form method="post" action="${escapeHtml(targets.formAction)}">
  <button type="submit">Sign out</button>
</form>`,
  )
}

/**
 * Wraps a body in the shared layout. The Content-Security-Policy allows nothing but this
 * response's own inline style (by nonce) and form posts to the gate and the redirect origins;
 * Chromium checks `form-action` against the redirect after a post too, so those are listed.
 */
function page(title: string, targets: FormTargets, body: string): Page {
  const nonce = randomBytes(16).toString('base64')
  const formOrigins = ["'self'", ...new Set(targets.redirectOrigins)].join(' ')
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title} · jwtgate</title>
<style nonce="${nonce}">${STYLE}</style>
</head>
<body>
<main>
<p class="brand">${LOGO} jwtgate</p>
${body}
</main>
</body>
</html>
`
  return {
    html,
    headers: {
      'Content-Type': 'text/html; charset=utf-8',
      'Cache-Control': 'no-store',
      'Content-Security-Policy':
        `default-src 'none'; style-src 'nonce-${nonce}'; img-src 'self' data:; ` +
        `form-action ${formOrigins}; frame-ancestors 'none'; base-uri 'none'`,
      'X-Frame-Options': 'DENY',
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
    },
  }
}
