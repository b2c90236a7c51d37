// Command caddy is Caddy with the maintenance module, built as xcaddy
// would: go build github.com/gomaint/maintenance/caddy/cmd/caddy.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"
	_ "github.com/gomaint/maintenance/caddy"
)

func main() { caddycmd.Main() }
