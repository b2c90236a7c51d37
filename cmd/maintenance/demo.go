package main

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
)

// The demo app is a small shop served on a loopback port, so that
// `maintenance serve --demo` shows the whole loop with no other program.

var demoPage = template.Must(template.New("demo").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · Demo Coffee Co.</title>
<style>
body{font:1rem/1.5 system-ui,sans-serif;margin:0;background:#fbf8f4;color:#2b211a}
header{background:#3b2a20;color:#fff;padding:1rem 2rem}header a{color:#fff;margin-right:1.25rem;text-decoration:none}
main{max-width:44rem;margin:2rem auto;padding:0 1.5rem}code{background:#efe6dc;padding:.1rem .35rem;border-radius:4px}
.tip{border-left:4px solid #c07a3f;background:#fff;padding:.75rem 1rem;margin-top:2rem}
</style></head><body>
<header><strong>Demo Coffee Co.</strong> &nbsp; <a href="/">Home</a><a href="/menu">Menu</a><a href="/api/orders">API</a><a href="/health">Health</a></header>
<main><h1>{{.Title}}</h1>{{.Body}}
<div class="tip"><p>This is the built-in demo app behind <code>maintenance serve --demo</code>.
In another terminal, run <code>maintenance on --message "Back in 5 minutes"</code> and reload this page;
then <code>maintenance ignore add /menu</code>, <code>maintenance allow add 127.0.0.1</code> and
<code>maintenance off</code>. <code>maintenance status</code> and <code>maintenance log</code> show what happened.</p></div>
</main></body></html>`))

func demoHandler() http.Handler {
	mux := http.NewServeMux()
	page := func(title string, body template.HTML) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			demoPage.Execute(w, struct {
				Title string
				Body  template.HTML
			}{title, body})
		}
	}
	mux.HandleFunc("GET /{$}", page("Fresh coffee, every morning", `<p>Welcome to the demo shop. Browse the <a href="/menu">menu</a>.</p>`))
	mux.HandleFunc("GET /menu", page("Menu", `<ul><li>Espresso: 2.20</li><li>Flat white: 3.40</li><li>Filter coffee: 2.80</li></ul>`))
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintln(w, `{"status":"ok"}`)
	})
	mux.HandleFunc("/api/orders", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"orders": []map[string]any{{"id": 1, "item": "espresso"}}, "method": r.Method})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		page("Not found", `<p>There is no such page in the demo shop.</p>`)(w, r)
	})
	return mux
}
