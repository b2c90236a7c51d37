package kubernetes

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// decode reads every YAML file of this directory and decodes each of its
// documents strictly.
func decode(t *testing.T) map[string][]runtime.Object {
	t.Helper()
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, networkingv1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	dec := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	out := map[string][]runtime.Object{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range bytes.Split(b, []byte("\n---\n")) {
			if len(bytes.TrimSpace(doc)) == 0 {
				continue
			}
			obj, _, err := dec.Decode(doc, nil, nil)
			if err != nil {
				t.Errorf("%s, document %d: %v", f, i+1, err)
				continue
			}
			out[f] = append(out[f], obj)
		}
	}
	return out
}

func TestManifestsDecodeStrictly(t *testing.T) {
	for f, objs := range decode(t) {
		if len(objs) == 0 {
			t.Errorf("%s: no objects", f)
		}
	}
}

// TestManifestsFit checks what the API server would not: that each
// Service selects a Deployment's pods on a port they have, that probes
// and references name things that exist, and that the maintenance
// containers are hardened.
func TestManifestsFit(t *testing.T) {
	for f, objs := range decode(t) {
		t.Run(f, func(t *testing.T) {
			var deps []*appsv1.Deployment
			var svcs []*corev1.Service
			names := map[string]bool{} // "Kind/name"
			for _, o := range objs {
				switch v := o.(type) {
				case *appsv1.Deployment:
					deps = append(deps, v)
				case *corev1.Service:
					svcs = append(svcs, v)
				}
				m, err := meta.Accessor(o)
				if err != nil {
					t.Fatal(err)
				}
				names[o.GetObjectKind().GroupVersionKind().Kind+"/"+m.GetName()] = true
			}
			if len(deps) == 0 {
				t.Fatal("no Deployment")
			}
			for _, d := range deps {
				checkDeployment(t, d, names)
			}
			for _, s := range svcs {
				checkService(t, s, deps)
			}
			for _, o := range objs {
				if ing, ok := o.(*networkingv1.Ingress); ok {
					checkIngress(t, ing, svcs)
				}
			}
		})
	}
}

func checkDeployment(t *testing.T, d *appsv1.Deployment, names map[string]bool) {
	t.Helper()
	sel := d.Spec.Selector.MatchLabels
	for k, v := range sel {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("Deployment %s: selector %s=%s does not match its pods' labels", d.Name, k, v)
		}
	}
	found := false
	for _, c := range d.Spec.Template.Spec.Containers {
		ports := map[string]bool{}
		for _, p := range c.Ports {
			ports[p.Name] = true
		}
		for _, probe := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
			if probe != nil && probe.HTTPGet != nil && probe.HTTPGet.Port.Type == intstr.String && !ports[probe.HTTPGet.Port.StrVal] {
				t.Errorf("Deployment %s, container %s: a probe names port %q, which it does not have", d.Name, c.Name, probe.HTTPGet.Port.StrVal)
			}
		}
		for _, ef := range c.EnvFrom {
			if ef.SecretRef != nil && !names["Secret/"+ef.SecretRef.Name] {
				t.Errorf("Deployment %s: container %s reads Secret %s, which is not in the file", d.Name, c.Name, ef.SecretRef.Name)
			}
		}
		if !strings.Contains(c.Image, "maintenance") {
			continue
		}
		found = true
		sc := c.SecurityContext
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			t.Errorf("Deployment %s, container %s: not hardened (no privilege escalation, read-only root, all capabilities dropped)", d.Name, c.Name)
		}
		if ps := d.Spec.Template.Spec.SecurityContext; ps == nil || ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot {
			t.Errorf("Deployment %s: pods may run as root", d.Name)
		}
		if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/_maintenance/health" {
			t.Errorf("Deployment %s, container %s: the readiness probe must be /_maintenance/health, which answers 200 whatever the state", d.Name, c.Name)
		}
		if len(c.Args) == 0 {
			t.Errorf("Deployment %s, container %s: no command", d.Name, c.Name)
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.ConfigMap != nil && !names["ConfigMap/"+v.ConfigMap.Name] {
				t.Errorf("Deployment %s: volume %s names ConfigMap %s, which is not in the file", d.Name, v.Name, v.ConfigMap.Name)
			}
		}
	}
	if !found {
		t.Errorf("Deployment %s: no maintenance container", d.Name)
	}
}

func checkService(t *testing.T, s *corev1.Service, deps []*appsv1.Deployment) {
	t.Helper()
	for _, d := range deps {
		match := len(s.Spec.Selector) > 0
		for k, v := range s.Spec.Selector {
			if d.Spec.Template.Labels[k] != v {
				match = false
			}
		}
		if !match {
			continue
		}
		for _, sp := range s.Spec.Ports {
			ok := false
			for _, c := range d.Spec.Template.Spec.Containers {
				for _, p := range c.Ports {
					if (sp.TargetPort.Type == intstr.String && p.Name == sp.TargetPort.StrVal) ||
						(sp.TargetPort.Type == intstr.Int && p.ContainerPort == sp.TargetPort.IntVal) {
						ok = true
					}
				}
			}
			if !ok {
				t.Errorf("Service %s: port %s targets %s, which the pods of %s do not have", s.Name, sp.Name, sp.TargetPort.String(), d.Name)
			}
		}
		return
	}
	t.Errorf("Service %s selects no Deployment's pods", s.Name)
}

func checkIngress(t *testing.T, ing *networkingv1.Ingress, svcs []*corev1.Service) {
	t.Helper()
	for _, r := range ing.Spec.Rules {
		if r.HTTP == nil {
			continue
		}
		for _, p := range r.HTTP.Paths {
			if p.Backend.Service == nil {
				continue
			}
			ok := false
			for _, s := range svcs {
				if s.Name == p.Backend.Service.Name {
					ok = true
				}
			}
			if !ok && !strings.HasPrefix(p.Backend.Service.Name, "your-") {
				t.Errorf("Ingress %s: backend Service %s is not in the file", ing.Name, p.Backend.Service.Name)
			}
		}
	}
}
