// Package admin serves the admin page and the JSON API of maintenance, over
// the same store as the gates.
//
//	gate, err := maintenance.New(ctx, store, maintenance.Options{Reserved: admin.Paths()})
//	a, err := admin.New(store, admin.Options{Gate: gate})
//	mux.Handle(admin.APIPrefix, a.Handler())
//	mux.Handle(admin.PagePrefix, a.Handler())
//	http.ListenAndServe(addr, gate.Handler(mux))
//
// The JSON API under /_maintenance/api/v1/ does what the CLI does: sites,
// switching on and off (message, reason, mode, status, Retry-After,
// redirect, window), ignore patterns and allow entries with notes,
// scheduled windows, bypass links, the audit log and the fleet's target
// release. It is described by an OpenAPI 3.1 document served at
// /_maintenance/api/v1/openapi.json. Requests carry an API token
// (`maintenance token create`) as "Authorization: Bearer TOKEN"; it is
// compared by its SHA-256, in constant time. Every answer that shows state
// has an ETag, the state version; a write with If-Match applies only while
// the state is still at that version, and otherwise gets 412 and changes
// nothing. Errors are application/problem+json (RFC 9457); invalid input
// is 422 with the name of the field.
//
// The admin page under /_maintenance/admin/ is server-rendered and works
// without JavaScript: sign-in with the users of `maintenance user add`, the
// sites with a switch each, a page per site (message, mode, window, ignored
// paths, allowed addresses, scheduled windows, a preview of the maintenance
// page), bypass links and the audit log. Sessions are signed with the
// store's server key, in a cookie the gates read too, so that signed-in
// staff pass the gated sites. Failed sign-ins are throttled per client
// address and per user name.
//
// Every write is a POST, PUT or DELETE, refused when it comes from another
// origin (http.CrossOriginProtection); every change goes through
// Store.Update with the user or token as actor and "admin" or "api" as
// source, so the audit log says who did what from where.
package admin
