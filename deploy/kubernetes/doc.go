// Package kubernetes holds the Kubernetes manifests of maintenance (the
// YAML files beside this one) and, in its tests, their checks: every
// document decodes strictly into the Kubernetes API types (an unknown or
// duplicate field is an error, as with kubectl apply --validate=strict),
// and the pieces fit together (selectors, ports, probes, references,
// hardening). It is a module of its own so that the main module does not
// depend on the Kubernetes API packages.
package kubernetes
