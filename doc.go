// Package maintenance puts web sites into maintenance mode.
//
// A switch kept in a shared Store (SQLite, a JSON file, and more in
// subpackages) takes one site or a whole fleet down or up at once. The Gate is
// net/http middleware that decides every request from an immutable in-memory
// snapshot of that state: no store I/O, no regexp compilation and no
// allocation per request. The snapshot is swapped atomically when the store
// says something changed.
//
// The decision, in order (the first rule that fires wins):
//
//  0. a route wrapped with ForceOff passes; one wrapped with Gate.ForceOn gets the maintenance answer
//  1. the request's site (exact host, then the longest wildcard, then "*") is off: pass
//  2. the site is in read-only mode and the method is GET, HEAD or OPTIONS, or in
//     errors mode (server errors become the maintenance answer): pass
//  3. the path is exempt (/_maintenance/, Options.Exempt, the site's and "*"'s
//     ignore patterns, the redirect target's own path): pass
//  4. the client IP is in the site's or "*"'s allow entries: pass
//  6. the Options.Bypass hook says yes: pass
//  7. otherwise: the maintenance answer (status, Retry-After, HTML, problem+json or text);
//     in hold mode the request first waits for the site to go off (ModeHold)
//
// Options.Observer is told the site and Outcome of every request (the
// metrics subpackage counts them). Every gate also answers HealthPath, for
// load balancers, and StatusPath, for banners and the page's reload.
package maintenance
