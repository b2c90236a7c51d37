package admin

// APIRoutes returns the routes of the API as "METHOD /path", the path
// relative to APIPrefix as the OpenAPI document writes it, and whether
// each needs a token.
func APIRoutes() map[string]bool {
	m := map[string]bool{}
	for _, rt := range routes {
		if rt.kind == kindJSON {
			m[rt.method+" /"+rt.path] = !rt.public
		}
	}
	return m
}
